"""GET /ready — readiness: the database, the paid-orders queue and the tickets bucket each answer (503 otherwise).

Each dependency is reported on its own (`ok`, `unavailable`, `not_configured`), so an operator sees which one is
down. The queue and the bucket are asked through their adapters, which import boto3 on first use: no other admin
function pays for it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.event_handler import Response, content_types
from sqlalchemy import text

from crowdify.adapters import paid_orders_queue, tickets_bucket
from crowdify.config.settings import get_settings
from crowdify.core.errors import DependencyUnavailable
from crowdify.http.api import api_app, lambda_handler_for, logger
from crowdify.http.route_access import PUBLIC
from crowdify.persistence.database import transaction

app = api_app(PUBLIC)

OK = "ok"
UNAVAILABLE = "unavailable"
NOT_CONFIGURED = "not_configured"


def database_state() -> str:
    try:
        with transaction() as connection:
            connection.execute(text("SELECT 1"))
    except DependencyUnavailable:
        return UNAVAILABLE
    return OK


def queue_state() -> str:
    queue_url = get_settings().paid_orders_queue_url
    if not queue_url:
        return NOT_CONFIGURED
    try:
        paid_orders_queue.check_reachable(queue_url)
    except DependencyUnavailable as error:
        logger.warning("paid-orders queue unavailable", extra={"error": str(error)})
        return UNAVAILABLE
    return OK


def bucket_state() -> str:
    bucket = get_settings().tickets_bucket
    if not bucket:
        return NOT_CONFIGURED
    try:
        tickets_bucket.check_reachable(bucket)
    except DependencyUnavailable as error:
        logger.warning("tickets bucket unavailable", extra={"error": str(error)})
        return UNAVAILABLE
    return OK


@app.get("/ready")
def ready() -> Response[dict]:
    # The AWS checks run beside the database's: the probe waits for the slowest, not for the sum.
    with ThreadPoolExecutor(max_workers=2) as pool:
        queue, bucket = pool.submit(queue_state), pool.submit(bucket_state)
        states = {"database": database_state(), "queue": queue.result(), "bucket": bucket.result()}
    is_ready = all(state == OK for state in states.values())
    return Response(
        status_code=200 if is_ready else 503,
        content_type=content_types.APPLICATION_JSON,
        body={"status": "ready" if is_ready else "unavailable", "checks": states},
    )


lambda_handler = lambda_handler_for(app)
