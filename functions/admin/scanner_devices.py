"""Scanner devices: door phones with a token scoped to some events, issued and revoked by coordinators and admins.

A device's token is a backend JWT (`typ: device`) that expires with the device; revoking the device refuses the
token at once, because every request checks the device row (crowdify.auth.callers, and the check-in statement).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from scanner_device_schemas import (
    DEFAULT_DEVICE_TTL_SECONDS,
    MAX_DEVICE_TTL_SECONDS,
    MIN_DEVICE_TTL_SECONDS,
    ScannerDeviceCreate,
    ScannerDeviceResponse,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdify.auth.backend_tokens import issue_device_token
from crowdify.config.settings import get_settings
from crowdify.core.errors import InvalidRequest, NotFound
from crowdify.domain.audit import record_change
from crowdify.persistence.models import Event, ScannerDevice


@dataclass(frozen=True)
class IssuedDevice:
    device: ScannerDevice
    token: str


def device_status(device: ScannerDevice, now: datetime | None = None) -> str:
    if device.revoked_at is not None:
        return "revoked"
    if device.expires_at <= (now or datetime.now(UTC)):
        return "expired"
    return "active"


def device_response(device: ScannerDevice) -> ScannerDeviceResponse:
    return ScannerDeviceResponse(
        id=device.id,
        name=device.name,
        event_ids=device.event_ids,
        status=device_status(device),
        created_by=device.created_by,
        created_at=device.created_at,
        expires_at=device.expires_at,
        revoked_at=device.revoked_at,
    )


def _expiry(request: ScannerDeviceCreate, now: datetime) -> datetime:
    if request.expires_at is None:
        return now + timedelta(seconds=request.ttl_seconds or DEFAULT_DEVICE_TTL_SECONDS)
    lifetime = (request.expires_at - now).total_seconds()
    if lifetime < MIN_DEVICE_TTL_SECONDS:
        raise InvalidRequest("expires_at must be at least a minute from now")
    if lifetime > MAX_DEVICE_TTL_SECONDS:
        raise InvalidRequest(f"expires_at must be within {MAX_DEVICE_TTL_SECONDS // 86400} days from now")
    return request.expires_at


def create_device(session: Session, request: ScannerDeviceCreate, created_by: uuid.UUID) -> IssuedDevice:
    now = datetime.now(UTC)
    expires_at = _expiry(request, now)
    found = set(session.scalars(select(Event.id).where(Event.id.in_(request.event_ids))))
    missing = [str(event_id) for event_id in request.event_ids if event_id not in found]
    if missing:
        raise InvalidRequest(f"Unknown event ids: {', '.join(missing)}")
    device = ScannerDevice(
        id=uuid.uuid4(), name=request.name, event_ids=request.event_ids, created_by=created_by, expires_at=expires_at
    )
    session.add(device)
    session.flush()
    session.refresh(device)
    record_change(
        session,
        created_by,
        "scanner_device.create",
        "scanner_device",
        device.id,
        None,
        {"name": device.name, "event_ids": device.event_ids, "expires_at": expires_at},
    )
    # The token dies with the device; rounding up keeps it valid until the device's last second.
    ttl_seconds = max(1, int((expires_at - now).total_seconds() + 0.999))
    token = issue_device_token(
        str(device.id), [str(e) for e in device.event_ids], get_settings().jwt_secret, ttl_seconds
    )
    return IssuedDevice(device, token)


def pairing_link(token: str, device_name: str) -> str:
    """The door app's address with the token and the device's name in the fragment, which browsers never send."""
    settings = get_settings()
    app_url = settings.scanner_app_url or f"{settings.public_base_url.rstrip('/')}/scan/"
    return f"{app_url}#{urlencode({'token': token, 'name': device_name})}"


def list_devices(session: Session, event_id: uuid.UUID | None, include_inactive: bool) -> list[ScannerDevice]:
    query = select(ScannerDevice).order_by(ScannerDevice.created_at.desc(), ScannerDevice.id)
    if event_id is not None:
        query = query.where(ScannerDevice.event_ids.any(event_id))
    if not include_inactive:
        query = query.where(ScannerDevice.revoked_at.is_(None), ScannerDevice.expires_at > datetime.now(UTC))
    return list(session.scalars(query))


def revoke_device(session: Session, device_id: uuid.UUID, revoked_by: uuid.UUID) -> ScannerDevice:
    """Revoke a device (idempotent: a second revocation keeps the first time). Its token is refused from now on."""
    device = session.scalars(select(ScannerDevice).where(ScannerDevice.id == device_id).with_for_update()).first()
    if device is None:
        raise NotFound("Scanner device not found")
    if device.revoked_at is None:
        device.revoked_at = datetime.now(UTC)
        record_change(
            session,
            revoked_by,
            "scanner_device.revoke",
            "scanner_device",
            device.id,
            {"revoked_at": None},
            {"revoked_at": device.revoked_at},
        )
    return device
