"""How money changes an order: applying a MercadoPago payment, completing an order, cancelling its tickets.

Shared by the webhook, the admin service (manual confirm, refunds), free purchases and anything else that moves
an order between `pending`, `completed`, `refunded`, `partially_refunded` and `charged_back` (docs/architecture.md,
"Orders, capacity and money"). Every function here works inside the caller's session and transaction and never calls
a network service while it holds a lock: what must happen after the commit (publishing outbox messages, refunding a
payment) comes back in the result, for the caller to do once the transaction has committed:

    with db_session() as session:
        outcome = apply_payment(session, payment)
    publish_after_commit(outcome.outbox_message_ids)
    perform_refunds(outcome.refunds)
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select, text, update
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, lazyload

from crowdify.auth.qr_tokens import keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.core.errors import EventCancelled, InvalidRequest, InvalidTransition, NotFound, SoldOut
from crowdify.core.statuses import (
    ORDER_CANCELLED,
    ORDER_CHARGED_BACK,
    ORDER_COMPLETED,
    ORDER_EXPIRED,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_PENDING,
    ORDER_REFUNDED,
    PAID_ORDER_STATUSES,
    TICKET_CANCELLED,
    TICKET_ISSUED,
)
from crowdify.domain.audit import record_change
from crowdify.domain.outbox import enqueue_paid_order
from crowdify.domain.waiting_list import mark_bought
from crowdify.observability import business_metrics
from crowdify.persistence.database import transaction
from crowdify.persistence.models import AuditEntry, Event, Order, OrderItem, OutboxMessage, Refund, Ticket
from crowdify.persistence.models import Payment as PaymentRecord

if TYPE_CHECKING:
    from crowdify.adapters.mercadopago_client import Payment

logger = logging.getLogger(__name__)

# Why a payment did not simply pay its order (`payments.problem`); the refund reasons are also `refunds.reason`.
UNKNOWN_ORDER = "unknown_order"
AMOUNT_MISMATCH = "amount_mismatch"
CURRENCY_MISMATCH = "currency_mismatch"
DUPLICATE_PAYMENT = "duplicate_payment"
LATE_PAYMENT_NO_CAPACITY = "late_payment_no_capacity"
ORDER_CANCELLED_BEFORE_PAYMENT = "order_cancelled"
EVENT_CANCELLED_BEFORE_PAYMENT = "event_cancelled"
# MercadoPago's answer names another order than the one this payment id was recorded for: a forged or misrouted
# notification, or an emulator that numbered its payments afresh. Recorded in the audit log, never applied.
PAYMENT_ID_CONFLICT = "payment_id_conflict"
# An approved payment that cannot pay its order is refunded automatically, exactly once (its `refunds` row's key).
AUTOMATIC_REFUND_REASONS = (
    AMOUNT_MISMATCH,
    CURRENCY_MISMATCH,
    DUPLICATE_PAYMENT,
    LATE_PAYMENT_NO_CAPACITY,
    ORDER_CANCELLED_BEFORE_PAYMENT,
    EVENT_CANCELLED_BEFORE_PAYMENT,
)

# How far along its life a MercadoPago payment is. A notification whose payment is behind what is recorded (a
# `pending` fetched before the `approved` that was applied first) is stale and changes nothing. Statuses of equal
# rank may follow each other (a mediation resolved back to approved).
_STATUS_RANK = {
    "pending": 0,
    "in_process": 0,
    "authorized": 0,
    "approved": 1,
    "rejected": 1,
    "cancelled": 1,
    "in_mediation": 1,
    "refunded": 2,
    "charged_back": 2,
}


@dataclass(frozen=True)
class RefundToMake:
    """A refund decided inside a transaction, to be asked of MercadoPago after its commit (`perform_refunds`)."""

    provider_payment_id: str
    amount: Decimal | None  # None: whatever remains of the payment
    reason: str
    idempotency_key: str
    order_id: uuid.UUID | None


@dataclass
class PaymentOutcome:
    """What `apply_payment` did, and what the caller must do once the transaction has committed.

    `action` says what happened, for logs and answers: completed, already_applied, recorded, stale, unknown_order,
    amount_mismatch, currency_mismatch, duplicate_payment, late_payment_no_capacity, order_cancelled, refunded,
    partially_refunded, charged_back, payment_id_conflict.
    """

    action: str
    order_id: uuid.UUID | None = None
    outbox_message_ids: list[uuid.UUID] = field(default_factory=list)
    refunds: list[RefundToMake] = field(default_factory=list)


def apply_payment(session: Session, payment: Payment) -> PaymentOutcome:
    """Apply MercadoPago's current view of one payment to its order (the one its `external_reference` names).

    Locks the order row (`FOR UPDATE`) for the rest of the caller's transaction, so concurrent notifications for one
    order apply one after the other, and records the payment (table `payments`) in every case:

    - approved, on a pending order whose amount and currency match → `complete_order` (tickets, outbox message);
      on an order that expired (or whose hold has lapsed) → re-hold its seats and complete it if they are free,
      else refund it (`late_payment_no_capacity`); on a cancelled order → refund it (`order_cancelled`);
      on an order already paid by another payment → refund it (`duplicate_payment`), nothing else changes;
    - rejected / cancelled / pending → recorded only; the order stays pending until paid or expired;
    - refunded / partially refunded (approved with an amount refunded) / charged_back of the order's own payment →
      order `refunded` / `partially_refunded` / `charged_back`; a full refund or a chargeback cancels every issued
      ticket, a partial one only the tickets that `refunds` rows for that payment name;
    - an amount or currency that differs from the order's → recorded with the problem, never completed, and refunded
      when approved (`amount_mismatch` / `currency_mismatch`); the order stays pending for a payment that matches;
    - a duplicate notification, or one older than what is recorded → nothing changes;
    - a payment id already recorded for another order (another `external_reference`) → the audit log records it
      once, and nothing else changes (`payment_id_conflict`): the recorded payment and both orders stay as they are.

    Refunds come back in `outcome.refunds` (their `refunds` rows are written here, without a provider refund id):
    call `perform_refunds` after the commit. Until MercadoPago has made them, applying the same payment again
    returns them again, so a redelivered notification finishes what a failed one left.
    """
    order = _lock_order(session, payment.external_reference)
    record, standing = _record_payment(session, payment, order.id if order is not None else None)
    if standing == _STALE:
        return PaymentOutcome("stale", order.id if order else None)
    if standing == PAYMENT_ID_CONFLICT:
        _record_payment_id_conflict(session, record, payment)
        return PaymentOutcome(PAYMENT_ID_CONFLICT, order.id if order else None)
    if order is None:
        record.problem = UNKNOWN_ORDER
        logger.warning("payment for no known order", extra={"payment_id": payment.id})
        return PaymentOutcome(UNKNOWN_ORDER)
    outcome = PaymentOutcome("recorded", order.id)

    if payment.currency_id != order.currency or payment.transaction_amount != order.total:
        problem = CURRENCY_MISMATCH if payment.currency_id != order.currency else AMOUNT_MISMATCH
        logger.warning(
            "payment does not match its order",
            extra={"payment_id": payment.id, "order_id": str(order.id), "problem": problem},
        )
        if payment.status == "approved":
            _refund_payment(session, order, payment, record, problem, outcome)
            outcome.refunds = _pending_refunds(session, payment.id)
        else:
            record.problem = outcome.action = problem
        return outcome

    if order.payment_id == payment.id:
        _apply_to_own_order(session, order, payment, outcome)
    elif payment.status == "approved":
        _apply_approval(session, order, payment, record, outcome)
    if payment.status == "approved" and record.problem in AUTOMATIC_REFUND_REASONS:
        outcome.refunds = _pending_refunds(session, payment.id)
    return outcome


def complete_order(
    session: Session,
    order: Order,
    *,
    payment_id: str | None,
    paid_at: datetime,
    actor_user_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> OutboxMessage:
    """Mark a pending or expired order `completed`, issue one ticket per attendee and write its outbox message.

    The caller has locked the order row (`SELECT … FOR UPDATE`, as `apply_payment` does). When the order's hold is
    no longer live (expired, or past `hold_expires_at`), its seats are taken again first under the event's lock
    (`crowdify.domain.seat_holds`), raising `SoldOut` when they are gone — before anything is changed. Used by the
    webhook (`payment_id` = MercadoPago's), by the admin's manual confirmation (`payment_id` None, `actor_user_id` and
    `reason` recorded in the audit log) and by the purchase of a free order (`payment_id` None). Raises
    `InvalidTransition` from any other status, and `EventCancelled` when the event was cancelled meanwhile (a
    cancelled event sells nothing more).
    Returns the outbox message: pass its id to `crowdify.domain.outbox.publish_after_commit` after the commit.
    """
    if order.status not in (ORDER_PENDING, ORDER_EXPIRED):
        raise InvalidTransition(f"An order that is {order.status} cannot be completed")
    if session.scalar(select(Event.status).where(Event.id == order.event_id)) == "cancelled":
        raise EventCancelled("The event was cancelled; this order cannot be completed")
    if order.status == ORDER_EXPIRED or order.hold_expires_at <= datetime.now(UTC):
        _hold_seats_again(session, order)
    before = {"status": order.status, "payment_id": order.payment_id}
    order.status = ORDER_COMPLETED
    order.payment_id = payment_id
    order.paid_at = paid_at
    _issue_tickets(session, order)
    sale = (len(order.attendees), order.total, order.currency)
    # Counted when the sale is committed: a transaction that rolls back sold nothing.
    sqlalchemy_event.listen(session, "after_commit", lambda _session: business_metrics.tickets_sold(*sale), once=True)
    message = enqueue_paid_order(session, order.id, "paid")
    if order.voucher_id is not None:
        mark_bought(session, order.voucher_id)
    record_change(
        session,
        actor_user_id,
        "order.completed",
        "order",
        order.id,
        before,
        {"status": order.status, "payment_id": payment_id},
        reason,
    )
    return message


def cancel_tickets(session: Session, order: Order, ticket_ids: Iterable[uuid.UUID] | None) -> list[uuid.UUID]:
    """Cancel the order's issued tickets (all of them when `ticket_ids` is None); returns the ids cancelled.

    One conditional UPDATE: ids of other orders and tickets already cancelled or used are left alone (a used ticket
    keeps the record that its holder came in). A cancelled ticket can no longer check in.
    """
    statement = (
        update(Ticket)
        .where(Ticket.order_id == order.id, Ticket.status == TICKET_ISSUED)
        .values(status=TICKET_CANCELLED, cancelled_at=text("now()"))
        .returning(Ticket.id)
    )
    if ticket_ids is not None:
        wanted = list(ticket_ids)
        if not wanted:
            return []
        statement = statement.where(Ticket.id.in_(wanted))
    cancelled = list(session.scalars(statement, execution_options={"synchronize_session": False}))
    if cancelled:
        # The claim counters still count these seats (crowdify.domain.seat_holds): until the next exact recount
        # they overstate, and a purchase they refuse must be counted exactly.
        session.execute(update(Event).where(Event.id == order.event_id).values(claims_overstated=True))
    return cancelled


def perform_refunds(refunds: Iterable[RefundToMake]) -> list[RefundToMake]:
    """Ask MercadoPago for each refund (after the commit that decided it) and record its provider id; returns those
    that were made. The idempotency key makes a repeated call refund once. MercadoPago unreachable →
    `DependencyUnavailable` (the webhook answers 5xx and MercadoPago's redelivery retries); MercadoPago refusing a
    refund (already refunded, wrong status) is logged and left for a person (`refunds.provider_refund_id` NULL).
    """
    from crowdify.adapters.mercadopago_client import payments

    made = []
    for refund in refunds:
        try:
            answer = payments().refund(refund.provider_payment_id, refund.amount, refund.idempotency_key)
        except InvalidRequest as error:
            logger.error(
                "MercadoPago refused an automatic refund",
                extra={"payment_id": refund.provider_payment_id, "reason": refund.reason, "detail": error.detail},
            )
            continue
        with transaction() as connection:
            record_refund_made(connection, refund.idempotency_key, answer.id, answer.amount)
        made.append(refund)
    return made


def record_refund_made(
    executor: Session | Connection, idempotency_key: str, provider_refund_id: str, amount: Decimal | None
) -> bool:
    """The refund intent of `idempotency_key` gets the refund MercadoPago made; False when it already had one."""
    made = executor.execute(
        text(
            "UPDATE refunds SET provider_refund_id = :refund_id, amount = :amount"
            " WHERE idempotency_key = :key AND provider_refund_id IS NULL RETURNING id"
        ),
        {"refund_id": provider_refund_id, "amount": amount, "key": idempotency_key},
    ).first()
    return made is not None


# -- the steps of apply_payment -------------------------------------------------------------------


def lock_order(session: Session, order_id: uuid.UUID) -> Order:
    """The order, its row locked (`FOR UPDATE`) until the transaction ends; NotFound when there is none."""
    order = _locked_order(session, order_id)
    if order is None:
        raise NotFound("Order not found")
    return order


def _lock_order(session: Session, external_reference: str | None) -> Order | None:
    try:
        order_id = uuid.UUID(external_reference or "")
    except ValueError:
        return None
    return _locked_order(session, order_id)


def _locked_order(session: Session, order_id: uuid.UUID) -> Order | None:
    # Items and attendees load only when used (completing the order): most callers change the order row alone.
    statement = (
        select(Order)
        .where(Order.id == order_id)
        .options(lazyload(Order.items), lazyload(Order.attendees))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one_or_none()


_CURRENT = "current"
_STALE = "stale"


def _record_payment(session: Session, payment: Payment, order_id: uuid.UUID | None) -> tuple[PaymentRecord, str]:
    """The payment's row, locked and brought up to date (`_CURRENT`), or left as it was: `_STALE` when the
    notification is older than the row, `PAYMENT_ID_CONFLICT` when the row is another order's payment."""
    values = {
        "provider_payment_id": payment.id,
        "order_id": order_id,
        "external_reference": payment.external_reference,
        "status": payment.status,
        "status_detail": payment.status_detail,
        "amount": payment.transaction_amount,
        "currency": payment.currency_id[:3],
        "refunded_amount": payment.transaction_amount_refunded,
    }
    statement = insert(PaymentRecord).values(id=uuid.uuid4(), **values)
    # A no-op update returns (and locks) the existing row as it was, so staleness can be judged against it.
    statement = statement.on_conflict_do_update(
        index_elements=[PaymentRecord.provider_payment_id],
        set_={"provider_payment_id": statement.excluded.provider_payment_id},
    ).returning(PaymentRecord)
    record = session.scalars(statement, execution_options={"populate_existing": True}).one()
    if record.external_reference != payment.external_reference:
        # A row just inserted has the payment's own reference: this one was recorded for another order.
        return record, PAYMENT_ID_CONFLICT
    if _progress(payment.status, payment.transaction_amount_refunded) < _progress(
        record.status, record.refunded_amount
    ):
        return record, _STALE
    for name, value in values.items():
        if name != "order_id" or value is not None:
            setattr(record, name, value)
    return record, _CURRENT


def _record_payment_id_conflict(session: Session, record: PaymentRecord, payment: Payment) -> None:
    """One audit entry per payment id and claimed order, however often MercadoPago redelivers (the payment's row
    is locked, so concurrent deliveries check one after the other)."""
    claimed = {
        "external_reference": payment.external_reference,
        "status": payment.status,
        "amount": payment.transaction_amount,
        "currency": payment.currency_id,
    }
    already = session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action == "payment.id_conflict",
            AuditEntry.entity_type == "payment",
            AuditEntry.entity_id == payment.id,
            func.coalesce(AuditEntry.after["external_reference"].astext, "") == (payment.external_reference or ""),
        )
    )
    logger.error(
        "a payment id already recorded for another order",
        extra={"payment_id": payment.id, "recorded_for": record.external_reference, "claimed_for": claimed},
    )
    if already is None:
        record_change(
            session,
            None,
            "payment.id_conflict",
            "payment",
            payment.id,
            {"order_id": record.order_id, "external_reference": record.external_reference},
            claimed,
            "MercadoPago names another order for a payment id already recorded; nothing was applied",
        )


