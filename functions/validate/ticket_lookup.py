"""One ticket for its owner or the door staff (plain SQL through pg8000: the validate functions load no SQLAlchemy)."""

from __future__ import annotations

import uuid

from crowdify.auth.callers import STAFF_ROLES, Caller
from crowdify.core.errors import NotFound
from crowdify.domain.ticket_views import TICKET_VIEW_COLUMNS, TicketResponse, ticket_response
from crowdify.persistence.pg_connection import Connection

_TICKET = f"""
    SELECT {TICKET_VIEW_COLUMNS}, o.user_id AS owner_id
      FROM tickets t
      JOIN orders o ON o.id = t.order_id
      JOIN events e ON e.id = t.event_id
      LEFT JOIN ticket_types tt ON tt.id = t.ticket_type_id
     WHERE t.id = :ticket_id
"""  # noqa: S608 - a constant column list, no input


def ticket_for(connection: Connection, caller: Caller, ticket_id: uuid.UUID) -> TicketResponse:
    """The ticket, if the caller owns it (placed its order), is door staff, or is a device of its event; else 404."""
    row = connection.first(_TICKET, {"ticket_id": ticket_id})
    # Someone else's ticket is "not found" too: its existence is not leaked.
    if row is None or not _may_read(caller, row.owner_id, row.event_id):
        raise NotFound("Ticket not found")
    return ticket_response(row)


def _may_read(caller: Caller, owner_id: uuid.UUID, event_id: uuid.UUID) -> bool:
    if caller.is_device:
        return caller.may_scan_event(event_id)
    return caller.id == owner_id or caller.has_role(*STAFF_ROLES)
