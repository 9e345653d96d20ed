"""GET /ready — readiness: the database, the paid-orders queue and the tickets bucket each answer (503 otherwise).

Each dependency is reported on its own (`ok`, `unavailable`, `not_configured`), so an operator sees which one is
down. boto3 is imported here only, on first use: no other admin function pays for it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from sqlalchemy import text

from crowdify.config.settings import get_settings
from crowdify.core.errors import DependencyUnavailable
from crowdify.http.api import api_app, lambda_handler_for, logger
from crowdify.http.route_access import PUBLIC
from crowdify.persistence.database import transaction

app = api_app(PUBLIC)

OK = "ok"
UNAVAILABLE = "unavailable"
NOT_CONFIGURED = "not_configured"


@lru_cache(maxsize=2)
def _aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # A readiness probe must answer quickly: short timeouts, no retries.
    config = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 1})
    # A session each: the two probes make their clients in parallel threads, and boto3's shared default session is
    # not safe for that (botocore raises KeyError 'credential_provider'), which would read as "unavailable".
    return boto3.session.Session().client(service, config=config)


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
        _aws_client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except Exception as error:  # any botocore failure means the queue cannot be used now
        logger.warning("paid-orders queue unavailable", extra={"error": str(error)})
        return UNAVAILABLE
    return OK


def bucket_state() -> str:
    bucket = get_settings().tickets_bucket
    if not bucket:
        return NOT_CONFIGURED
    try:
        _aws_client("s3").head_bucket(Bucket=bucket)
    except Exception as error:  # any botocore failure means the bucket cannot be used now
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
