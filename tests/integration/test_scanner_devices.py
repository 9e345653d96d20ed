"""Scanner devices: coordinators and admins issue them for existing events, list them, and revoke them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sqlalchemy import text

from crowdify.config.settings import get_settings, reset_settings
from crowdify.persistence.database import engine
from tests.support.api_gateway import HttpResponse, call
from tests.support.identities import Identity, create_identity
from tests.support.tickets import create_event

DEVICES = "/api/v1/admin/scanner-devices"
DEVICE = "/api/v1/admin/scanner-devices/{device_id}"


def create(token: str | None, body: dict) -> HttpResponse:
    return call("post_admin_scanner_devices", "POST", DEVICES, body=body, token=token)


def listing(token: str | None, **query: str) -> HttpResponse:
    return call("get_admin_scanner_devices", "GET", DEVICES, token=token, query=query or None)


def revoke(token: str | None, device_id: uuid.UUID | str) -> HttpResponse:
    return call("delete_admin_scanner_device", "DELETE", DEVICE, {"device_id": str(device_id)}, token=token)


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_manager_issues_a_device_token_scoped_to_events(db: str, role: str) -> None:
    manager = create_identity(role)
    first, _ = create_event("Día 1")
    second, _ = create_event("Día 2")
    response = create(manager.token, {"name": "Puerta norte", "event_ids": [str(first), str(second), str(first)]})
    assert response.status == 201
    assert response.headers.get("cache-control") == "no-store"
    device = response.json()
    assert device["name"] == "Puerta norte"
    assert device["event_ids"] == [str(first), str(second)]
    assert device["status"] == "active"
    assert device["created_by"] == str(manager.user_id)
    expires_at = datetime.fromisoformat(device["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=24)

    claims = jwt.decode(device["token"], get_settings().jwt_secret, algorithms=["HS256"], audience="crowdify")
    assert claims["typ"] == "device"
    assert claims["sub"] == device["id"]
    assert claims["events"] == [str(first), str(second)]
    assert abs(claims["exp"] - expires_at.timestamp()) <= 1
    # The pairing link opens the door app with the token (and the name) in the fragment, never in the query.
    link = urlsplit(device["pairing_link"])
    assert (link.scheme, link.netloc, link.path, link.query) == ("http", "127.0.0.1:3000", "/scan/", "")
    assert parse_qs(link.fragment) == {"token": [device["token"]], "name": ["Puerta norte"]}

    with engine().connect() as connection:
        stored = connection.execute(
            text("SELECT name, event_ids, revoked_at FROM scanner_devices WHERE id = :id"), {"id": device["id"]}
        ).one()
        audit = (
            connection.execute(text("SELECT action FROM audit_log WHERE entity_id = :id"), {"id": device["id"]})
            .scalars()
            .all()
        )
    assert stored.event_ids == [first, second] and stored.revoked_at is None
    assert audit == ["scanner_device.create"]
    # The token is shown once: the listing never carries it.
    listed = listing(manager.token).json()["devices"]
    assert [item["id"] for item in listed] == [device["id"]]
    assert "token" not in listed[0] and "pairing_link" not in listed[0]


def test_pairing_link_names_the_door_apps_own_address(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANNER_APP_URL", "https://door.example.com/scan/")
    reset_settings()
    try:
        event_id, _ = create_event()
        device = create(create_identity("coordinator").token, {"name": "Puerta sur", "event_ids": [str(event_id)]})
    finally:
        monkeypatch.undo()
        reset_settings()
    token = device.json()["token"]
    assert device.json()["pairing_link"] == f"https://door.example.com/scan/#token={token}&name=Puerta+sur"


def test_expiry_by_ttl_or_time_within_limits(coordinator: Identity) -> None:
    event_id, _ = create_event()
    by_ttl = create(coordinator.token, {"name": "a", "event_ids": [str(event_id)], "ttl_seconds": 3600}).json()
    assert (
        timedelta(minutes=59) < datetime.fromisoformat(by_ttl["expires_at"]) - datetime.now(UTC) <= timedelta(hours=1)
    )
    at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    by_time = create(coordinator.token, {"name": "b", "event_ids": [str(event_id)], "expires_at": at.isoformat()})
    assert by_time.status == 201
    assert datetime.fromisoformat(by_time.json()["expires_at"]) == at

    too_long = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body in [
        {"ttl_seconds": 31 * 24 * 3600},
        {"ttl_seconds": 10},
        {"expires_at": too_long},
        {"expires_at": past},
        {"expires_at": "2027-05-01T20:00:00"},  # no offset: ambiguous
        {"expires_at": at.isoformat(), "ttl_seconds": 3600},
    ]:
        response = create(coordinator.token, {"name": "x", "event_ids": [str(event_id)], **body})
        assert response.status == 422, body


def test_events_must_exist(coordinator: Identity) -> None:
    event_id, _ = create_event()
    ghost = uuid.uuid4()
    response = create(coordinator.token, {"name": "x", "event_ids": [str(event_id), str(ghost)]})
    assert response.status == 422
    assert str(ghost) in response.json()["detail"]
    assert create(coordinator.token, {"name": "x", "event_ids": []}).status == 422
    assert create(coordinator.token, {"name": "", "event_ids": [str(event_id)]}).status == 422
    with engine().connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM scanner_devices")).scalar_one() == 0


def test_only_coordinators_and_admins(db: str) -> None:
    event_id, _ = create_event()
    body = {"name": "x", "event_ids": [str(event_id)]}
    for role in ("scanner", "user"):
        token = create_identity(role).token
        assert create(token, body).status == 403
        assert listing(token).status == 403
        assert revoke(token, uuid.uuid4()).status == 403
    assert create(None, body).status == 401
    # A device cannot issue devices either.
    device_token = create(create_identity("admin").token, body).json()["token"]
    assert create(device_token, body).status == 403
    assert listing(device_token).status == 403


def test_revoke_lists_and_is_idempotent(coordinator: Identity, admin: Identity) -> None:
    north_event, _ = create_event()
    south_event, _ = create_event()
    north = create(coordinator.token, {"name": "norte", "event_ids": [str(north_event)]}).json()
    south = create(coordinator.token, {"name": "sur", "event_ids": [str(south_event)]}).json()

    revoked = revoke(admin.token, north["id"])
    assert revoked.status == 200
    assert revoked.json()["status"] == "revoked"
    first_revoked_at = revoked.json()["revoked_at"]
    again = revoke(coordinator.token, north["id"])
    assert again.status == 200 and again.json()["revoked_at"] == first_revoked_at
    assert revoke(coordinator.token, uuid.uuid4()).status == 404
    assert revoke(coordinator.token, "nope").status == 404

    everything = {item["id"]: item["status"] for item in listing(coordinator.token).json()["devices"]}
    assert everything == {north["id"]: "revoked", south["id"]: "active"}
    active = listing(coordinator.token, include_inactive="false").json()["devices"]
    assert [item["id"] for item in active] == [south["id"]]
    of_north = listing(coordinator.token, event_id=str(north_event)).json()["devices"]
    assert [item["id"] for item in of_north] == [north["id"]]