def _progress(status: str, refunded_amount: Decimal) -> tuple[int, Decimal]:
    return _STATUS_RANK.get(status, 0), refunded_amount


def _apply_to_own_order(session: Session, order: Order, payment: Payment, outcome: PaymentOutcome) -> None:
    """The notification concerns the payment that paid this order: refunds and chargebacks land here."""
    if order.status not in PAID_ORDER_STATUSES:
        return
    if payment.status == "charged_back":
        target, ticket_ids = ORDER_CHARGED_BACK, None
    elif payment.status == "refunded":
        target, ticket_ids = ORDER_REFUNDED, None
    elif payment.status == "approved" and payment.transaction_amount_refunded > 0:
        target, ticket_ids = ORDER_PARTIALLY_REFUNDED, _tickets_named_by_refunds(session, payment.id)
    else:
        outcome.action = "already_applied"
        return
    # A refund or chargeback never goes back: a late "partially refunded" after "refunded" changes nothing.
    if order.status in (ORDER_REFUNDED, ORDER_CHARGED_BACK) and target == ORDER_PARTIALLY_REFUNDED:
        outcome.action = "already_applied"
        return
    before = {"status": order.status, "refunded_amount": order.refunded_amount}
    order.status = target
    order.refunded_amount = payment.transaction_amount_refunded
    cancel_tickets(session, order, ticket_ids)
    outcome.action = target
    if before["status"] != target or before["refunded_amount"] != order.refunded_amount:
        record_change(
            session,
            None,
            f"order.{target}",
            "order",
            order.id,
            before,
            {"status": target, "refunded_amount": order.refunded_amount},
            f"MercadoPago payment {payment.id} {payment.status}",
        )


