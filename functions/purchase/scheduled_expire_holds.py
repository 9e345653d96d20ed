"""Scheduled every minute (EventBridge): settle the admin refunds MercadoPago did not confirm
(crowdify.domain.admin_refunds), then expire the pending orders whose hold has passed its deadline."""

from typing import Any

from aws_lambda_powertools import Logger
from hold_expiry import expire_overdue_holds

from crowdify.adapters.mercadopago_client import payments
from crowdify.domain.admin_refunds import settle_unanswered_refunds

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
    summary = result.as_dict() | refunds.as_dict()
    # A sweep that found nothing says nothing at INFO: it runs every minute, and most runs find nothing.
    if any(summary.values()):
        logger.info("expiry sweep done", extra=summary)
    else:
        logger.debug("expiry sweep found nothing", extra=summary)
    return summary
