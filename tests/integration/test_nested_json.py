"""Bodies nested a thousand levels deep: a clear 4xx and one log line on every JSON route, never a RecursionError.

The user and admin routes read their bodies through the resolver (crowdify.http.api); the webhook reads its own, and
only once its signature holds.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import text

from crowdify.http.untrusted_json import MAX_NESTING
from crowdify.persistence.database import engine
from tests.support.api_gateway import call
from tests.support.identities import Identity
from tests.support.orders import create_event, create_pending_order
from tests.support.paid_orders import WEBHOOK, signature_headers

# Deeper than the interpreter's recursion limit, and nested just past the API's own limit.
RECURSION_DEPTH = 5000
NESTED_PAST_LIMIT = MAX_NESTING + 1


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def rows(table: str) -> int:
    with engine().connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def assert_one_warning_and_no_traceback(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> None:
    refusals = [record for record in caplog.records if record.name == "crowdify.http.untrusted_json"]
    assert [(record.levelno, record.exc_info) for record in refusals] == [(logging.WARNING, None)]
    printed = capfd.readouterr()
    assert "Traceback" not in printed.out + printed.err
    assert "unhandled error" not in printed.out + printed.err


@pytest.mark.parametrize("depth", [RECURSION_DEPTH, NESTED_PAST_LIMIT])
def test_a_deeply_nested_purchase_is_422_and_buys_nothing(
    buyer: Identity, depth: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    event = create_event()
    body = (
        f'{{"user_id": "{buyer.user_id}", "event_id": "{event.id}", '
        f'"attendees": [{{"name": "Ana Pérez", "document_type": "RUT", "document_number": "1-9", '
        f'"child_details": {{"notes": {nested(depth)}}}}}]}}'
    )
    capfd.readouterr()

    answer = call("post_purchases", "POST", "/api/v1/purchases", raw_body=body, token=buyer.token)

    assert answer.status == 422, answer.body
    assert answer.json() == {"detail": f"The JSON body is nested deeper than {MAX_NESTING} levels"}
    assert rows("orders") == 0
    assert_one_warning_and_no_traceback(caplog, capfd)


def test_a_deeply_nested_body_on_an_admin_route_is_422_and_changes_nothing(
    admin: Identity, buyer: Identity, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    capfd.readouterr()

    answer = call(
        "post_admin_order_confirm",
        "POST",
        "/api/v1/admin/orders/{order_id}/confirm",
        {"order_id": str(order.id)},
        raw_body='{"reason": ' + nested(RECURSION_DEPTH, '"paid"') + "}",
        token=admin.token,
    )

    assert answer.status == 422, answer.body
    assert "nested deeper" in answer.json()["detail"]
    with engine().connect() as connection:
        assert connection.execute(text("SELECT status FROM orders")).scalar_one() == "pending"
    assert_one_warning_and_no_traceback(caplog, capfd)


def post_nested_notification(headers: dict[str, str], depth: int) -> Any:
    return call(
        "post_purchases_webhook",
        "POST",
        WEBHOOK,
        query={"data.id": "424242", "type": "payment"},
        raw_body='{"type": "payment", "data": {"id": "424242"}, "extra": ' + nested(depth) + "}",
        headers=headers,
    )


@pytest.mark.parametrize("depth", [RECURSION_DEPTH, NESTED_PAST_LIMIT])
def test_a_signed_deeply_nested_notification_is_400_and_records_nothing(
    mercadopago: Any, depth: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    capfd.readouterr()

    answer = post_nested_notification(signature_headers("424242"), depth)

    assert answer.status == 400, answer.body
    assert answer.json() == {"detail": "The notification body is not readable JSON"}
    assert rows("payments") == 0
    assert_one_warning_and_no_traceback(caplog, capfd)


def test_an_unsigned_deeply_nested_notification_is_401_before_its_body_is_read(
    mercadopago: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    answer = post_nested_notification({"x-request-id": "r-1"}, RECURSION_DEPTH)

    assert answer.status == 401, answer.body
    assert rows("payments") == 0
    assert not [record for record in caplog.records if record.name == "crowdify.http.untrusted_json"]
