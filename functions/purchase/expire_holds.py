"""Scheduled every minute (EventBridge): expire the pending orders whose hold has passed its deadline."""

from typing import Any

from aws_lambda_powertools import Logger
from hold_expiry import expire_overdue_holds

from crowdify.payments import payments

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = expire_overdue_holds(payments(), lambda: context.get_remaining_time_in_millis() / 1000)
    logger.info("expiry sweep done", extra=result.as_dict())
    return result.as_dict()