def _apply_approval(
    session: Session, order: Order, payment: Payment, record: PaymentRecord, outcome: PaymentOutcome
) -> None:
    """An approved payment that is not (yet) the order's payment."""
    if record.problem in AUTOMATIC_REFUND_REASONS:
        # Decided by an earlier notification; its refund may still be pending (returned by the caller).
        outcome.action = record.problem
        return
    if order.payment_id is not None or order.status in PAID_ORDER_STATUSES:
        _refund_payment(session, order, payment, record, DUPLICATE_PAYMENT, outcome)
        return
    if order.status == ORDER_CANCELLED:
        _refund_payment(session, order, payment, record, ORDER_CANCELLED_BEFORE_PAYMENT, outcome)
        return
    paid_at = payment.date_approved or datetime.now(UTC)
    try:
        message = complete_order(
            session, order, payment_id=payment.id, paid_at=paid_at, reason=f"MercadoPago payment {payment.id}"
        )
    except SoldOut:
        _refund_payment(session, order, payment, record, LATE_PAYMENT_NO_CAPACITY, outcome)
        return
    except EventCancelled:
        _refund_payment(session, order, payment, record, EVENT_CANCELLED_BEFORE_PAYMENT, outcome)
        return
    outcome.action = "completed"
    outcome.outbox_message_ids.append(message.id)


