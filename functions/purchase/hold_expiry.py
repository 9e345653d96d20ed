"""The expiry sweep: pending orders past their hold deadline become `expired`, unless MercadoPago has their money.

Availability ignores a hold the moment its deadline passes (crowdify.domain.capacity); the sweep only makes the state
say so and gives the claim counters back. Before it expires an order it asks MercadoPago for payments with that
external_reference, and applies an approved one exactly as the webhook would (crowdify.domain.payment_settlement): a
buyer who paid at the last second gets the order even if the notification was lost, and a payment that cannot
complete it (wrong amount, seats gone) is recorded or refunded — then the order expires instead of waiting forever.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from crowdify.adapters.mercadopago_client import MercadoPagoGateway
from crowdify.core.errors import DomainError
from crowdify.domain.payment_settlement import settle
from crowdify.domain.seat_holds import release_hold
from crowdify.persistence.database import transaction

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
# Stop asking MercadoPago with this much time left in the invocation: one more call could need all of it.
SECONDS_TO_SPARE = 10.0

_OVERDUE = text(
    """
    SELECT id FROM orders
     WHERE status = 'pending' AND hold_expires_at <= now()
     ORDER BY hold_expires_at
     LIMIT :limit
    """
)


@dataclass
class SweepResult:
    expired: int = 0
    paid: int = 0
    left_for_next_run: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"expired": self.expired, "paid": self.paid, "left_for_next_run": self.left_for_next_run}


def expire_overdue_holds(
    gateway: MercadoPagoGateway, seconds_left: Callable[[], float], batch_size: int = BATCH_SIZE
) -> SweepResult:
    with transaction() as connection:
        overdue: list[uuid.UUID] = list(connection.execute(_OVERDUE, {"limit": batch_size}).scalars())
    result = SweepResult()
    for position, order_id in enumerate(overdue):
        if seconds_left() < SECONDS_TO_SPARE:
            result.left_for_next_run += len(overdue) - position
            break
        try:
            payments = gateway.search_payments(str(order_id))
        except DomainError as error:
            # MercadoPago is down: nothing may expire unasked. The next run (a minute away) asks again.
            logger.warning("MercadoPago unavailable; overdue orders left for the next run", extra={"error": str(error)})
            result.left_for_next_run += len(overdue) - position
            break
        approved = [payment for payment in payments if payment.status == "approved"]
        try:
            outcomes = [settle(payment) for payment in approved]
        except DomainError as error:
            logger.warning("an overdue order's payment could not be settled now", extra={"error": str(error)})
            result.left_for_next_run += len(overdue) - position
            break
        if any(outcome.action == "completed" for outcome in outcomes):
            result.paid += 1
            continue
        with transaction() as connection:
            # Re-checked in the UPDATE: the webhook may have completed it while we asked.
            if release_hold(connection, order_id, "expired", only_if_past_deadline=True):
                result.expired += 1
    return result
