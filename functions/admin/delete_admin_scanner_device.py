"""DELETE /api/v1/admin/scanner-devices/{device_id} — revoke a device: its token is refused (401) from now on."""

from scanner_device_schemas import ScannerDeviceResponse
from scanner_devices import device_response, revoke_device

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.delete("/api/v1/admin/scanner-devices/<device_id>")
def delete_scanner_device(device_id: str) -> ScannerDeviceResponse:
    caller = caller_of(app)
    with db_session() as session:
        device = revoke_device(session, uuid_or_not_found(device_id, "Scanner device"), caller.id)
        return device_response(device)


lambda_handler = lambda_handler_for(app)
