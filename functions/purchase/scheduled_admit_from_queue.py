"""Scheduled (EventBridge, every minute; every few seconds on the local stack): the waiting rooms' inlet. For each
event whose room has opened, one round of crowdify.domain.waiting_room_inlet in a transaction of its own."""

from typing import Any

from aws_lambda_powertools import Logger

from crowdify.config.settings import get_settings
from crowdify.domain.waiting_room_inlet import admit_from_queue, rooms_to_serve
from crowdify.persistence.database import transaction

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    with transaction() as connection:
        event_ids = rooms_to_serve(connection)
    summary = {"events": 0, "failed_events": 0, "drawn": 0, "placed": 0, "admitted": 0, "sold_out": 0}
    max_in_flight = get_settings().waiting_room_max_in_flight
    for event_id in event_ids:
        # One transaction per event: one room's trouble leaves the others' admissions made.
        try:
            with transaction() as connection:
                served = admit_from_queue(connection, event_id, max_in_flight)
        except Exception:
            logger.exception("waiting-room round failed", extra={"event_id": str(event_id)})
            summary["failed_events"] += 1
            continue
        summary["events"] += 1
        summary["drawn"] += served.drawn
        summary["placed"] += served.placed
        summary["admitted"] += served.admitted
        summary["sold_out"] += served.sold_out
    if summary["placed"] or summary["admitted"] or summary["failed_events"]:
        logger.info("waiting-room round done", extra=summary)
    return summary
