"""POST /api/v1/admin/scanner-devices — issue a scanner device for some events; its token is shown only here."""

from aws_lambda_powertools.event_handler import Response, content_types
from scanner_device_schemas import CreatedScannerDevice, ScannerDeviceCreate
from scanner_devices import create_device, device_response, pairing_link

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.post("/api/v1/admin/scanner-devices", status_code=201)
def post_scanner_device(body: ScannerDeviceCreate) -> Response[CreatedScannerDevice]:
    caller = caller_of(app)
    with db_session() as session:
        issued = create_device(session, body, caller.id)
        created = CreatedScannerDevice(
            **device_response(issued.device).model_dump(),
            token=issued.token,
            pairing_link=pairing_link(issued.token, issued.device.name),
        )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=created.model_dump(mode="json"),
        headers={"Cache-Control": "no-store"},
    )


lambda_handler = lambda_handler_for(app)
