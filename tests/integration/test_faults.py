"""Fault tests (issue 7, item 6): each dependency fails in turn. While it is down the API answers 503 with a JSON
`detail` (never a bare 500), the background functions fail in a way their trigger retries, and nothing is half
written; once it is back, the same requests, redelivered notifications and SQS records complete the purchase, the
paid order and its one email, with no manual repair.

Postgres goes away behind a TCP proxy of the test's own (the shared server never stops); MercadoPago and SendGrid
through their emulators' fault routes; S3 and SQS by stopping a real moto server.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from crowdify.adapters.mercadopago_client import payments
from crowdify.config.settings import reset_settings
from crowdify.core.errors import DependencyUnavailable
from crowdify.domain.order_payments import complete_order
from crowdify.persistence.database import driver_url_and_arguments, engine
from crowdify.persistence.models import Order
from crowdify.persistence.sessions import db_session
from local.mercadopago_emulator import MercadoPagoEmulator
from local.sendgrid_emulator import SendGridEmulator
from tests.support.api_gateway import HttpResponse, LambdaContext, call
from tests.support.faults import AwsEndpoint, TcpProxy, proxy_stopped_at, proxy_stopped_before_statement
from tests.support.identities import Identity
from tests.support.mercadopago import emulator_call
from tests.support.notify import run_notify, sqs_record
from tests.support.orders import create_event as create_test_event
from tests.support.orders import create_pending_order
from tests.support.paid_orders import AwsResources, create_payment, post_notification
from tests.support.purchases import attendee, buy, claims_are_exact, create_event, held_seats, purchase_body
from tests.support.sendgrid import sent_emails

EVENTS = "/api/v1/events"


# -- what the platform would invoke -------------------------------------------------------------------------------


def list_events() -> HttpResponse:
    return call("get_events", "GET", EVENTS)


def readiness() -> HttpResponse:
    return call("get_ready", "GET", "/ready")


def run_expiry_sweep() -> dict[str, int]:
    from scheduled_expire_holds import lambda_handler

    return lambda_handler({"detail-type": "Scheduled Event", "detail": {}}, LambdaContext(function_name="expire"))


def run_outbox_relay() -> dict[str, int]:
    from scheduled_outbox_relay import lambda_handler

    return lambda_handler({"detail-type": "Scheduled Event", "detail": {}}, LambdaContext(function_name="relay"))


# -- what happened ------------------------------------------------------------------------------------------------


def rows(database: Engine, sql: str, **parameters: Any) -> list[dict[str, Any]]:
    with database.connect() as connection:
        return [dict(row) for row in connection.execute(text(sql), parameters).mappings()]


def count(database: Engine, sql: str, **parameters: Any) -> int:
    with database.connect() as connection:
        return connection.execute(text(sql), parameters).scalar_one()


def order_state(database: Engine, order_id: Any) -> dict[str, Any]:
    """An order's status with what hangs off it: tickets, outbox messages, payments recorded, emails."""
    return rows(
        database,
        """
        SELECT o.status, o.payment_id,
               (SELECT count(*) FROM tickets t WHERE t.order_id = o.id) AS tickets,
               (SELECT count(*) FROM outbox_messages m WHERE m.payload ->> 'order_id' = o.id::text) AS messages,
               (SELECT count(*) FROM payments p WHERE p.order_id = o.id) AS payments,
               (SELECT count(*) FROM email_deliveries d WHERE d.order_id = o.id) AS deliveries
          FROM orders o WHERE o.id = :order_id
        """,
        order_id=order_id,
    )[0]


def assert_503_with_detail(response: HttpResponse) -> None:
    assert response.status == 503, response.body
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def set_mercadopago_faults(emulator: MercadoPagoEmulator, mode: str, count: int) -> None:
    status, answer = emulator_call(emulator, "POST", "/_emulator/faults", {"mode": mode, "count": count})
    assert status == 200, answer


