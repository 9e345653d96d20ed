"""Refunds an admin asks for, made exactly once even when MercadoPago's answer is lost.

A refund never holds a row lock across the call to MercadoPago: it records its intent (a `refunds` row with the
idempotency key) and commits, asks MercadoPago, then applies the result under the order's lock. The same key always
reaches the same refund: MercadoPago refunds at most once per key, and the notification MercadoPago sends afterwards
goes through `crowdify.domain.order_payments.apply_payment`, which reaches the same status, refunded amount and
cancelled tickets, so it changes nothing more.

What happens to the intent depends on what MercadoPago said:
- it made the refund: the intent gets its refund id and the order is refunded;
- it refused this refund (400: too much, a payment it no longer refunds; 404: no such payment). With the same key it
  would have answered with the refund had it made one, so none was made: the intent goes, the order is as it was;
- anything else (a timeout, a lost connection, a 5xx, a 429, a rejected access token): the refund may have been made
  by this call or an earlier one with the key. The intent stays, so the notification of a refund that was made
  cancels the tickets it names, no other refund of the order starts until it is settled (409), and
  `settle_unanswered_refunds` (the scheduled sweep) asks MercadoPago again with the same key until it is made, found
  made, or refused.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from crowdify.core.errors import (
    Conflict,
    DependencyUnavailable,
    DomainError,
    InvalidRequest,
    InvalidTransition,
    NotFound,
)
from crowdify.core.statuses import (
    ORDER_COMPLETED,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_REFUNDED,
    ORDERS_WITH_VALID_TICKETS,
    TICKET_ISSUED,
)
from crowdify.domain.audit import record_change
from crowdify.domain.order_payments import cancel_tickets, lock_order, record_refund_made
from crowdify.persistence.database import transaction
from crowdify.persistence.models import Order, Refund, Ticket
from crowdify.persistence.sessions import db_session

if TYPE_CHECKING:
    # Imported by the functions that refund only: the SDK is cold-start weight for the other admin functions.
    from crowdify.adapters.mercadopago_client import MercadoPagoGateway

logger = logging.getLogger(__name__)

ADMIN_FULL_REFUND = "admin_full_refund"
ADMIN_PARTIAL_REFUND = "admin_partial_refund"
ADMIN_REFUND_REASONS = (ADMIN_FULL_REFUND, ADMIN_PARTIAL_REFUND)
REFUND_UNANSWERED = (
    "MercadoPago did not confirm the refund, so it may have been made: it is recorded and will be settled within a"
    " few minutes (the same Idempotency-Key shows its outcome)"
)
REFUND_WAITING = (
    "An earlier refund of this order is waiting for MercadoPago's answer; it is settled within a few minutes,"
    " try again then"
)
# Older than any request still waiting for MercadoPago (the refund function's timeout is 25 s): the sweep never asks
# about a refund whose own request may still be answered.
SETTLE_AFTER = timedelta(minutes=2)
SETTLE_BATCH_SIZE = 50
# A refund call can take two MercadoPago timeouts (8 s each, a reused connection retried once).
SECONDS_TO_SPARE = 20.0
UNANSWERED_IN_A_ROW = 3

_UNANSWERED = text(
    """
    SELECT idempotency_key FROM refunds
     WHERE provider_refund_id IS NULL AND reason = ANY(:reasons)
       AND created_at < now() - :age_seconds * interval '1 second'
     ORDER BY created_at
     LIMIT :limit
    """
)


class RefundUnanswered(DependencyUnavailable):
    """MercadoPago did not confirm a refund: its intent is kept for `settle_unanswered_refunds` (503)."""


@dataclass(frozen=True)
class RefundIntent:
    order_id: uuid.UUID
    provider_payment_id: str
    # None: everything that is left of the payment.
    amount: Decimal | None
    idempotency_key: str
    already_made: bool
    requested_by: uuid.UUID | None


def _intent_of(refund: Refund) -> RefundIntent:
    if refund.order_id is None:
        # Only the refund of a payment that matched no order has none, and an admin never makes those.
        raise ValueError(f"Refund {refund.idempotency_key} names no order: it is not an admin's refund")
    return RefundIntent(
        refund.order_id,
        refund.provider_payment_id,
        None if refund.reason == ADMIN_FULL_REFUND else refund.amount,
        refund.idempotency_key,
        already_made=refund.provider_refund_id is not None,
        requested_by=refund.requested_by,
    )


def record_refund_intent(
    session: Session,
    order_id: uuid.UUID,
    amount: Decimal | None,
    ticket_ids: list[uuid.UUID] | None,
    idempotency_key: str,
    actor_id: uuid.UUID,
) -> RefundIntent:
    """Checks the refund against the order and writes its intent; the same key finds the earlier intent."""
    # The lock first: a request with the same key that was waiting for it then finds this one's intent.
    order = lock_order(session, order_id)
    earlier = session.scalars(select(Refund).where(Refund.idempotency_key == idempotency_key)).first()
    if earlier is not None:
        if earlier.order_id != order_id:
            raise Conflict("This idempotency key was used for another order's refund")
        return _intent_of(earlier)
    if order.status not in ORDERS_WITH_VALID_TICKETS:
        raise InvalidTransition(f"An order that is {order.status} cannot be refunded")
    if order.payment_id is None and order.total == 0:
        raise Conflict("This order was free: there is no payment to refund")
    if order.payment_id is None:
        raise Conflict("This order was confirmed by hand, not paid through MercadoPago: refund it by the same means")
    # Under the order's lock: two refunds of one order never wait for MercadoPago at the same time, so what is left
    # to refund is known when the next one is checked.
    if _has_unsettled_refund(session, order.id):
        raise Conflict(REFUND_WAITING)
    remaining = order.total - order.refunded_amount
    if amount is not None and amount > remaining:
        raise InvalidRequest(f"At most {remaining} {order.currency} is left to refund on this order")
    is_full = amount is None or amount == remaining
    if is_full and ticket_ids:
        raise InvalidRequest("A full refund cancels every ticket: leave ticket_ids out")
    if ticket_ids:
        _check_tickets(session, order.id, ticket_ids)
    refund = Refund(
        order_id=order.id,
        provider_payment_id=order.payment_id,
        amount=remaining if is_full else amount,
        reason=ADMIN_FULL_REFUND if is_full else ADMIN_PARTIAL_REFUND,
        idempotency_key=idempotency_key,
        ticket_ids=list(dict.fromkeys(ticket_ids)) if ticket_ids else None,
        requested_by=actor_id,
    )
    session.add(refund)
    session.flush()
    return _intent_of(refund)


def _has_unsettled_refund(session: Session, order_id: uuid.UUID) -> bool:
    unsettled = select(Refund.id).where(
        Refund.order_id == order_id, Refund.provider_refund_id.is_(None), Refund.reason.in_(ADMIN_REFUND_REASONS)
    )
    return session.scalar(select(unsettled.exists())) or False


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
    """MercadoPago refused the refund: the intent goes, and the order is as it was."""
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
    actor_id: uuid.UUID | None,
    reason: str | None,
) -> Order:
    """The refund MercadoPago made, applied to the order under its lock (the webhook's path reaches the same state).

    The refunded total is what the order's payment has been refunded through Crowdify, or what a notification
    already recorded, whichever is more; a full refund cancels every issued ticket, a partial one those it names.
    """
    order = lock_order(session, intent.order_id)
    first_application = provider_refund_id is not None and record_refund_made(
        session, intent.idempotency_key, provider_refund_id, refunded_amount
    )
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
    gateway: MercadoPagoGateway,
    order_id: uuid.UUID,
    amount: Decimal | None,
    ticket_ids: list[uuid.UUID] | None,
    reason: str | None,
    idempotency_key: str,
    actor_id: uuid.UUID,
) -> None:
    """Record the intent, ask MercadoPago (no lock held), apply. Each step has its own transaction."""
    with db_session() as session:
        intent = record_refund_intent(session, order_id, amount, ticket_ids, idempotency_key, actor_id)
    _make(gateway, intent, actor_id, reason)


def _make(gateway: MercadoPagoGateway, intent: RefundIntent, actor_id: uuid.UUID | None, reason: str | None) -> None:
    provider_refund_id: str | None = None
    refunded: Decimal | None = None
    if not intent.already_made:
        try:
            made = gateway.refund(intent.provider_payment_id, intent.amount, intent.idempotency_key)
        except (InvalidRequest, NotFound):
            forget_refund_intent(intent.idempotency_key)
            raise
        except DomainError as error:
            raise RefundUnanswered(REFUND_UNANSWERED) from error
        provider_refund_id, refunded = made.id, made.amount
    with db_session() as session:
        apply_refund(session, intent, provider_refund_id, refunded, actor_id, reason)


@dataclass
class SettledRefunds:
    made: int = 0
    refused: int = 0
    unanswered: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"refunds_made": self.made, "refunds_refused": self.refused, "refunds_unanswered": self.unanswered}


def settle_unanswered_refunds(
    gateway: MercadoPagoGateway, seconds_left: Callable[[], float], limit: int = SETTLE_BATCH_SIZE
) -> SettledRefunds:
    """Ask MercadoPago again, with the same key, about admin refunds it did not confirm: each is then applied (made
    now, or found made), forgotten (refused), or left for the next run (still not confirmed, or too little time left
    in this invocation for one more call: `seconds_left` below SECONDS_TO_SPARE). After UNANSWERED_IN_A_ROW refunds
    in a row without a confirmation MercadoPago is taken to be down, and the rest waits for the next run too."""
    with transaction() as connection:
        age_seconds = SETTLE_AFTER.total_seconds()
        parameters = {"reasons": list(ADMIN_REFUND_REASONS), "age_seconds": age_seconds, "limit": limit}
        keys = list(connection.execute(_UNANSWERED, parameters).scalars())
    settled = SettledRefunds()
    unanswered_in_a_row = 0
    for position, key in enumerate(keys):
        if seconds_left() < SECONDS_TO_SPARE:
            settled.unanswered += len(keys) - position
            break
        with db_session() as session:
            refund = session.scalars(select(Refund).where(Refund.idempotency_key == key)).first()
            intent = _intent_of(refund) if refund is not None and refund.provider_refund_id is None else None
        if intent is None:
            continue  # settled meanwhile by a retry of its request
        try:
            _make(gateway, intent, intent.requested_by, "settled after MercadoPago's answer was lost")
        except RefundUnanswered:
            settled.unanswered += 1
            unanswered_in_a_row += 1
            if unanswered_in_a_row == UNANSWERED_IN_A_ROW:
                settled.unanswered += len(keys) - position - 1
                break
            continue
        except (InvalidRequest, NotFound) as error:
            settled.refused += 1
            logger.warning(
                "a refund MercadoPago had not confirmed was refused when asked again",
                extra={"order_id": str(intent.order_id), "idempotency_key": key, "detail": error.detail},
            )
        else:
            settled.made += 1
        unanswered_in_a_row = 0
    return settled
