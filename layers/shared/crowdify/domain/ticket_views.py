"""A ticket as the web client reads it (docs/architecture.md, "The old web client's routes"): the buyer's list and the
door's lookup return the same fields, read by the same columns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from crowdify.core.timezones import shown_in_zone

# The select list both queries use, over `tickets t`, `events e` and `LEFT JOIN ticket_types tt`.
TICKET_VIEW_COLUMNS = """
    t.id, t.order_id, t.order_item_id, t.event_id, t.ticket_type_id, tt.name AS ticket_type,
    t.holder_first_name, t.holder_last_name, t.holder_document_type, t.holder_document_number, t.is_child,
    t.qr_signature, t.pdf_object_key, t.status, t.issued_at, t.validated_at, t.used_at, t.created_at, t.updated_at,
    e.name AS event_name, e.starts_at AS event_starts_at, e.location_text AS event_location_text,
    e.timezone AS event_timezone
"""


class TicketEvent(BaseModel):
    id: uuid.UUID
    name: str
    starts_at: datetime
    location_text: str | None = None


class TicketResponse(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    order_item_id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    ticket_type: str | None = None
    holder_first_name: str
    holder_last_name: str
    holder_document_type: str | None = None
    holder_document_number: str | None = None
    is_child: bool
    qr_signature: str
    pdf_object_key: str | None = None
    status: str
    issued_at: datetime
    validated_at: datetime | None = None
    used_at: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    event: TicketEvent


def ticket_response(row: Any) -> TicketResponse:
    """A row selected with TICKET_VIEW_COLUMNS, the event's start shown in its own time zone."""
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
