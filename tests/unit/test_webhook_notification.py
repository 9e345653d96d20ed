"""Reading and verifying a MercadoPago notification: no I/O."""

from __future__ import annotations

import json

import pytest

from crowdify.auth.webhook_signature import sign
from crowdify.config.settings import Settings
from crowdify.core.errors import InvalidRequest, MalformedRequest, NotAuthenticated

SECRET = "crowdify-test-webhook-secret"


def _read(query, body):
    from webhook_notification import read_notification

    return read_notification(query, json.dumps(body) if isinstance(body, dict) else body)


def test_the_query_string_names_the_payment_and_topic() -> None:
    notification = _read({"data.id": "123", "type": "payment"}, None)

    assert (notification.topic, notification.data_id, notification.payment_id()) == ("payment", "123", "123")


def test_the_topic_is_read_from_the_body_when_the_query_string_has_none() -> None:
    notification = _read({"data.id": "456"}, {"type": "payment", "action": "payment.created", "data": {"id": 456}})

    assert (notification.topic, notification.data_id) == ("payment", "456")


def test_a_body_naming_a_payment_the_signed_query_does_not_is_refused() -> None:
    with pytest.raises(NotAuthenticated):
        _read({}, {"type": "payment", "action": "payment.created", "data": {"id": 456}})


def test_a_body_naming_another_payment_than_the_query_is_refused() -> None:
    with pytest.raises(NotAuthenticated):
        _read({"data.id": "123", "type": "payment"}, {"type": "payment", "data": {"id": "999"}})


@pytest.mark.parametrize("body", ["[1, 2]", {"data": "x"}, {"data": {"id": True}}])
def test_a_body_that_is_not_a_notification_names_nothing(body) -> None:
    notification = _read({}, body)

    assert notification.data_id is None
    with pytest.raises(InvalidRequest):
        notification.payment_id()


@pytest.mark.parametrize("body", ["not json", "[" * 5000 + "]" * 5000, "[" * 40 + "]" * 40])
def test_a_body_that_is_no_readable_json_is_a_bad_request(body: str) -> None:
    with pytest.raises(MalformedRequest):
        _read({"data.id": "123", "type": "payment"}, body)


@pytest.mark.parametrize("data_id", ["../merchant_orders/1", "12a", "", " "])
def test_only_numeric_payment_ids_are_fetched(data_id: str) -> None:
    with pytest.raises(InvalidRequest):
        _read({"data.id": data_id, "type": "payment"}, None).payment_id()


def test_a_signed_notification_is_accepted_and_a_forged_one_refused() -> None:
    from webhook_notification import verify_notification

    settings = Settings(mercadopago_webhook_secret=SECRET, stage="prod")
    good = {"x-signature": f"ts=1,v1={sign(SECRET, '123', 'request-1', '1')}", "X-Request-Id": "request-1"}

    verify_notification(settings, good, "123")
    with pytest.raises(NotAuthenticated):
        verify_notification(settings, {**good, "X-Request-Id": "request-2"}, "123")


def test_without_a_secret_only_the_local_stack_accepts_unsigned_notifications() -> None:
    from webhook_notification import verify_notification

    verify_notification(Settings(stage="local"), {}, "123")
    with pytest.raises(NotAuthenticated):
        verify_notification(Settings(stage="prod"), {}, "123")
