"""Scheduled every minute (EventBridge): settle the admin refunds MercadoPago did not confirm
(crowdify.domain.admin_refunds), expire the pending orders whose hold has passed its deadline, and return to sale the
seats of promo codes that expired (crowdify.domain.vouchers)."""

from typing import Any

from aws_lambda_powertools import Logger
from hold_expiry import expire_overdue_holds

from crowdify.adapters.mercadopago_client import payments
from crowdify.domain.admin_refunds import settle_unanswered_refunds
from crowdify.domain.vouchers import return_lapsed_reservations
from crowdify.persistence.database import transaction

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    gateway = payments()

    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000

    # Refunds first: a handful at most, each blocking further refunds of its order until settled, where a backlog
    # of overdue holds could take the whole invocation.
    refunds = settle_unanswered_refunds(gateway, seconds_left)
    result = expire_overdue_holds(gateway, seconds_left)
    # After the holds: an expired hold that redeemed a lapsed code gives its seats straight back to sale.
    with transaction() as connection:
        lapsed_codes = return_lapsed_reservations(connection)
    summary = result.as_dict() | refunds.as_dict() | {"lapsed_code_reservations_returned": lapsed_codes}
    # A sweep that found nothing says nothing at INFO: it runs every minute, and most runs find nothing.
    if any(summary.values()):
        logger.info("expiry sweep done", extra=summary)
    else:
        logger.debug("expiry sweep found nothing", extra=summary)
    return summary
