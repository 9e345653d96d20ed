"""Request and response models of the door: check-in (old TicketValidation* compatible), sync, lookup, bundle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from checkin import (
    ACCEPTED,
    ALREADY_USED,
    CANCELLED,
    EVENT_CANCELLED,
    INVALID,
    INVALID_SCAN_TIME,
    NONCE_REUSED,
    WRONG_EVENT,
    Verdict,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# What the scanner app shows; the old service answered in Spanish and its client displays `message` as is.
MESSAGES = {
    ACCEPTED: "Ticket válido. Acceso permitido",
    ALREADY_USED: "Ticket ya utilizado",
    INVALID: "Ticket inválido",
    WRONG_EVENT: "El ticket no corresponde a este evento",
    CANCELLED: "Ticket cancelado",
    EVENT_CANCELLED: "Evento cancelado: el ticket no permite el acceso",
    INVALID_SCAN_TIME: "La hora del escaneo está fuera del horario del evento o es posterior a la sincronización",
    NONCE_REUSED: "Este nonce ya se usó para escanear otro ticket",
}

# A real code is 137 characters; anything longer than this is refused before it is looked at.
QrCode = Annotated[str, StringConstraints(max_length=1000)]
InspectorId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Nonce = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MAX_SYNC_SCANS = 500


def _blank_is_none(value: Any) -> Any:
    # The old client sends "" for "no event selected".
    return None if isinstance(value, str) and not value.strip() else value


class TicketValidationRequest(BaseModel):
    """The old client's body (`qr_signature`, `inspector_id`, `event_id`) plus an optional retry `nonce`."""

    model_config = ConfigDict(extra="ignore")

    qr_signature: QrCode
    # Free text, recorded in the log: who scans is taken from the token, never from the body.
    inspector_id: InspectorId | None = None
    event_id: uuid.UUID | None = None
    nonce: Nonce | None = None

    _blank_event = field_validator("event_id", "inspector_id", "nonce", mode="before")(_blank_is_none)


class TicketValidationResponse(BaseModel):
    """The old response (`valid`, `ticket_id`, `event_id`, `attendee_name`, `message`) and the richer verdict."""

    valid: bool
    ticket_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    attendee_name: str | None = None
    message: str
    status: str
    ticket_type: str | None = None
    checked_in_at: datetime | None = None
    # On `already_used`: when the ticket was first checked in, and by which device or user.
    first_checked_in_at: datetime | None = None
    first_checked_in_by: uuid.UUID | None = None

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> TicketValidationResponse:
        return cls(
            valid=verdict.valid,
            ticket_id=verdict.ticket_id,
            event_id=verdict.event_id,
            attendee_name=verdict.attendee_name,
            message=MESSAGES[verdict.status],
            status=verdict.status,
            ticket_type=verdict.ticket_type,
            checked_in_at=verdict.checked_in_at,
            first_checked_in_at=verdict.first_checked_in_at,
            first_checked_in_by=verdict.first_checked_in_by,
        )


class OfflineScan(BaseModel):
    model_config = ConfigDict(extra="ignore")

    qr_signature: QrCode
    # The device's clock when the guest was let in (naive values are read as UTC).
    scanned_at: datetime
    nonce: Nonce
    inspector_id: InspectorId | None = None

    _blank_inspector = field_validator("inspector_id", mode="before")(_blank_is_none)

    @field_validator("scanned_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # The event the device was scanning at, when it knows: another event's ticket is then `wrong_event`.
    event_id: uuid.UUID | None = None
    scans: list[OfflineScan] = Field(min_length=1, max_length=MAX_SYNC_SCANS)

    _blank_event = field_validator("event_id", mode="before")(_blank_is_none)


class ScanResult(TicketValidationResponse):
    nonce: str
    # A double entry made offline: the ticket had been used before this offline scan reached the server.
    offline_conflict: bool = False


class SyncSummary(BaseModel):
    accepted: int = 0
    already_used: int = 0
    invalid: int = 0
    wrong_event: int = 0
    cancelled: int = 0
    event_cancelled: int = 0
    invalid_scan_time: int = 0
    nonce_reused: int = 0
    offline_conflicts: int = 0


class SyncResponse(BaseModel):
    results: list[ScanResult]
    summary: SyncSummary

    @classmethod
    def from_verdicts(cls, scans: list[OfflineScan], verdicts: list[Verdict]) -> SyncResponse:
        results = []
        summary = SyncSummary()
        for scan, verdict in zip(scans, verdicts, strict=True):
            result = ScanResult(
                nonce=scan.nonce,
                offline_conflict=verdict.offline_conflict,
                **TicketValidationResponse.from_verdict(verdict).model_dump(),
            )
            results.append(result)
            setattr(summary, verdict.status, getattr(summary, verdict.status) + 1)
            summary.offline_conflicts += int(verdict.offline_conflict)
        return cls(results=results, summary=summary)


class PublicKey(BaseModel):
    kid: str
    public_key: str


class BundleEvent(BaseModel):
    id: uuid.UUID
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime | None = None
    timezone: str
    location_text: str | None = None


class BundleTicketType(BaseModel):
    id: uuid.UUID
    name: str
    is_child: bool


class BundleTicket(BaseModel):
    id: uuid.UUID
    attendee_name: str | None = None
    ticket_type_id: uuid.UUID
    status: str
    used_at: datetime | None = None


class ScannerBundle(BaseModel):
    """What a scanner needs to decide alone: verify codes with the keys, refuse the tickets listed."""

    token_prefix: str
    public_keys: list[PublicKey]
    event: BundleEvent
    ticket_types: list[BundleTicketType]
    # When a scan counts: an offline scan claiming a time outside this window is refused at sync
    # (`invalid_scan_time`). No ticket of a cancelled event (`event.status`) admits anyone.
    admission_opens_at: datetime
    admission_closes_at: datetime
    cancelled_ticket_ids: list[uuid.UUID]
    # Only with ?include_used=true: tickets already checked in when the bundle was made.
    used_ticket_ids: list[uuid.UUID] | None = None
    # Only with ?include_tickets=true: every ticket of the event with its holder's name, type, status and entry time.
    tickets: list[BundleTicket] | None = None
