"""A known data set for the admin dashboards, built through the ORM, with every figure it should produce.

Four events: A (CLP, upcoming, types General 10 000 and Niño 5 000 capped at 20, parking add-on 3 000, stock 10),
B (ARS, happening now, General 2 500.50 and VIP 7 000 capped at 5), C (CLP, over), D (CLP draft, nothing sold).

Orders of A: A1 completed, 2 General + 1 Niño + 1 parking = 28 000 (paid 2026-03-10 02:30 UTC, which is still
the 9th in Santiago); A2 3 General = 30 000 partially refunded 10 000 with one ticket cancelled (paid the 10th);
A3 1 General refunded in full (paid the 9th); A4 pending with a live hold on 2 General + 1 parking; A5 pending whose
hold ran out (4 General, held by nobody); A6 expired (1 General); A7 1 Niño charged back (paid the 10th).
Orders of B: B1 2 General + 1 VIP = 12 001.00 and B2 1 VIP = 7 000, both completed, three of their four tickets
checked in; B3 pending with a live hold on 1 VIP. Order of C: C1 3 General = 24 000, one ticket checked in.
Check-ins of B at 20:05, 20:07 and 20:20 UTC on 2026-03-20; scans logged for B: two offline `already_used`
(20:08, 20:21), one online `already_used` and one offline `accepted` (neither is an offline double entry).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from crowdify.persistence.models import (
    Attendee,
    CheckIn,
    Event,
    EventService,
    Order,
    OrderItem,
    Organizer,
    Ticket,
    TicketType,
    User,
)
from crowdify.persistence.sessions import db_session

A1_PAID = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
A2_PAID = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
A3_PAID = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
A7_PAID = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
B_PAID = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
C_PAID = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 3, 20, hour, minute, tzinfo=UTC)


CHILD_DETAILS = {
    "birth_date": "2016-05-04T00:00:00",
    "allergies": "maní",
    "special_needs": None,
    "emergency_contact_name": "Rosa Díaz",
    "emergency_contact_phone": "+56 9 1234 5678",
    "medications": [{"nombre_medicamento": "Salbutamol", "frecuencia": "si necesita"}],
    "iglesia": "Iglesia Central",
}


@dataclass
class KnownData:
    events: dict[str, uuid.UUID] = field(default_factory=dict)
    ticket_types: dict[str, uuid.UUID] = field(default_factory=dict)
    services: dict[str, uuid.UUID] = field(default_factory=dict)
    orders: dict[str, uuid.UUID] = field(default_factory=dict)
    tickets: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    buyers: dict[str, uuid.UUID] = field(default_factory=dict)


class _Builder:
    def __init__(self, session: Any, data: KnownData) -> None:
        self.session = session
        self.data = data
        self.now = datetime.now(UTC)
        self.organizer_id = session.scalar(select(Organizer.id).where(Organizer.is_default))

    def buyer(self, key: str, email: str, first_name: str, last_name: str) -> uuid.UUID:
        user = User(id=uuid.uuid4(), email=email, first_name=first_name, last_name=last_name, role="user")
        self.session.add(user)
        self.data.buyers[key] = user.id
        return user.id

    def event(self, key: str, **values: Any) -> uuid.UUID:
        event = Event(id=uuid.uuid4(), organizer_id=self.organizer_id, **values)
        self.session.add(event)
        self.session.flush()
        self.data.events[key] = event.id
        return event.id

    def ticket_type(self, key: str, event: str, name: str, price: str, **values: Any) -> uuid.UUID:
        ticket_type = TicketType(
            id=uuid.uuid4(), event_id=self.data.events[event], name=name, price=Decimal(price), **values
        )
        self.session.add(ticket_type)
        self.session.flush()
        self.data.ticket_types[key] = ticket_type.id
        return ticket_type.id

    def order(
        self,
        key: str,
        event: str,
        buyer: str,
        status: str,
        lines: list[tuple[str, int, str]],
        *,
        currency: str,
        paid_at: datetime | None = None,
        hold_expires_at: datetime | None = None,
        refunded: str = "0",
        cancelled_tickets: int = 0,
        used_at: list[datetime] | None = None,
        child_details: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        """`lines`: (ticket type or service key, quantity, unit price). Tickets exist once an order was paid."""
        order_id = uuid.uuid4()
        total = sum((Decimal(price) * quantity for _, quantity, price in lines), Decimal(0))
        order = Order(
            id=order_id,
            user_id=self.data.buyers[buyer],
            event_id=self.data.events[event],
            status=status,
            currency=currency,
            total=total,
            refunded_amount=Decimal(refunded),
            buyer_email=f"{buyer}@example.test",
            hold_expires_at=hold_expires_at or (paid_at or self.now) + timedelta(minutes=15),
            payment_id=f"mp-{key}" if paid_at else None,
            paid_at=paid_at,
        )
        self.session.add(order)
        self.session.flush()
        self.data.orders[key] = order_id
        tickets: list[uuid.UUID] = []
        position = 0
        used = list(used_at or [])
        for line_key, quantity, price in lines:
            is_service = line_key in self.data.services
            item = OrderItem(
                id=uuid.uuid4(),
                order_id=order_id,
                ticket_type_id=None if is_service else self.data.ticket_types[line_key],
                event_service_id=self.data.services[line_key] if is_service else None,
                quantity=quantity,
                unit_price=Decimal(price),
            )
            self.session.add(item)
            self.session.flush()
            if is_service:
                continue
            for _ in range(quantity):
                position += 1
                is_child = line_key.endswith("child")
                attendee = Attendee(
                    id=uuid.uuid4(),
                    order_id=order_id,
                    order_item_id=item.id,
                    position=position,
                    first_name=f"Asistente{position}",
                    last_name=f"{key} Pérez",
                    email=f"{key.lower()}-{position}@example.test",
                    document_type="RUT",
                    document_number=f"{position}{key}-K",
                    is_child=is_child,
                    child_details=child_details if is_child else None,
                )
                self.session.add(attendee)
                self.session.flush()
                if paid_at is None:
                    continue
                ticket_id = uuid.uuid4()
                cancelled = len(tickets) < cancelled_tickets
                used_moment = None if cancelled or not used else used.pop(0)
                self.session.add(
                    Ticket(
                        id=ticket_id,
                        order_id=order_id,
                        order_item_id=item.id,
                        attendee_id=attendee.id,
                        event_id=order.event_id,
                        ticket_type_id=item.ticket_type_id,
                        holder_first_name=attendee.first_name,
                        holder_last_name=attendee.last_name,
                        holder_document_type="RUT",
                        holder_document_number=attendee.document_number,
                        is_child=is_child,
                        qr_signature=f"CT1-test-{ticket_id.hex}",
                        status="cancelled" if cancelled else ("used" if used_moment else "issued"),
                        issued_at=paid_at,
                        used_at=used_moment,
                        validated_at=used_moment,
                        cancelled_at=self.now if cancelled else None,
                    )
                )
                tickets.append(ticket_id)
        self.session.flush()
        self.data.tickets[key] = tickets
        return order_id


def build_known_data() -> KnownData:
    data = KnownData()
    with db_session() as session:
        build = _Builder(session, data)
        now = build.now
        build.buyer("ana", "ana@example.test", "Ana", "Rojas")
        build.buyer("beto", "beto@example.test", "Beto", "Soto")
        build.event(
            "A",
            name="Concierto",
            currency="CLP",
            capacity_total=100,
            starts_at=now + timedelta(days=30),
            ends_at=now + timedelta(days=30, hours=3),
            allow_children=True,
            category="musica",
            status="published",
            timezone="America/Santiago",
        )
        build.event(
            "B",
            name="Feria",
            currency="ARS",
            capacity_total=50,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=3),
            status="published",
            timezone="America/Argentina/Buenos_Aires",
        )
        build.event(
            "C",
            name="Pasado",
            currency="CLP",
            capacity_total=30,
            starts_at=now - timedelta(days=2),
            ends_at=now - timedelta(days=2) + timedelta(hours=2),
            status="published",
            timezone="America/Santiago",
        )
        build.event(
            "D",
            name="Borrador",
            currency="CLP",
            capacity_total=10,
            starts_at=now + timedelta(days=60),
            status="draft",
            timezone="America/Santiago",
        )
        build.ticket_type("A-general", "A", "General", "10000", is_default=True)
        build.ticket_type("A-child", "A", "Niño", "5000", is_child=True, is_default=True, capacity=20)
        build.ticket_type("B-general", "B", "General", "2500.50", is_default=True)
        build.ticket_type("B-vip", "B", "VIP", "7000", capacity=5)
        build.ticket_type("C-general", "C", "General", "8000", is_default=True)
        build.ticket_type("D-general", "D", "General", "1000", is_default=True)
        parking = EventService(
            id=uuid.uuid4(),
            event_id=data.events["A"],
            name="Estacionamiento",
            price=Decimal(3000),
            service_type="parking",
            stock_total=10,
        )
        session.add(parking)
        session.flush()
        data.services["A-parking"] = parking.id

        build.order(
            "A1",
            "A",
            "ana",
            "completed",
            [("A-general", 2, "10000"), ("A-child", 1, "5000"), ("A-parking", 1, "3000")],
            currency="CLP",
            paid_at=A1_PAID,
            child_details=CHILD_DETAILS,
        )
        build.order(
            "A2",
            "A",
            "beto",
            "partially_refunded",
            [("A-general", 3, "10000")],
            currency="CLP",
            paid_at=A2_PAID,
            refunded="10000",
            cancelled_tickets=1,
        )
        build.order(
            "A3",
            "A",
            "ana",
            "refunded",
            [("A-general", 1, "10000")],
            currency="CLP",
            paid_at=A3_PAID,
            refunded="10000",
            cancelled_tickets=1,
        )
        build.order(
            "A4",
            "A",
            "beto",
            "pending",
            [("A-general", 2, "10000"), ("A-parking", 1, "3000")],
            currency="CLP",
            hold_expires_at=now + timedelta(minutes=10),
        )
        build.order(
            "A5",
            "A",
            "ana",
            "pending",
            [("A-general", 4, "10000")],
            currency="CLP",
            hold_expires_at=now - timedelta(minutes=5),
        )
        build.order(
            "A6",
            "A",
            "beto",
            "expired",
            [("A-general", 1, "10000")],
            currency="CLP",
            hold_expires_at=now - timedelta(hours=1),
        )
        build.order(
            "A7",
            "A",
            "beto",
            "charged_back",
            [("A-child", 1, "5000")],
            currency="CLP",
            paid_at=A7_PAID,
            cancelled_tickets=1,
            child_details=CHILD_DETAILS,
        )
        build.order(
            "B1",
            "B",
            "ana",
            "completed",
            [("B-general", 2, "2500.50"), ("B-vip", 1, "7000")],
            currency="ARS",
            paid_at=B_PAID,
            used_at=[at(20, 5), at(20, 20)],
        )
        build.order(
            "B2", "B", "beto", "completed", [("B-vip", 1, "7000")], currency="ARS", paid_at=B_PAID, used_at=[at(20, 7)]
        )
        build.order(
            "B3",
            "B",
            "ana",
            "pending",
            [("B-vip", 1, "7000")],
            currency="ARS",
            hold_expires_at=now + timedelta(minutes=10),
        )
        build.order(
            "C1",
            "C",
            "beto",
            "completed",
            [("C-general", 3, "8000")],
            currency="CLP",
            paid_at=C_PAID,
            used_at=[now - timedelta(days=2)],
        )
        event_b = data.events["B"]
        first_b_ticket = data.tickets["B1"][0]
        scans = [
            ("already_used", True, at(20, 8)),
            ("already_used", True, at(20, 21)),
            ("already_used", False, at(20, 9)),
            ("accepted", True, at(20, 10)),
        ]
        for result, offline, moment in scans:
            session.add(
                CheckIn(
                    ticket_id=first_b_ticket,
                    event_id=event_b,
                    actor_id=uuid.uuid4(),
                    result=result,
                    offline=offline,
                    device_time=moment if offline else None,
                    recorded_at=moment + timedelta(hours=1),
                )
            )
    return data