def set_sendgrid_faults(emulator: SendGridEmulator, mode: str, count: int, delay_seconds: float) -> None:
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/faults",
        data=json.dumps({"mode": mode, "count": count, "delay_seconds": delay_seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


@pytest.fixture
def direct_database(db: str) -> Any:
    """The test database reached directly, for checks that must neither fail with the proxy nor warm its pool."""
    url, connect_args = driver_url_and_arguments(db)
    database = create_engine(url, connect_args=connect_args)
    yield database
    database.dispose()


@pytest.fixture
def short_mercadopago_timeout(mercadopago: MercadoPagoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulator's timeout fault holds its answer for 10 s: the client gives up long before.
    monkeypatch.setenv("MERCADOPAGO_TIMEOUT_SECONDS", "1")
    reset_settings()
    payments.cache_clear()


# -- Postgres -----------------------------------------------------------------------------------------------------


def test_postgres_gone_answers_503_and_everything_completes_once_it_is_back(
    database_proxy: TcpProxy,
    direct_database: Engine,
    mercadopago: MercadoPagoEmulator,
    sendgrid: SendGridEmulator,
    aws_resources: AwsResources,
    admin: Identity,
    buyer: Identity,
    other_buyer: Identity,
) -> None:
    # Through the proxy while it is up: an event, an order awaiting its webhook, an order past its hold (another
    # buyer's: one buyer has at most two live pending orders per event), and a paid order whose message is on the queue.
    event_id = create_event(admin, capacity_total=10)["id"]
    awaiting, overdue, paid = (
        buy(owner, purchase_body(owner, event_id, [attendee(f"Persona {n}")])).json()["order_id"]
        for n, owner in enumerate((buyer, other_buyer, buyer))
    )
    with direct_database.begin() as connection:
        connection.execute(
            text("UPDATE orders SET hold_expires_at = now() - interval '1 second' WHERE id = :id"), {"id": overdue}
        )
    awaiting_payment = create_payment(mercadopago, awaiting, 10000)
    assert post_notification(create_payment(mercadopago, paid, 10000)).json()["action"] == "completed"
    [queued] = aws_resources.received_messages()
    record = sqs_record(json.dumps(queued))

    # A blip: every pooled connection is cut and the database is back at once. Pre-ping replaces the dead ones.
    assert list_events().status == 200
    database_proxy.stop()
    database_proxy.start()
    first = list_events()
    assert first.status == 200, first.body

    database_proxy.stop()
    retried_purchase = purchase_body(buyer, event_id, [attendee("Persona Nueva")], idempotency_key="after-outage")
    assert_503_with_detail(list_events())
    assert_503_with_detail(buy(buyer, retried_purchase))
    assert_503_with_detail(post_notification(awaiting_payment))
    down = readiness()
    assert down.status == 503
    assert down.json()["checks"]["database"] == "unavailable"
    with pytest.raises(DependencyUnavailable):
        # A scheduled function that raises is retried by the platform, and the next run sweeps anyway.
        run_expiry_sweep()
    assert run_notify(record) == [record["messageId"]]

    # Nothing was half written while it was down.
    assert order_state(direct_database, awaiting) == {
        "status": "pending",
        "payment_id": None,
        "tickets": 0,
        "messages": 0,
        "payments": 0,
        "deliveries": 0,
    }
    assert order_state(direct_database, overdue)["status"] == "pending"
    assert order_state(direct_database, paid)["deliveries"] == 0
    assert count(direct_database, "SELECT count(*) FROM orders WHERE idempotency_key = 'after-outage'") == 0
    assert sent_emails(sendgrid) == []

    database_proxy.start()
    first = list_events()
    assert first.status == 200, first.body
    purchased = buy(buyer, retried_purchase)
    assert purchased.status == 200, purchased.body
    assert post_notification(awaiting_payment).json()["action"] == "completed"
    assert run_expiry_sweep()["expired"] == 1
    assert run_notify(record) == []
    assert readiness().status == 200

    assert order_state(direct_database, awaiting) == {
        "status": "completed",
        "payment_id": awaiting_payment,
        "tickets": 1,
        "messages": 1,
        "payments": 1,
        "deliveries": 0,
    }
    assert order_state(direct_database, overdue)["status"] == "expired"
    [email] = sent_emails(sendgrid)
    assert email["to"] == [buyer.email]
    assert [row["status"] for row in rows(direct_database, "SELECT status FROM email_deliveries")] == ["sent"]
    assert claims_are_exact(event_id)


def test_postgres_lost_in_the_middle_of_a_purchase_or_a_webhook_leaves_what_the_retry_completes(
    database_proxy: TcpProxy,
    direct_database: Engine,
    mercadopago: MercadoPagoEmulator,
    aws_resources: AwsResources,
    admin: Identity,
    buyer: Identity,
) -> None:
    event_id = create_event(admin, capacity_total=1, services=[])["id"]
    body = purchase_body(buyer, event_id, idempotency_key="cut-mid-purchase")

    # Seats held and the checkout opened, then the database goes before the payment link is saved.
    with proxy_stopped_before_statement(database_proxy, lambda statement: "preference_id" in statement):
        assert_503_with_detail(buy(buyer, body))
    database_proxy.start()
    [order] = rows(direct_database, "SELECT id, status, payment_link FROM orders")
    assert (order["status"], order["payment_link"]) == ("pending", None)
    assert claims_are_exact(event_id)

    retried = buy(buyer, body)
    assert retried.status == 200, retried.body
    assert retried.json()["order_id"] == str(order["id"]), "the retry finishes the same order and its one seat"
    assert retried.json()["payment_link"]
    payment_id = create_payment(mercadopago, order["id"], 10000)

    # The webhook's transaction is lost at its commit: all of it or nothing.
    with proxy_stopped_at(engine(), database_proxy, "commit"):
        assert_503_with_detail(post_notification(payment_id))
    database_proxy.start()
    assert order_state(direct_database, order["id"]) == {
        "status": "pending",
        "payment_id": None,
        "tickets": 0,
        "messages": 0,
        "payments": 0,
        "deliveries": 0,
    }

    assert post_notification(payment_id).json()["action"] == "completed"
    state = order_state(direct_database, order["id"])
    assert (state["status"], state["tickets"], state["messages"]) == ("completed", 1, 1)
    assert [message["order_id"] for message in aws_resources.received_messages()] == [str(order["id"])]
    assert claims_are_exact(event_id)


# -- MercadoPago --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["500", "timeout"])
@pytest.mark.usefixtures("short_mercadopago_timeout")
def test_mercadopago_failing_holds_nothing_and_the_redelivered_webhook_completes_the_order(
    mode: str,
    mercadopago: MercadoPagoEmulator,
    aws_resources: AwsResources,
    direct_database: Engine,
    admin: Identity,
    buyer: Identity,
) -> None:
    # One seat: a hold left behind by the failed purchase would make its retry sold out.
    event_id = create_event(admin, capacity_total=1, services=[])["id"]
    body = purchase_body(buyer, event_id, idempotency_key=f"mercadopago-{mode}")

    set_mercadopago_faults(mercadopago, mode, 1)
    assert_503_with_detail(buy(buyer, body))
    assert held_seats(event_id) == 0
    assert count(direct_database, "SELECT count(*) FROM orders WHERE status = 'pending'") == 0
    assert claims_are_exact(event_id)

    purchased = buy(buyer, body)
    assert purchased.status == 200, purchased.body
    order_id = purchased.json()["order_id"]
    payment_id = create_payment(mercadopago, order_id, 10000)

    set_mercadopago_faults(mercadopago, mode, 1)
    failed = post_notification(payment_id)
    assert failed.status >= 500, "MercadoPago redelivers a notification that was not answered 2xx"
    assert_503_with_detail(failed)
    assert order_state(direct_database, order_id) == {
        "status": "pending",
        "payment_id": None,
        "tickets": 0,
        "messages": 0,
        "payments": 0,
        "deliveries": 0,
    }

    redelivered = post_notification(payment_id)
    assert redelivered.status == 200, redelivered.body
    assert redelivered.json()["action"] == "completed"
    state = order_state(direct_database, order_id)
    assert (state["status"], state["tickets"], state["messages"]) == ("completed", 1, 1)
    [message] = aws_resources.received_messages()
    assert message["order_id"] == order_id
    assert claims_are_exact(event_id)


# -- SendGrid -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["500", "timeout"])
def test_sendgrid_failing_is_retried_by_sqs_and_sends_exactly_one_email(
    mode: str,
    sendgrid: SendGridEmulator,
    aws_resources: AwsResources,
    direct_database: Engine,
    buyer: Identity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENDGRID_TIMEOUT_SECONDS", "1")
    reset_settings()
    order = create_pending_order(create_test_event(), buyer.user_id, attendees=2, buyer_email=buyer.email)
    with db_session() as session:
        row = session.get(Order, order.id, with_for_update=True)
        message = complete_order(session, row, payment_id="1234567", paid_at=row.created_at)
        record = sqs_record(json.dumps(message.payload))

    # The timeout fault answers only after the client has given up.
    set_sendgrid_faults(sendgrid, mode, 1, delay_seconds=2.5)
    assert run_notify(record) == [record["messageId"]]
    assert sent_emails(sendgrid) == []
    assert rows(direct_database, "SELECT status FROM email_deliveries") == []

    assert run_notify(record) == []
    assert run_notify(record) == [], "a later redelivery of a delivered message sends nothing"
    [email] = sent_emails(sendgrid)
    assert email["to"] == [buyer.email]
    assert len(email["attachments"]) == 1
    assert [row["status"] for row in rows(direct_database, "SELECT status FROM email_deliveries")] == ["sent"]


# -- S3 and SQS ---------------------------------------------------------------------------------------------------


def test_s3_and_sqs_stopped_lose_no_message_and_the_email_follows_once_they_are_back(
    moto_endpoint: AwsEndpoint,
    mercadopago: MercadoPagoEmulator,
    sendgrid: SendGridEmulator,
    direct_database: Engine,
    buyer: Identity,
) -> None:
    order = create_pending_order(create_test_event(), buyer.user_id, attendees=2, buyer_email=buyer.email)
    payment_id = create_payment(mercadopago, order.id, order.total)
    assert readiness().status == 200

    moto_endpoint.server.stop()

    answer = post_notification(payment_id)
    assert answer.status == 200, answer.body
    assert answer.json()["action"] == "completed"
    state = order_state(direct_database, order.id)
    assert (state["status"], state["tickets"]) == ("completed", 2)
    [outbox_row] = rows(direct_database, "SELECT id, payload, published_at, publish_attempts FROM outbox_messages")
    assert (outbox_row["published_at"], outbox_row["publish_attempts"]) == (None, 1)

    # The message never reached SQS; were it delivered anyway (say, by a resend), S3 being down fails it safely.
    direct_record = sqs_record(json.dumps(outbox_row["payload"]))
    assert run_notify(direct_record) == [direct_record["messageId"]]
    assert sent_emails(sendgrid) == []
    assert rows(direct_database, "SELECT status FROM email_deliveries") == []

    down = readiness()
    assert down.status == 503
    assert down.json()["checks"] == {"database": "ok", "queue": "unavailable", "bucket": "unavailable"}
    assert run_outbox_relay() == {"published": 0}
    assert rows(direct_database, "SELECT published_at FROM outbox_messages") == [{"published_at": None}]

    moto_endpoint.restart_empty()

    assert run_outbox_relay() == {"published": 1}
    [queued] = moto_endpoint.received_messages()
    assert json.loads(queued["Body"])["message_id"] == str(outbox_row["id"])
    assert run_notify(sqs_record(queued["Body"], queued["MessageId"])) == []

    [email] = sent_emails(sendgrid)
    assert email["to"] == [buyer.email]
    stored = moto_endpoint.s3.get_object(Bucket=moto_endpoint.bucket, Key=f"orders/{order.id}/tickets.pdf")
    assert stored["Body"].read().startswith(b"%PDF")
    assert [row["status"] for row in rows(direct_database, "SELECT status FROM email_deliveries")] == ["sent"]
    assert readiness().status == 200
