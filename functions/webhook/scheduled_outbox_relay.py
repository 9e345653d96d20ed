"""Scheduled (every minute in AWS, every few seconds locally): publish the outbox messages nobody published."""

from typing import Any

from aws_lambda_powertools import Logger

from crowdify.domain.outbox import relay_unpublished, unpublished_count
from crowdify.observability import business_metrics

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    published = relay_unpublished()
    business_metrics.outbox_backlog(unpublished_count())
    if published:
        logger.info("relayed outbox messages", extra={"published": published})
    return {"published": published}
