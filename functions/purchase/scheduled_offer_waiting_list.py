"""Scheduled every minute (EventBridge): for each event with a waiting list, expire the offers past their time and
turn seats kept or free into offers for the next people in line (crowdify.domain.waiting_list); the offers' emails
go out through the outbox."""

from typing import Any

from aws_lambda_powertools import Logger

from crowdify.domain.outbox import publish_after_commit
from crowdify.domain.waiting_list import OfferRound, events_to_offer, offer_seats
from crowdify.persistence.database import transaction

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    with transaction() as connection:
        event_ids = events_to_offer(connection)
    summary = {"events": 0, "failed_events": 0} | OfferRound().as_dict()
    for event_id in event_ids:
        # One transaction per event: one event's trouble leaves the others' offers made.
        try:
            with transaction() as connection:
                offered = offer_seats(connection, event_id)
        except Exception:
            logger.exception("waiting-list offer round failed", extra={"event_id": str(event_id)})
            summary["failed_events"] += 1
            continue
        publish_after_commit(offered.messages)
        summary["events"] += 1
        for key, value in offered.as_dict().items():
            summary[key] += value
    if summary["offered"] or summary["offers_expired"] or summary["failed_events"]:
        logger.info("waiting-list offer round done", extra=summary)
    return summary
