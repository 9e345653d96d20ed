"""Request and response models of scanner devices (POST/GET /api/v1/admin/scanner-devices, DELETE …/{device_id})."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

# A device token lives at most this long: long enough for a multi-day festival, short enough that a lost phone
# stops working by itself. Revocation is immediate either way.
MAX_DEVICE_TTL_SECONDS = 30 * 24 * 3600
DEFAULT_DEVICE_TTL_SECONDS = 24 * 3600
MIN_DEVICE_TTL_SECONDS = 60
MAX_EVENTS_PER_DEVICE = 50


class ScannerDeviceCreate(BaseModel):
    """A device scoped to events; it expires at `expires_at`, or `ttl_seconds` from now (default 24 h)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    event_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_EVENTS_PER_DEVICE)
    expires_at: datetime | None = None
    ttl_seconds: int | None = Field(default=None, ge=MIN_DEVICE_TTL_SECONDS, le=MAX_DEVICE_TTL_SECONDS)

    @field_validator("event_ids")
    @classmethod
    def _distinct(cls, event_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(event_ids))

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a UTC offset (e.g. 2027-05-01T23:00:00-04:00)")
        return value

    @model_validator(mode="after")
    def _one_expiry(self) -> ScannerDeviceCreate:
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise ValueError("give expires_at or ttl_seconds, not both")
        return self


class ScannerDeviceResponse(BaseModel):
    id: uuid.UUID
    name: str
    event_ids: list[uuid.UUID]
    status: Literal["active", "revoked", "expired"]
    created_by: uuid.UUID | None = None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class CreatedScannerDevice(ScannerDeviceResponse):
    # Shown once, never stored: a lost token means revoking the device and issuing a new one.
    token: str
    # The door app's address with the token in its fragment: opened on the phone (or read from a QR code), it pairs.
    pairing_link: str


class ScannerDeviceList(BaseModel):
    devices: list[ScannerDeviceResponse]
