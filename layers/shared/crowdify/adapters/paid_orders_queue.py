"""The paid-orders SQS queue, as the outbox sees it: send messages, learn which ones SQS accepted.

boto3 is imported on first use only: most functions never publish, and boto3 costs about 100 ms of cold start.
AWS_ENDPOINT_URL (the local stack, moto) is honoured by boto3 itself.
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


def reset_client() -> None:
    """Forget the client of this warm container (tests point AWS_ENDPOINT_URL elsewhere)."""
    _sqs_client.cache_clear()


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
