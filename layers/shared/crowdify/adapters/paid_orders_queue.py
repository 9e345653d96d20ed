"""The paid-orders SQS queue: the outbox sends messages and learns which ones SQS accepted; /ready probes it.

boto3 is imported on first use only: most functions never publish, and boto3 is a large part of a cold start
(bench/coldstart.py measures it). AWS_ENDPOINT_URL (the local stack, moto) is honoured by boto3 itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from crowdify.config.settings import get_settings
from crowdify.core.errors import DependencyUnavailable

# SendMessageBatch takes at most ten entries.
SQS_BATCH_SIZE = 10


@lru_cache(maxsize=1)
def _sqs_client() -> Any:
    import boto3
    from botocore.config import Config

    # Short timeouts and one retry: the webhook answers MercadoPago within seconds, and the relay catches up.
    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})
    return boto3.client("sqs", config=config)


@lru_cache(maxsize=1)
def _probe_client() -> Any:
    import boto3
    from botocore.config import Config

    # A readiness probe must answer quickly: short timeouts, no retries.
    config = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 1})
    # A session of its own: /ready makes its clients in parallel threads, and boto3's shared default session is
    # not safe for that (botocore raises KeyError 'credential_provider'), which would read as "unavailable".
    return boto3.session.Session().client("sqs", config=config)


def reset_client() -> None:
    """Forget the clients of this warm container (tests point AWS_ENDPOINT_URL elsewhere)."""
    _sqs_client.cache_clear()
    _probe_client.cache_clear()


def check_reachable(queue_url: str) -> None:
    """Ask SQS whether the queue exists and this function may use it; DependencyUnavailable when not."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _probe_client().get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"SQS queue is unavailable: {error}") from error


def send_messages(messages: Sequence[tuple[str, str]]) -> set[str]:
    """Send (message id, JSON body) pairs; returns the ids SQS accepted. Raises DependencyUnavailable when SQS
    cannot be reached or the queue is not configured (then none of them was sent)."""
    from botocore.exceptions import BotoCoreError, ClientError

    queue_url = get_settings().paid_orders_queue_url
    if not queue_url:
        raise DependencyUnavailable("PAID_ORDERS_QUEUE_URL is not configured")
    accepted: set[str] = set()
    for start in range(0, len(messages), SQS_BATCH_SIZE):
        batch = messages[start : start + SQS_BATCH_SIZE]
        try:
            answer = _sqs_client().send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(index), "MessageBody": body} for index, (_, body) in enumerate(batch)],
            )
        except (BotoCoreError, ClientError) as error:
            if accepted:
                # What went before is on the queue: report it, the rest stays for the relay.
                break
            raise DependencyUnavailable(f"SQS is unavailable: {error}") from error
        accepted.update(batch[int(entry["Id"])][0] for entry in answer.get("Successful", []))
    return accepted
