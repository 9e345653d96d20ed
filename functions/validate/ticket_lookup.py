"""One ticket for its owner or the door staff (plain SQL through pg8000: the validate functions load no SQLAlchemy)."""

from __future__ import annotations

import uuid

from validate_schemas import TicketEvent, TicketResponse

from crowdify.auth import STAFF_ROLES, Caller
from crowdify.errors import NotFound
from crowdify.pg_connection import Connection
from crowdify.timezones import shown_in_zone

_TICKET = """
    SELECT tickets.id, tickets.order_id, tickets.order_item_id, tickets.event_id, tickets.ticket_type_id,
           ticket_types.name AS ticket_type, tickets.holder_first_name, tickets.holder_last_name,
           tickets.holder_document_type, tickets.holder_document_number, tickets.is_child, tickets.qr_signature,
           tickets.pdf_object_key, tickets.status, tickets.issued_at, tickets.validated_at, tickets.used_at,
           tickets.created_at, tickets.updated_at, orders.user_id AS owner_id,
           events.name AS event_name, events.starts_at AS event_starts_at,
           events.location_text AS event_location_text, events.timezone AS event_timezone
    FROM tickets
    JOIN orders ON orders.id = tickets.order_id
    JOIN events ON events.id = tickets.event_id
    LEFT JOIN ticket_types ON ticket_types.id = tickets.ticket_type_id
    WHERE tickets.id = :ticket_id
"""


def ticket_for(connection: Connection, caller: Caller, ticket_id: uuid.UUID) -> TicketResponse:
    """The ticket, if the caller owns it (placed its order), is door staff, or is a device of its event; else 404."""
    row = connection.first(_TICKET, {"ticket_id": ticket_id})
    # Someone else's ticket is "not found" too: its existence is not leaked.
    if row is None or not _may_read(caller, row.owner_id, row.event_id):
        raise NotFound("Ticket not found")
    return TicketResponse(
        id=row.id,
        order_id=row.order_id,
        order_item_id=row.order_item_id,
        event_id=row.event_id,
        ticket_type_id=row.ticket_type_id,
        ticket_type=row.ticket_type,
        holder_first_name=row.holder_first_name,
        holder_last_name=row.holder_last_name,
        holder_document_type=row.holder_document_type,
        holder_document_number=row.holder_document_number,
        is_child=row.is_child,
        qr_signature=row.qr_signature,
        pdf_object_key=row.pdf_object_key,
        status=row.status,
        issued_at=row.issued_at,
        validated_at=row.validated_at,
        used_at=row.used_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        event=TicketEvent(
            id=row.event_id,
            name=row.event_name,
            starts_at=shown_in_zone(row.event_starts_at, row.event_timezone),
            location_text=row.event_location_text,
        ),
    )


def _may_read(caller: Caller, owner_id: uuid.UUID, event_id: uuid.UUID) -> bool:
    if caller.is_device:
        return caller.may_scan_event(event_id)
    return caller.id == owner_id or caller.has_role(*STAFF_ROLES)
