"""Issued tickets for door tests: an event, a ticket type, a completed order with its attendees, and its tickets.

Built through the ORM, as the purchase flow will leave them once an order is paid; the QR codes are signed with the
settings' key, exactly as the issuing code signs them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from crowdify.auth.qr_tokens import keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.persistence.database import engine
from crowdify.persistence.models import Attendee, Order, OrderItem, Ticket, TicketType, User
from crowdify.persistence.sessions import db_session
from tests.support import orders


@dataclass(frozen=True)
class IssuedTicket:
    id: uuid.UUID
    event_id: uuid.UUID
    order_id: uuid.UUID
    owner_id: uuid.UUID
    holder_name: str
    qr_signature: str


@dataclass(frozen=True)
class EventWithTickets:
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    ticket_type_name: str
    owner_id: uuid.UUID
    order_id: uuid.UUID
    tickets: list[IssuedTicket]


def create_event(name: str = "Concierto") -> tuple[uuid.UUID, uuid.UUID]:
    """A published event starting in an hour, doors open, with one adult ticket type: (event id, ticket type id).

    Offline scans of the last hours fall inside its admission window (checkin.ADMISSION_MARGIN)."""
    event = orders.create_event(name=name, capacity=1000, starts_at=datetime.now(UTC) + timedelta(hours=1))
    return event.id, event.ticket_type_id


def issue_tickets(
    count: int = 1,
    *,
    event_id: uuid.UUID | None = None,
    ticket_type_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    status: str = "issued",
) -> EventWithTickets:
    """A completed order of `count` tickets for `owner_id` (a new user when None) at an event (new when None)."""
    if event_id is None or ticket_type_id is None:
        event_id, ticket_type_id = create_event()
    signer = keyring_from_settings(get_settings())
    with db_session() as session:
        if owner_id is None:
            owner_id = uuid.uuid4()
            session.add(User(id=owner_id, email=f"buyer-{owner_id.hex[:8]}@example.test", role="user"))
        ticket_type = session.get(TicketType, ticket_type_id)
        order = Order(
            user_id=owner_id,
            event_id=event_id,
            status="completed",
            currency="CLP",
            total=ticket_type.price * count,
            hold_expires_at=datetime.now(UTC) + timedelta(minutes=15),
            paid_at=datetime.now(UTC),
            payment_id=f"test-{uuid.uuid4().hex}",
        )
        session.add(order)
        session.flush()
        item = OrderItem(order_id=order.id, ticket_type_id=ticket_type_id, quantity=count, unit_price=ticket_type.price)
        session.add(item)
        session.flush()
        issued = []
        for position in range(count):
            first_name, last_name = f"Asistente{position}", "Pérez González"
            attendee = Attendee(
                order_id=order.id,
                order_item_id=item.id,
                position=position,
                first_name=first_name,
                last_name=last_name,
                document_type="RUT",
                document_number=f"{10_000_000 + position}-{position % 10}",
            )
            session.add(attendee)
            session.flush()
            ticket_id = uuid.uuid4()
            qr_signature = signer.sign_ticket(ticket_id, event_id)
            session.add(
                Ticket(
                    id=ticket_id,
                    order_id=order.id,
                    order_item_id=item.id,
                    attendee_id=attendee.id,
                    event_id=event_id,
                    ticket_type_id=ticket_type_id,
                    holder_first_name=first_name,
                    holder_last_name=last_name,
                    holder_document_type="RUT",
                    holder_document_number=attendee.document_number,
                    qr_signature=qr_signature,
                    status=status,
                    cancelled_at=datetime.now(UTC) if status == "cancelled" else None,
                )
            )
            issued.append(
                IssuedTicket(ticket_id, event_id, order.id, owner_id, f"{first_name} {last_name}", qr_signature)
            )
        return EventWithTickets(event_id, ticket_type_id, ticket_type.name, owner_id, order.id, issued)


def ticket_row(ticket_id: uuid.UUID) -> dict:
    with engine().connect() as connection:
        row = connection.execute(text("SELECT * FROM tickets WHERE id = :id"), {"id": ticket_id}).mappings().one()
        return dict(row)


def checkin_rows(ticket_id: uuid.UUID | None = None) -> list[dict]:
    """The check-in log, oldest first (every row when `ticket_id` is None)."""
    query = "SELECT * FROM checkins" + (" WHERE ticket_id = :id" if ticket_id else "") + " ORDER BY id"
    with engine().connect() as connection:
        return [dict(row) for row in connection.execute(text(query), {"id": ticket_id}).mappings()]
