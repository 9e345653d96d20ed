"""The transactional outbox of paid-order messages (docs/architecture.md): written in the transaction that causes the
message, published to SQS right after its commit, and by a relay for whatever was not.

A message may reach SQS more than once (a publish that succeeded but whose bookkeeping did not commit); consumers are
idempotent on `message_id`. None is ever lost: a row stays unpublished until SQS has accepted it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from sqlalchemy import text

from crowdify.adapters import paid_orders_queue
from crowdify.core.errors import DependencyUnavailable
from crowdify.persistence.database import transaction

if TYPE_CHECKING:
    # The relay and the purchase only publish: the ORM is imported by the paths that write messages.
    from sqlalchemy.orm import Session

    from crowdify.persistence.models import OutboxMessage

logger = logging.getLogger(__name__)

PAID_ORDER_TOPIC = "paid_order"
PaidOrderReason = Literal["paid", "resend"]

_CLAIM_UNPUBLISHED = text(
    """
    SELECT id, payload FROM outbox_messages
     WHERE published_at IS NULL AND (CAST(:ids AS uuid[]) IS NULL OR id = ANY(CAST(:ids AS uuid[])))
     ORDER BY created_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)
_COUNT_UNPUBLISHED = text("SELECT count(*) FROM outbox_messages WHERE published_at IS NULL")
_MARK_PUBLISHED = text(
    "UPDATE outbox_messages SET published_at = now(), publish_attempts = publish_attempts + 1 WHERE id = ANY(:ids)"
)
_COUNT_FAILED_ATTEMPT = text("UPDATE outbox_messages SET publish_attempts = publish_attempts + 1 WHERE id = ANY(:ids)")


def enqueue_paid_order(session: Session, order_id: uuid.UUID, reason: PaidOrderReason) -> OutboxMessage:
    """Add a paid-order message to `session`'s transaction; it is published only once that commits.

    The payload is `{"message_id", "order_id", "reason"}`: the notify function emails the order's tickets once per
    message id, so a redelivery sends nothing and a resend (a new message) sends again. After the commit, pass the
    message's id to `publish_after_commit`.
    """
    from crowdify.persistence.models import OutboxMessage

    message_id = uuid.uuid4()
    message = OutboxMessage(
        id=message_id,
        topic=PAID_ORDER_TOPIC,
        payload={"message_id": str(message_id), "order_id": str(order_id), "reason": reason},
        publish_attempts=0,
    )
    session.add(message)
    return message


def publish_after_commit(message_ids: Iterable[uuid.UUID]) -> int:
    """Publish these committed messages now; returns how many went out. Never raises: what SQS did not take stays
    unpublished for the relay, and the caller's work (an order completed) is done either way."""
    ids = list(message_ids)
    if not ids:
        return 0
    try:
        return _publish_batch(ids, len(ids))
    except Exception:
        logger.warning(
            "outbox messages left for the relay", exc_info=True, extra={"message_ids": [str(i) for i in ids]}
        )
        return 0


def relay_unpublished(limit: int = 500) -> int:
    """Publish up to `limit` unpublished messages, oldest first; returns how many went out.

    Safe to run concurrently (with itself and with `publish_after_commit`): each batch locks its rows with
    `FOR UPDATE SKIP LOCKED`, so two publishers never take the same row. The lock is held while SQS is called, but
    nobody waits for it: every reader of unpublished rows skips locked ones.
    """
    published = 0
    while published < limit:
        batch_size = min(paid_orders_queue.SQS_BATCH_SIZE, limit - published)
        sent = _publish_batch(None, batch_size)
        published += sent
        if sent < batch_size:
            # Fewer than asked: nothing left, or SQS refused some (they keep for the next run).
            break
    return published


def unpublished_count() -> int:
    """Messages not yet on the queue (the relay's backlog): more than a few for long means SQS is failing us."""
    with transaction() as connection:
        return connection.execute(_COUNT_UNPUBLISHED).scalar_one()


def _publish_batch(ids: list[uuid.UUID] | None, limit: int) -> int:
    with transaction() as connection:
        rows = connection.execute(_CLAIM_UNPUBLISHED, {"ids": ids, "limit": limit}).all()
        if not rows:
            return 0
        messages = [(str(row.id), json.dumps(row.payload, separators=(",", ":"))) for row in rows]
        try:
            accepted = paid_orders_queue.send_messages(messages)
        except DependencyUnavailable:
            accepted = set()
        failed = [row.id for row in rows if str(row.id) not in accepted]
        if accepted:
            connection.execute(_MARK_PUBLISHED, {"ids": [row.id for row in rows if str(row.id) in accepted]})
        if failed:
            connection.execute(_COUNT_FAILED_ATTEMPT, {"ids": failed})
            logger.warning("SQS did not take %d outbox messages; the relay retries them", len(failed))
    return len(accepted)
