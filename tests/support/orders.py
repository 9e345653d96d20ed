"""Test data for payment tests: an event with a ticket type, and pending orders with items and attendees.

Orders are built with the ORM and their seats claimed through crowdify.domain.seat_holds, as a purchase holds them, so
capacity figures and claim counters agree with what the purchase service would have written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from crowdify.domain.seat_holds import claim
from crowdify.persistence.models import Attendee, Event, Order, OrderItem, Organizer, TicketType
from crowdify.persistence.sessions import db_session


@dataclass(frozen=True)
class TestEvent:
    id: uuid.UUID
    ticket_type_id: uuid.UUID
    price: Decimal
    currency: str


@dataclass(frozen=True)
class PendingOrder:
    id: uuid.UUID
    event_id: uuid.UUID
    total: Decimal
    currency: str
    attendee_count: int


def create_event(
    *,
    capacity: int = 100,
    price: Decimal = Decimal("15000"),
    currency: str = "CLP",
    name: str = "Concierto de prueba",
    starts_at: datetime | None = None,
) -> TestEvent:
    with db_session() as session:
        organizer_id = session.scalars(select(Organizer.id).where(Organizer.is_default)).one()
        event = Event(
            organizer_id=organizer_id,
            name=name,
            location_text="Teatro Municipal, Santiago",
            starts_at=starts_at or datetime.now(UTC) + timedelta(days=30),
            timezone="America/Santiago",
            currency=currency,
            capacity_total=capacity,
            status="published",
        )
        session.add(event)
        session.flush()
        ticket_type = TicketType(event_id=event.id, name="General", price=price, is_default=True)
        session.add(ticket_type)
        session.flush()
        return TestEvent(event.id, ticket_type.id, price, currency)


def create_pending_order(
    event: TestEvent,
    buyer_id: uuid.UUID,
    *,
    attendees: int = 2,
    buyer_email: str | None = None,
    hold_expires_at: datetime | None = None,
    status: str = "pending",
) -> PendingOrder:
    """A pending order of `attendees` seats (or an already `expired` one, whose seats are not claimed)."""
    total = event.price * attendees
    with db_session() as session:
        order = Order(
            user_id=buyer_id,
            event_id=event.id,
            status=status,
            currency=event.currency,
            total=total,
            buyer_email=buyer_email,
            hold_expires_at=hold_expires_at or datetime.now(UTC) + timedelta(minutes=15),
        )
        session.add(order)
        session.flush()
        item = OrderItem(
            order_id=order.id, ticket_type_id=event.ticket_type_id, quantity=attendees, unit_price=event.price
        )
        session.add(item)
        session.flush()
        for position in range(attendees):
            session.add(
                Attendee(
                    order_id=order.id,
                    order_item_id=item.id,
                    position=position,
                    first_name=f"Asistente{position + 1}",
                    last_name="Pérez",
                    document_type="RUT",
                    document_number=f"1111111{position}-1",
                )
            )
        if status == "pending":
            claim(session, event.id, {event.ticket_type_id: attendees}, {})
        return PendingOrder(order.id, event.id, total, event.currency, attendees)
