"""Scanner devices for door tests, issued through the admin route the way a coordinator issues them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

from crowdify.persistence.database import engine
from tests.support.api_gateway import call
from tests.support.identities import Identity

DEVICES = "/api/v1/admin/scanner-devices"


@dataclass(frozen=True)
class Device:
    id: uuid.UUID
    token: str


def issue_device(issuer: Identity, *event_ids: uuid.UUID, name: str = "Puerta 1", **expiry: object) -> Device:
    body = {"name": name, "event_ids": [str(event_id) for event_id in event_ids], **expiry}
    response = call("post_admin_scanner_devices", "POST", DEVICES, body=body, token=issuer.token)
    assert response.status == 201, response.body
    created = response.json()
    return Device(uuid.UUID(created["id"]), created["token"])


def expire_device_now(device: Device) -> None:
    """The device row expires while its token's own `exp` is still ahead: only the database knows."""
    with engine().begin() as connection:
        connection.execute(
            text("UPDATE scanner_devices SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": device.id},
        )