def _refund_payment(
    session: Session, order: Order, payment: Payment, record: PaymentRecord, reason: str, outcome: PaymentOutcome
) -> None:
    record.problem = reason
    outcome.action = reason
    session.execute(
        insert(Refund)
        .values(
            id=uuid.uuid4(),
            order_id=order.id,
            provider_payment_id=payment.id,
            amount=payment.transaction_amount - payment.transaction_amount_refunded,
            reason=reason,
            idempotency_key=_refund_idempotency_key(reason, payment.id),
        )
        .on_conflict_do_nothing(index_elements=[Refund.idempotency_key])
    )
    logger.warning(
        "approved payment will be refunded",
        extra={"payment_id": payment.id, "order_id": str(order.id), "reason": reason},
    )


def _refund_idempotency_key(reason: str, payment_id: str) -> str:
    return f"crowdify-{reason}-{payment_id}"


def _pending_refunds(session: Session, payment_id: str) -> list[RefundToMake]:
    rows = session.execute(
        select(Refund.provider_payment_id, Refund.reason, Refund.idempotency_key, Refund.order_id).where(
            Refund.provider_payment_id == payment_id,
            Refund.provider_refund_id.is_(None),
            Refund.reason.in_(AUTOMATIC_REFUND_REASONS),
        )
    ).all()
    # The whole remaining amount (None): a duplicate or late payment is refunded entirely.
    return [RefundToMake(row.provider_payment_id, None, row.reason, row.idempotency_key, row.order_id) for row in rows]


