"""GET /api/v1/admin/scanner-devices — the scanner devices (optionally of one event, optionally only active ones)."""

import uuid
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from scanner_device_schemas import ScannerDeviceList
from scanner_devices import device_response, list_devices

from crowdify.api import api_app, caller_of, lambda_handler_for
from crowdify.auth import MANAGER_ROLES
from crowdify.sessions import db_session

app = api_app()


@app.get("/api/v1/admin/scanner-devices")
def get_scanner_devices(
    event_id: Annotated[uuid.UUID | None, Query()] = None,
    include_inactive: Annotated[bool, Query()] = True,
) -> ScannerDeviceList:
    caller_of(app, *MANAGER_ROLES)
    with db_session() as session:
        return ScannerDeviceList(
            devices=[device_response(device) for device in list_devices(session, event_id, include_inactive)]
        )


lambda_handler = lambda_handler_for(app)
