"""Orders for coordinators and admins: find them, see everything about one, refund, resend, confirm by hand.

A refund never holds a row lock across the call to MercadoPago: it records its intent (a `refunds` row with the
idempotency key) and commits, asks MercadoPago, then applies the result under the order's lock. MercadoPago failing
or refusing removes the intent again, so the order is as it was; the caller may retry with the same key, which
MercadoPago refunds at most once. The notification MercadoPago sends afterwards goes through
`crowdify.order_payments.apply_payment`, which reaches the same status, refunded amount and cancelled tickets, so it
changes nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from crowdify.audit import record_change
from crowdify.database import transaction
from crowdify.errors import Conflict, DomainError, InvalidRequest, InvalidTransition, NotFound
from crowdify.models import (
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
from crowdify.order_payments import cancel_tickets, complete_order
from crowdify.outbox import enqueue_paid_order
from crowdify.statuses import ORDER_COMPLETED, TICKET_ISSUED

ORDER_PARTIALLY_REFUNDED = "partially_refunded"
ORDER_REFUNDED = "refunded"
REFUNDABLE_STATUSES = (ORDER_COMPLETED, ORDER_PARTIALLY_REFUNDED)
# Orders whose valid tickets can be emailed again.
RESENDABLE_STATUSES = (ORDER_COMPLETED, ORDER_PARTIALLY_REFUNDED)
ADMIN_FULL_REFUND = "admin_full_refund"
ADMIN_PARTIAL_REFUND = "admin_partial_refund"


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


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_orders(session: Session, filters: OrderFilters) -> OrderPage:
    """Newest first; `buyer_email` matches part of the order's or the buyer account's email, any case."""
    conditions: list[Any] = []
    if filters.event_id is not None:
        conditions.append(Order.event_id == filters.event_id)
    if filters.status is not None:
        conditions.append(Order.status == filters.status)
    if filters.buyer_email and filters.buyer_email.strip():
        pattern = f"%{_escape_like(filters.buyer_email.strip())}%"
        buyer_ids = select(User.id).where(User.email.ilike(pattern, escape="\\"))
        conditions.append(or_(Order.buyer_email.ilike(pattern, escape="\\"), Order.user_id.in_(buyer_ids)))
    total = session.scalar(select(func.count()).select_from(Order).where(*conditions)) or 0
    ticket_count = (
        select(func.count()).where(Ticket.order_id == Order.id).correlate(Order).scalar_subquery().label("tickets")
    )
    query = (
        select(Order, Event.name, ticket_count)
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
    session.refresh(order)
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


# -- refunds --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundIntent:
    order_id: uuid.UUID
    provider_payment_id: str
    # None: everything that is left of the payment.
    amount: Decimal | None
    idempotency_key: str
    already_made: bool


def _lock_order(session: Session, order_id: uuid.UUID) -> Order:
    order = session.scalars(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if order is None:
        raise NotFound("Order not found")
    return order


def record_refund_intent(
    session: Session,
    order_id: uuid.UUID,
    amount: Decimal | None,
    ticket_ids: list[uuid.UUID] | None,
    idempotency_key: str,
    actor_id: uuid.UUID,
) -> RefundIntent:
    """Checks the refund against the order and writes its intent; the same key finds the earlier intent."""
    earlier = session.scalars(select(Refund).where(Refund.idempotency_key == idempotency_key)).first()
    if earlier is not None:
        if earlier.order_id != order_id:
            raise Conflict("This idempotency key was used for another order's refund")
        full = earlier.reason == ADMIN_FULL_REFUND
        return RefundIntent(
            order_id,
            earlier.provider_payment_id,
            None if full else earlier.amount,
            idempotency_key,
            already_made=earlier.provider_refund_id is not None,
        )
    order = _lock_order(session, order_id)
    if order.status not in REFUNDABLE_STATUSES:
        raise InvalidTransition(f"An order that is {order.status} cannot be refunded")
    if order.payment_id is None and order.total == 0:
        raise Conflict("This order was free: there is no payment to refund")
    if order.payment_id is None:
        raise Conflict("This order was confirmed by hand, not paid through MercadoPago: refund it by the same means")
    remaining = order.total - order.refunded_amount
    if amount is not None and amount > remaining:
        raise InvalidRequest(f"At most {remaining} {order.currency} is left to refund on this order")
    is_full = amount is None or amount == remaining
    if is_full and ticket_ids:
        raise InvalidRequest("A full refund cancels every ticket: leave ticket_ids out")
    if ticket_ids:
        _check_tickets(session, order.id, ticket_ids)
    session.add(
        Refund(
            order_id=order.id,
            provider_payment_id=order.payment_id,
            amount=remaining if is_full else amount,
            reason=ADMIN_FULL_REFUND if is_full else ADMIN_PARTIAL_REFUND,
            idempotency_key=idempotency_key,
            ticket_ids=list(dict.fromkeys(ticket_ids)) if ticket_ids else None,
            requested_by=actor_id,
        )
    )
    session.flush()
    return RefundIntent(order.id, order.payment_id, None if is_full else amount, idempotency_key, already_made=False)


def _check_tickets(session: Session, order_id: uuid.UUID, ticket_ids: list[uuid.UUID]) -> None:
    statuses = dict(
        session.execute(
            select(Ticket.id, Ticket.status).where(Ticket.id.in_(ticket_ids), Ticket.order_id == order_id)
        ).all()
    )
    unknown = [str(ticket_id) for ticket_id in ticket_ids if ticket_id not in statuses]
    if unknown:
        raise InvalidRequest(f"Not tickets of this order: {', '.join(unknown)}")
    not_issued = [f"{ticket_id} ({status})" for ticket_id, status in statuses.items() if status != TICKET_ISSUED]
    if not_issued:
        raise Conflict(f"Only issued tickets can be cancelled: {', '.join(not_issued)}")


def forget_refund_intent(idempotency_key: str) -> None:
    """MercadoPago did not make the refund: the intent goes, and the order is as it was."""
    with transaction() as connection:
        connection.execute(
            text("DELETE FROM refunds WHERE idempotency_key = :key AND provider_refund_id IS NULL"),
            {"key": idempotency_key},
        )


def apply_refund(
    session: Session,
    intent: RefundIntent,
    provider_refund_id: str | None,
    refunded_amount: Decimal | None,
    actor_id: uuid.UUID,
    reason: str | None,
) -> Order:
    """The refund MercadoPago made, applied to the order under its lock (the webhook's path reaches the same state).

    The refunded total is what the order's payment has been refunded through Crowdify, or what a notification
    already recorded, whichever is more; a full refund cancels every issued ticket, a partial one those it names.
    """
    order = _lock_order(session, intent.order_id)
    first_application = False
    if provider_refund_id is not None:
        made = session.execute(
            text(
                "UPDATE refunds SET provider_refund_id = :refund_id, amount = :amount"
                " WHERE idempotency_key = :key AND provider_refund_id IS NULL RETURNING id"
            ),
            {"refund_id": provider_refund_id, "amount": refunded_amount, "key": intent.idempotency_key},
        ).first()
        first_application = made is not None
    refund = session.scalars(select(Refund).where(Refund.idempotency_key == intent.idempotency_key)).one()
    refunded_through_us = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.provider_payment_id == intent.provider_payment_id, Refund.provider_refund_id.is_not(None)
        )
    )
    before = {"status": order.status, "refunded_amount": order.refunded_amount}
    order.refunded_amount = min(max(order.refunded_amount, Decimal(refunded_through_us)), order.total)
    if order.refunded_amount >= order.total:
        order.status = ORDER_REFUNDED
        cancelled = cancel_tickets(session, order, None)
    else:
        if order.status == ORDER_COMPLETED:
            order.status = ORDER_PARTIALLY_REFUNDED
        cancelled = cancel_tickets(session, order, refund.ticket_ids or [])
    if first_application:
        after = {"status": order.status, "refunded_amount": order.refunded_amount, "refund_amount": refund.amount}
        if cancelled:
            after["cancelled_ticket_ids"] = [str(ticket_id) for ticket_id in cancelled]
        record_change(session, actor_id, "order.refund", "order", order.id, before, after, reason)
    session.flush()
    return order


def refund_order(
    order_id: uuid.UUID,
    amount: Decimal | None,
    ticket_ids: list[uuid.UUID] | None,
    reason: str | None,
    idempotency_key: str,
    actor_id: uuid.UUID,
) -> None:
    """Record the intent, ask MercadoPago (no lock held), apply. Each step has its own transaction."""
    from crowdify.payments import payments
    from crowdify.sessions import db_session

    with db_session() as session:
        intent = record_refund_intent(session, order_id, amount, ticket_ids, idempotency_key, actor_id)
    provider_refund_id: str | None = None
    refunded: Decimal | None = None
    if not intent.already_made:
        try:
            made = payments().refund(intent.provider_payment_id, intent.amount, intent.idempotency_key)
        except DomainError:
            forget_refund_intent(intent.idempotency_key)
            raise
        provider_refund_id, refunded = made.id, made.amount
    with db_session() as session:
        apply_refund(session, intent, provider_refund_id, refunded, actor_id, reason)


# -- resend and manual confirmation -------------------------------------------------------------


def resend_tickets(session: Session, order_id: uuid.UUID, actor_id: uuid.UUID) -> OutboxMessage:
    """A new paid-order message for the order: the notify function emails its valid tickets once more."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("Order not found")
    if order.status not in RESENDABLE_STATUSES:
        raise InvalidTransition(f"An order that is {order.status} has no tickets to send")
    message = enqueue_paid_order(session, order.id, "resend")
    session.flush()
    record_change(session, actor_id, "order.resend", "order", order.id, None, {"message_id": message.id})
    return message


def confirm_order(
    session: Session, order_id: uuid.UUID, reason: str, payment_reference: str | None, actor_id: uuid.UUID
) -> OutboxMessage:
    """An order paid by other means (transfer, cash) marked paid by an admin: tickets issued, audited with why."""
    order = _lock_order(session, order_id)
    explanation = f"{reason} (payment reference: {payment_reference})" if payment_reference else reason
    return complete_order(
        session, order, payment_id=None, paid_at=datetime.now(UTC), actor_user_id=actor_id, reason=explanation
    )
