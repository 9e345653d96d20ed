"""The scanner bundle: what a scanner needs to check tickets in without a network, and its ETag."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from checkin import ADMISSION_MARGIN
from validate_schemas import BundleEvent, BundleTicket, BundleTicketType, PublicKey, ScannerBundle

from crowdify.auth.qr_tokens import TOKEN_PREFIX, keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.core.errors import NotFound
from crowdify.core.json_encoding import to_json
from crowdify.core.statuses import TICKET_CANCELLED, TICKET_USED
from crowdify.core.timezones import shown_in_zone
from crowdify.persistence.pg_connection import Connection

_EVENT = "SELECT id, name, status, starts_at, ends_at, timezone, location_text FROM events WHERE id = :event_id"
_TICKET_TYPES = "SELECT id, name, is_child FROM ticket_types WHERE event_id = :event_id ORDER BY created_at, id"
# Sorted, so that the same content always hashes to the same ETag.
_TICKET_IDS_IN_STATUS = "SELECT id FROM tickets WHERE event_id = :event_id AND status = :status ORDER BY id"
# Who each ticket is for, so that a door without a network can still greet the guest and count the hall.
_TICKETS = (
    "SELECT id, NULLIF(TRIM(CONCAT_WS(' ', holder_first_name, holder_last_name)), '') AS attendee_name,"
    " ticket_type_id, status, used_at FROM tickets WHERE event_id = :event_id ORDER BY id"
)


def scanner_bundle(
    connection: Connection, event_id: uuid.UUID, include_used: bool, include_tickets: bool = False
) -> ScannerBundle:
    event = connection.first(_EVENT, {"event_id": event_id})
    if event is None:
        raise NotFound("Event not found")
    ticket_types = connection.execute(_TICKET_TYPES, {"event_id": event_id})
    cancelled = connection.scalars(_TICKET_IDS_IN_STATUS, {"event_id": event_id, "status": TICKET_CANCELLED})
    used = None
    if include_used:
        used = connection.scalars(_TICKET_IDS_IN_STATUS, {"event_id": event_id, "status": TICKET_USED})
    tickets = None
    if include_tickets:
        tickets = [
            BundleTicket(
                id=row.id,
                attendee_name=row.attendee_name,
                ticket_type_id=row.ticket_type_id,
                status=row.status,
                used_at=row.used_at,
            )
            for row in connection.execute(_TICKETS, {"event_id": event_id})
        ]
    return ScannerBundle(
        token_prefix=TOKEN_PREFIX,
        public_keys=[PublicKey(**key) for key in keyring_from_settings(get_settings()).accepted_public_keys()],
        event=BundleEvent(
            id=event.id,
            name=event.name,
            status=event.status,
            starts_at=shown_in_zone(event.starts_at, event.timezone),
            ends_at=shown_in_zone(event.ends_at, event.timezone),
            timezone=event.timezone,
            location_text=event.location_text,
        ),
        ticket_types=[BundleTicketType(id=row.id, name=row.name, is_child=row.is_child) for row in ticket_types],
        admission_opens_at=shown_in_zone(event.starts_at - ADMISSION_MARGIN, event.timezone),
        admission_closes_at=shown_in_zone((event.ends_at or event.starts_at) + ADMISSION_MARGIN, event.timezone),
        cancelled_ticket_ids=cancelled,
        used_ticket_ids=used,
        tickets=tickets,
    )


def entity_tag(content: dict[str, Any]) -> str:
    """A strong ETag: the hash of the bundle's content (as sent), so an unchanged bundle is a 304."""
    return '"' + hashlib.sha256(to_json(content).encode()).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [candidate.strip().removeprefix("W/") for candidate in if_none_match.split(",")]
    return "*" in candidates or tag in candidates
