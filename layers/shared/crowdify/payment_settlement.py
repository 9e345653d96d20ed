"""Applying what MercadoPago says about a payment: the webhook does it per notification, the expiry sweep for an
overdue order whose payment MercadoPago has but no notification brought (lost, or still on its way)."""

from __future__ import annotations

from crowdify.order_payments import PaymentOutcome, apply_payment, perform_refunds
from crowdify.outbox import publish_after_commit
from crowdify.payments import Payment
from crowdify.sessions import db_session


def settle(payment: Payment) -> PaymentOutcome:
    """Apply the payment in one transaction, then publish its paid-order message and make its refunds.

    Both after-commit steps are safe to repeat: the outbox relay publishes what was not, and a later settlement
    of the same payment makes the refunds not yet made (MercadoPago down → DependencyUnavailable).
    """
    with db_session() as session:
        outcome = apply_payment(session, payment)
    publish_after_commit(outcome.outbox_message_ids)
    perform_refunds(outcome.refunds)
    return outcome
