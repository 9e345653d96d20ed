"""The transactional outbox: nothing is lost when SQS fails after the commit, nothing is published twice by
concurrent publishers."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from crowdify.adapters import paid_orders_queue
from crowdify.config.settings import reset_settings
from crowdify.domain.outbox import enqueue_paid_order, publish_after_commit, relay_unpublished
from crowdify.persistence.database import engine
from crowdify.persistence.sessions import db_session
from tests.support.api_gateway import LambdaContext
from tests.support.identities import Identity
from tests.support.orders import create_event, create_pending_order
from tests.support.paid_orders import AwsResources, create_payment, post_notification
from tests.support.races import all_at_once

pytestmark = pytest.mark.usefixtures("aws_resources")


def unpublished_messages(count: int) -> list[uuid.UUID]:
    with db_session() as session:
        return [enqueue_paid_order(session, uuid.uuid4(), "paid").id for _ in range(count)]


def outbox_rows() -> list[dict]:
    with engine().connect() as connection:
        rows = connection.execute(text("SELECT * FROM outbox_messages ORDER BY created_at"))
        return [dict(row) for row in rows.mappings()]


def run_relay() -> dict:
    from scheduled_outbox_relay import lambda_handler

    return lambda_handler({"detail-type": "Scheduled Event", "detail": {}}, LambdaContext(function_name="relay"))


def test_sqs_failing_after_the_commit_leaves_the_message_for_the_relay(
    buyer: Identity, mercadopago, aws_resources: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    payment_id = create_payment(mercadopago, order.id, order.total)
    monkeypatch.setenv("PAID_ORDERS_QUEUE_URL", aws_resources.queue_url.replace("crowdify-paid-orders", "gone"))
    reset_settings()

    answer = post_notification(payment_id)

    assert answer.status == 200
    assert answer.json()["action"] == "completed"
    [row] = outbox_rows()
    assert (row["published_at"], row["publish_attempts"]) == (None, 1)
    assert row["payload"]["order_id"] == str(order.id)
    assert aws_resources.received_messages() == []

    monkeypatch.setenv("PAID_ORDERS_QUEUE_URL", aws_resources.queue_url)
    reset_settings()
    assert run_relay() == {"published": 1}

    [row] = outbox_rows()
    assert row["published_at"] is not None
    assert row["publish_attempts"] == 2
    assert [message["message_id"] for message in aws_resources.received_messages()] == [str(row["id"])]
    assert run_relay() == {"published": 0}


def test_sqs_unreachable_is_no_error_for_the_caller(aws_resources: AwsResources, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    paid_orders_queue.reset_client()
    [message_id] = unpublished_messages(1)

    assert publish_after_commit([message_id]) == 0

    assert outbox_rows()[0]["published_at"] is None
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    paid_orders_queue.reset_client()
    assert relay_unpublished() == 1


def test_publish_after_commit_publishes_only_the_messages_it_is_given(aws_resources: AwsResources) -> None:
    mine, *others = unpublished_messages(3)

    assert publish_after_commit([mine]) == 1

    published = {row["id"]: row["published_at"] is not None for row in outbox_rows()}
    assert published == {mine: True, others[0]: False, others[1]: False}
    assert [message["message_id"] for message in aws_resources.received_messages()] == [str(mine)]


def test_concurrent_relays_publish_every_message_exactly_once(aws_resources: AwsResources) -> None:
    message_ids = unpublished_messages(37)
    counts = all_at_once(lambda _: relay_unpublished(limit=100), racers=4)

    assert sum(counts) == 37
    sent = [message["message_id"] for message in aws_resources.received_messages()]
    assert sorted(sent) == sorted(str(message_id) for message_id in message_ids)
    assert all(row["published_at"] is not None and row["publish_attempts"] == 1 for row in outbox_rows())


def test_the_relay_stops_at_its_limit(aws_resources: AwsResources) -> None:
    unpublished_messages(12)

    assert relay_unpublished(limit=5) == 5
    assert relay_unpublished() == 7
