"""Applying what MercadoPago says about a payment: the webhook does it per notification, the expiry sweep for an
overdue order whose payment MercadoPago has but no notification brought (lost, or still on its way)."""

from __future__ import annotations

import logging

from crowdify.adapters.mercadopago_client import Payment, payments
from crowdify.core.errors import NotFound
from crowdify.domain.order_payments import PaymentOutcome, apply_payment, perform_refunds
from crowdify.domain.outbox import publish_after_commit
from crowdify.observability import business_metrics
from crowdify.persistence.sessions import db_session

logger = logging.getLogger(__name__)


def settle_payment(payment_id: str) -> PaymentOutcome:
    """Ask MercadoPago for a payment a notification names, and settle it.

    MercadoPago unreachable (before or after the commit) → DependencyUnavailable, so the webhook answers 503 and
    MercadoPago redelivers; a redelivery finds the work done and finishes what is left (refunds not yet made).
    """
    try:
        payment = payments().get_payment(payment_id)
    except NotFound:
        # Nothing to apply, and asking again will not help: MercadoPago's panel sends such test notifications.
        logger.warning("notification for a payment MercadoPago does not know", extra={"payment_id": payment_id})
        return PaymentOutcome("unknown_payment")
    outcome = settle(payment)
    logger.info(
        "payment notification applied",
        extra={"payment_id": payment_id, "action": outcome.action, "order_id": str(outcome.order_id)},
    )
    return outcome


def settle(payment: Payment) -> PaymentOutcome:
    """Apply the payment in one transaction, then publish its paid-order message and make its refunds.

    Both after-commit steps are safe to repeat: the outbox relay publishes what was not, and a later settlement
    of the same payment makes the refunds not yet made (MercadoPago down → DependencyUnavailable).
    """
    with db_session() as session:
        outcome = apply_payment(session, payment)
    business_metrics.payment_settled(outcome.action)
    publish_after_commit(outcome.outbox_message_ids)
    perform_refunds(outcome.refunds)
    return outcome
