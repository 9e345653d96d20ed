"""What the webhook does with a signed payment notification: ask MercadoPago, apply, then publish and refund."""

from __future__ import annotations

import logging

from crowdify.errors import NotFound
from crowdify.order_payments import PaymentOutcome
from crowdify.payment_settlement import settle
from crowdify.payments import payments

logger = logging.getLogger(__name__)


def settle_payment(payment_id: str) -> PaymentOutcome:
    """Apply MercadoPago's current view of a payment to its order.

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