def _tickets_named_by_refunds(session: Session, payment_id: str) -> list[uuid.UUID]:
    named = session.scalars(
        select(Refund.ticket_ids).where(Refund.provider_payment_id == payment_id, Refund.ticket_ids.is_not(None))
    ).all()
    return [ticket_id for ticket_ids in named for ticket_id in ticket_ids]


# -- the steps of complete_order ------------------------------------------------------------------


def _hold_seats_again(session: Session, order: Order) -> None:
    """Take the order's seats and add-ons again for a payment that came after its hold: SoldOut if they are gone."""
    from crowdify.domain.seat_holds import check_capacity, lock_event_for_holds

    event = lock_event_for_holds(session, order.event_id)
    ticket_quantities: Counter[uuid.UUID] = Counter()
    service_quantities: Counter[uuid.UUID] = Counter()
    for item in order.items:
        if item.ticket_type_id is not None:
            ticket_quantities[item.ticket_type_id] += item.quantity
        elif item.event_service_id is not None:
            service_quantities[item.event_service_id] += item.quantity
    check_capacity(session, event, dict(ticket_quantities), dict(service_quantities))


def _issue_tickets(session: Session, order: Order) -> None:
    signer = keyring_from_settings(get_settings())
    items: dict[uuid.UUID, OrderItem] = {item.id: item for item in order.items}
    for attendee in order.attendees:
        item = items[attendee.order_item_id]
        if item.ticket_type_id is None:
            raise InvalidTransition("An attendee must hold a ticket type, not an add-on")
        ticket_id = uuid.uuid4()
        session.add(
            Ticket(
                id=ticket_id,
                order_id=order.id,
                order_item_id=item.id,
                attendee_id=attendee.id,
                event_id=order.event_id,
                ticket_type_id=item.ticket_type_id,
                holder_first_name=attendee.first_name,
                holder_last_name=attendee.last_name,
                holder_document_type=attendee.document_type,
                holder_document_number=attendee.document_number,
                is_child=attendee.is_child,
                qr_signature=signer.sign_ticket(ticket_id, order.event_id),
                status=TICKET_ISSUED,
            )
        )
