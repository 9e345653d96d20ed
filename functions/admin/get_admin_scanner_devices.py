"""GET /api/v1/admin/scanner-devices — the scanner devices (optionally of one event, optionally only active ones)."""

import uuid
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from scanner_device_schemas import ScannerDeviceList
from scanner_devices import device_response, list_devices

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/scanner-devices")
def get_scanner_devices(
    event_id: Annotated[uuid.UUID | None, Query()] = None,
    include_inactive: Annotated[bool, Query()] = True,
) -> ScannerDeviceList:
    with db_session() as session:
        return ScannerDeviceList(
            devices=[device_response(device) for device in list_devices(session, event_id, include_inactive)]
        )


lambda_handler = lambda_handler_for(app)
