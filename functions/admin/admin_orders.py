"""Orders for coordinators and admins: find them, see everything about one, refund, resend, confirm by hand.

Refunds themselves are made by crowdify.domain.admin_refunds (shared with the scheduled sweep, which settles the refunds
whose answer from MercadoPago was lost).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, noload

from crowdify.core.errors import InvalidTransition, NotFound
from crowdify.core.statuses import ORDERS_WITH_VALID_TICKETS
from crowdify.domain.audit import record_change
from crowdify.domain.order_payments import complete_order, lock_order
from crowdify.domain.outbox import enqueue_paid_order
from crowdify.persistence.models import (
    AuditEntry,
    Event,
    EventService,
    Order,
    OutboxMessage,
    Payment,
    Refund,
    Ticket,
    TicketType,
    User,
)
from crowdify.persistence.search_patterns import LIKE_ESCAPE, contains_pattern

# -- finding orders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilters:
    event_id: uuid.UUID | None = None
    status: str | None = None
    buyer_email: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class OrderRow:
    order: Order
    event_name: str
    ticket_count: int


@dataclass(frozen=True)
class OrderPage:
    rows: list[OrderRow]
    total: int


def list_orders(session: Session, filters: OrderFilters) -> OrderPage:
    """Newest first; `buyer_email` matches part of the order's or the buyer account's email, any case."""
    conditions: list[Any] = []
    if filters.event_id is not None:
        conditions.append(Order.event_id == filters.event_id)
    if filters.status is not None:
        conditions.append(Order.status == filters.status)
    if filters.buyer_email and filters.buyer_email.strip():
        pattern = contains_pattern(filters.buyer_email)
        buyer_ids = select(User.id).where(User.email.ilike(pattern, escape=LIKE_ESCAPE))
        conditions.append(or_(Order.buyer_email.ilike(pattern, escape=LIKE_ESCAPE), Order.user_id.in_(buyer_ids)))
    total = session.scalar(select(func.count()).select_from(Order).where(*conditions)) or 0
    ticket_count = (
        select(func.count()).where(Ticket.order_id == Order.id).correlate(Order).scalar_subquery().label("tickets")
    )
    query = (
        select(Order, Event.name, ticket_count)
        .options(noload(Order.items), noload(Order.attendees))  # a summary reads neither
        .join(Event, Event.id == Order.event_id)
        .where(*conditions)
        .order_by(Order.created_at.desc(), Order.id)
        .limit(filters.limit)
        .offset(filters.offset)
    )
    rows = [OrderRow(order, name, int(count)) for order, name, count in session.execute(query)]
    return OrderPage(rows, total)


@dataclass(frozen=True)
class OrderDetail:
    row: OrderRow
    item_names: dict[uuid.UUID, str]
    tickets: list[Ticket]
    payments: list[Payment]
    refunds: list[Refund]
    history: list[AuditEntry]


def order_detail(session: Session, order_id: uuid.UUID) -> OrderDetail:
    found = session.execute(
        select(Order, Event.name).join(Event, Event.id == Order.event_id).where(Order.id == order_id)
    ).first()
    if found is None:
        raise NotFound("Order not found")
    order, event_name = found
    tickets = list(
        session.scalars(select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.issued_at, Ticket.id))
    )
    type_names = dict(
        session.execute(
            select(TicketType.id, TicketType.name).where(
                TicketType.id.in_([item.ticket_type_id for item in order.items if item.ticket_type_id])
            )
        ).all()
    )
    service_names = dict(
        session.execute(
            select(EventService.id, EventService.name).where(
                EventService.id.in_([item.event_service_id for item in order.items if item.event_service_id])
            )
        ).all()
    )
    item_names = {
        item.id: type_names.get(item.ticket_type_id) or service_names.get(item.event_service_id) or ""
        for item in order.items
    }
    payments = list(session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.created_at)))
    refunds = list(session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.created_at)))
    history = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "order", AuditEntry.entity_id == str(order.id))
            .order_by(AuditEntry.id)
        )
    )
    return OrderDetail(OrderRow(order, event_name, len(tickets)), item_names, tickets, payments, refunds, history)


# -- resend and manual confirmation -------------------------------------------------------------


def resend_tickets(session: Session, order_id: uuid.UUID, actor_id: uuid.UUID) -> OutboxMessage:
    """A new paid-order message for the order: the notify function emails its valid tickets once more."""
    order = session.get(Order, order_id, options=[noload(Order.items), noload(Order.attendees)])
    if order is None:
        raise NotFound("Order not found")
    if order.status not in ORDERS_WITH_VALID_TICKETS:
        raise InvalidTransition(f"An order that is {order.status} has no tickets to send")
    message = enqueue_paid_order(session, order.id, "resend")
    session.flush()
    record_change(session, actor_id, "order.resend", "order", order.id, None, {"message_id": message.id})
    return message


def confirm_order(
    session: Session, order_id: uuid.UUID, reason: str, payment_reference: str | None, actor_id: uuid.UUID
) -> OutboxMessage:
    """An order paid by other means (transfer, cash) marked paid by an admin: tickets issued, audited with why."""
    order = lock_order(session, order_id)
    explanation = f"{reason} (payment reference: {payment_reference})" if payment_reference else reason
    return complete_order(
        session, order, payment_id=None, paid_at=datetime.now(UTC), actor_user_id=actor_id, reason=explanation
    )
