"""Orders for admins: listing, detail, refunds through the MercadoPago emulator, resend through the outbox and the
notify function, manual confirmation."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from crowdify.adapters.mercadopago_client import payments
from crowdify.config.settings import reset_settings
from crowdify.domain.admin_refunds import REFUND_UNANSWERED, REFUND_WAITING, SettledRefunds, settle_unanswered_refunds
from crowdify.persistence.database import engine
from local.mercadopago_emulator import MercadoPagoEmulator
from local.sendgrid_emulator import SendGridEmulator
from tests.support.admin_data import KnownData, build_known_data
from tests.support.api_gateway import call
from tests.support.faults import TcpProxy
from tests.support.identities import Identity
from tests.support.mercadopago import MERCADOPAGO_TEST_ACCESS_TOKEN, emulator_call
from tests.support.notify import run_notify, sqs_records
from tests.support.orders import PendingOrder, create_event, create_pending_order
from tests.support.paid_orders import (
    AwsResources,
    create_payment,
    fetch_payment,
    post_notification,
    update_payment,
)
from tests.support.purchases import purchase_body
from tests.support.races import all_at_once
from tests.support.sendgrid import sent_emails

ORDERS = "/api/v1/admin/orders"
ORDER = "/api/v1/admin/orders/{order_id}"
REFUND = "/api/v1/admin/orders/{order_id}/refund"
RESEND = "/api/v1/admin/orders/{order_id}/resend"
CONFIRM = "/api/v1/admin/orders/{order_id}/confirm"


def paid_through_mercadopago(
    emulator: MercadoPagoEmulator, buyer: Identity, attendees: int
) -> tuple[PendingOrder, str]:
    """A pending order paid in the emulator and completed by the webhook, as in production."""
    order = create_pending_order(create_event(), buyer.user_id, attendees=attendees, buyer_email=buyer.email)
    payment_id = create_payment(emulator, order.id, order.total)
    assert post_notification(payment_id).status == 200
    return order, payment_id


def order_state(order_id: uuid.UUID) -> dict[str, Any]:
    """Everything a refund could change locally."""
    with engine().connect() as connection:
        order = connection.execute(
            text("SELECT status, refunded_amount FROM orders WHERE id = :id"), {"id": order_id}
        ).one()
        tickets = connection.execute(
            text("SELECT id, status FROM tickets WHERE order_id = :id ORDER BY id"), {"id": order_id}
        ).all()
        refunds = connection.execute(
            text("SELECT idempotency_key, provider_refund_id, amount FROM refunds WHERE order_id = :id ORDER BY 1"),
            {"id": order_id},
        ).all()
        audit = (
            connection.execute(
                text("SELECT action FROM audit_log WHERE entity_id = :id ORDER BY id"), {"id": str(order_id)}
            )
            .scalars()
            .all()
        )
    return {
        "status": order.status,
        "refunded_amount": order.refunded_amount,
        "tickets": [(str(t.id), t.status) for t in tickets],
        "refunds": [tuple(r) for r in refunds],
        "audit": list(audit),
    }


def refund(admin: Identity, order_id: uuid.UUID, body: dict[str, Any], key: str | None = None):
    headers = {"Idempotency-Key": key} if key else None
    return call(
        "post_admin_order_refund",
        "POST",
        REFUND,
        {"order_id": str(order_id)},
        body=body,
        headers=headers,
        token=admin.token,
    )


@pytest.mark.usefixtures("aws_resources")
def test_full_refund_cancels_every_ticket_and_the_webhook_changes_nothing_more(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=2)
    refunded = refund(admin, order.id, {"reason": "evento reprogramado"}, key="refund-full-1")
    assert refunded.status == 200, refunded.body
    body = refunded.json()
    assert (body["status"], body["refunded_amount"], body["total"]) == ("refunded", 30000, 30000)
    assert [ticket["status"] for ticket in body["tickets"]] == ["cancelled", "cancelled"]
    [made] = body["refunds"]
    assert made["provider_refund_id"] and (made["amount"], made["reason"]) == (30000, "admin_full_refund")
    assert made["requested_by"] == str(admin.user_id)
    payment = fetch_payment(mercadopago, payment_id)
    assert payment["status"] == "refunded" and len(payment["refunds"]) == 1
    history = [entry["action"] for entry in body["history"]]
    assert history == ["order.completed", "order.refund"]
    refund_entry = body["history"][1]
    assert refund_entry["actor_user_id"] == str(admin.user_id) and refund_entry["reason"] == "evento reprogramado"
    assert refund_entry["before"] == {"status": "completed", "refunded_amount": 0}

    after_refund = order_state(order.id)
    assert post_notification(payment_id).status == 200, "the notification MercadoPago sends after the refund"
    assert order_state(order.id) == after_refund

    again = refund(admin, order.id, {"reason": "evento reprogramado"}, key="refund-full-1")
    assert again.status == 200 and again.json()["status"] == "refunded"
    assert len(fetch_payment(mercadopago, payment_id)["refunds"]) == 1, "the same key refunds once"
    assert order_state(order.id) == after_refund
    assert refund(admin, order.id, {}, key="refund-full-2").status == 409, "nothing is left to refund"


@pytest.mark.usefixtures("aws_resources")
def test_partial_refunds_cancel_only_the_named_tickets(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=3)
    tickets = [ticket_id for ticket_id, _ in order_state(order.id)["tickets"]]
    first = refund(admin, order.id, {"amount": 15000, "ticket_ids": [tickets[1]]}, key="partial-1")
    assert first.status == 200, first.body
    state = order_state(order.id)
    assert (state["status"], state["refunded_amount"]) == ("partially_refunded", 15000)
    assert dict(state["tickets"]) == {tickets[0]: "issued", tickets[1]: "cancelled", tickets[2]: "issued"}
    assert fetch_payment(mercadopago, payment_id)["transaction_amount_refunded"] == 15000

    assert post_notification(payment_id).status == 200
    assert order_state(order.id) == state, "the webhook that follows changes nothing more"

    too_much = refund(admin, order.id, {"amount": 30000.01}, key="partial-2")
    assert too_much.status == 422 and order_state(order.id) == state
    not_ours = refund(admin, order.id, {"amount": 100, "ticket_ids": [str(uuid.uuid4())]}, key="partial-3")
    assert not_ours.status == 422
    cancelled_again = refund(admin, order.id, {"amount": 100, "ticket_ids": [tickets[1]]}, key="partial-4")
    assert cancelled_again.status == 409 and order_state(order.id) == state

    rest = refund(admin, order.id, {"amount": 30000}, key="partial-5")
    assert rest.status == 200
    final = order_state(order.id)
    assert (final["status"], final["refunded_amount"]) == ("refunded", 45000)
    assert {status for _, status in final["tickets"]} == {"cancelled"}, "reaching the total is a full refund"
    assert post_notification(payment_id).status == 200
    assert order_state(order.id) == final


@pytest.fixture
def mercadopago_behind_proxy(mercadopago: MercadoPagoEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[TcpProxy]:
    """The functions reach MercadoPago through a proxy of the test's own, which can lose an answer."""
    port = urllib.parse.urlsplit(mercadopago.url).port
    assert port is not None
    proxy = TcpProxy("127.0.0.1", port).start()
    monkeypatch.setenv("MERCADOPAGO_API_BASE_URL", f"http://127.0.0.1:{proxy.port}")
    reset_settings()
    payments.cache_clear()
    yield proxy
    proxy.stop()
    payments.cache_clear()


def age_refund_intents() -> None:
    """As if the refunds had been asked for long enough ago for the sweep to settle them."""
    with engine().begin() as connection:
        connection.execute(text("UPDATE refunds SET created_at = now() - interval '10 minutes'"))


def settle_refunds() -> SettledRefunds:
    """The sweep's second step, with a whole minute left."""
    return settle_unanswered_refunds(payments(), lambda: 60.0)


def mercadopago_faults(emulator: MercadoPagoEmulator, count: int) -> None:
    status, _ = emulator_call(emulator, "POST", "/_emulator/faults", {"mode": "500", "count": count})
    assert status == 200


@pytest.mark.usefixtures("aws_resources")
def test_a_refund_mercadopago_refuses_changes_nothing(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=2)
    before = order_state(order.id)
    update_payment(mercadopago, payment_id, "refunded")  # refunded in MercadoPago's dashboard, not through us

    refused = refund(admin, order.id, {"amount": 15000, "ticket_ids": [before["tickets"][0][0]]}, key="refused-1")

    assert refused.status == 422, refused.body
    assert order_state(order.id) == before, "no intent is kept for a refund MercadoPago said no to"


@pytest.mark.usefixtures("aws_resources")
def test_a_refund_whose_answer_is_lost_is_kept_and_settled_once_by_the_sweep(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator, mercadopago_behind_proxy: TcpProxy
) -> None:
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=2)
    [first_ticket, second_ticket] = [ticket_id for ticket_id, _ in order_state(order.id)["tickets"]]

    # A reset on a kept connection is retried once on a new one (same key): both answers are lost.
    with mercadopago_behind_proxy.answers_lost():
        lost = refund(admin, order.id, {"amount": 15000, "ticket_ids": [first_ticket]}, key="lost-1")

    assert lost.status == 503 and lost.json() == {"detail": REFUND_UNANSWERED}
    [made] = fetch_payment(mercadopago, payment_id)["refunds"]
    state = order_state(order.id)
    assert state["refunds"] == [("admin-refund-lost-1", None, 15000)], "the intent is kept"
    assert state["status"] == "completed" and {status for _, status in state["tickets"]} == {"issued"}
    waiting = refund(admin, order.id, {"amount": 100}, key="another-1")
    assert waiting.status == 409 and waiting.json() == {"detail": REFUND_WAITING}

    # The notification of the refund MercadoPago made finds the intent, so it cancels the ticket the refund names.
    assert post_notification(payment_id).status == 200
    notified = order_state(order.id)
    assert (notified["status"], notified["refunded_amount"]) == ("partially_refunded", 15000)
    assert dict(notified["tickets"]) == {first_ticket: "cancelled", second_ticket: "issued"}

    assert settle_refunds().made == 0, "too recent: its request may still be answered"
    age_refund_intents()
    assert settle_refunds().as_dict() == {
        "refunds_made": 1,
        "refunds_refused": 0,
        "refunds_unanswered": 0,
    }

    settled = order_state(order.id)
    assert settled["refunds"] == [("admin-refund-lost-1", str(made["id"]), 15000)]
    assert (settled["status"], settled["refunded_amount"], settled["tickets"]) == (
        notified["status"],
        notified["refunded_amount"],
        notified["tickets"],
    )
    # The notification's change, then the admin's refund as the sweep settled it.
    assert settled["audit"] == ["order.completed", "order.partially_refunded", "order.refund"]
    assert len(fetch_payment(mercadopago, payment_id)["refunds"]) == 1, "asked again with the same key: one refund"
    assert settle_refunds().made == 0
    again = refund(admin, order.id, {"amount": 15000, "ticket_ids": [first_ticket]}, key="lost-1")
    assert again.status == 200 and order_state(order.id) == settled
    assert refund(admin, order.id, {"amount": 100}, key="another-1").status == 200, "the next refund may start"


@pytest.mark.usefixtures("aws_resources")
def test_a_refund_unanswered_while_mercadopago_fails_is_made_once_it_is_back(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=2)
    [first_ticket, _] = [ticket_id for ticket_id, _ in order_state(order.id)["tickets"]]
    mercadopago_faults(mercadopago, 1)

    failed = refund(admin, order.id, {"amount": 15000, "ticket_ids": [first_ticket]}, key="flaky-1")

    assert failed.status == 503 and failed.json() == {"detail": REFUND_UNANSWERED}
    assert fetch_payment(mercadopago, payment_id)["transaction_amount_refunded"] == 0
    age_refund_intents()
    assert settle_unanswered_refunds(payments(), lambda: 5.0).unanswered == 1, "no time left to ask"
    mercadopago_faults(mercadopago, 1)
    assert settle_refunds().unanswered == 1, "still no answer: left for the next run"
    assert order_state(order.id)["refunds"] == [("admin-refund-flaky-1", None, 15000)]

    assert settle_refunds().made == 1
    state = order_state(order.id)
    assert (state["status"], state["refunded_amount"]) == ("partially_refunded", 15000)
    assert dict(state["tickets"])[first_ticket] == "cancelled"
    retried = refund(admin, order.id, {"amount": 15000, "ticket_ids": [first_ticket]}, key="flaky-1")
    assert retried.status == 200 and order_state(order.id) == state
    assert len(fetch_payment(mercadopago, payment_id)["refunds"]) == 1


@pytest.mark.usefixtures("aws_resources")
def test_an_unanswered_refund_mercadopago_then_refuses_is_forgotten(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=2)
    before = order_state(order.id)
    mercadopago_faults(mercadopago, 1)
    assert refund(admin, order.id, {}, key="doomed-1").status == 503
    update_payment(mercadopago, payment_id, "charged_back")  # disputed meanwhile: MercadoPago refunds it no more
    age_refund_intents()

    assert settle_refunds().as_dict() == {
        "refunds_made": 0,
        "refunds_refused": 1,
        "refunds_unanswered": 0,
    }
    assert order_state(order.id) == before


@pytest.mark.usefixtures("aws_resources")
def test_a_refund_refused_for_another_reason_than_the_refund_itself_is_kept(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 401 (or 429) says nothing of whether an earlier call with the key made the refund: the intent must stay.
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=1)
    monkeypatch.setenv("MERCADOPAGO_ACCESS_TOKEN", "revoked-token")
    reset_settings()
    payments.cache_clear()

    refused = refund(admin, order.id, {}, key="token-1")

    assert refused.status == 503 and refused.json() == {"detail": REFUND_UNANSWERED}
    assert order_state(order.id)["refunds"] == [("admin-refund-token-1", None, 15000)]
    monkeypatch.setenv("MERCADOPAGO_ACCESS_TOKEN", MERCADOPAGO_TEST_ACCESS_TOKEN)
    reset_settings()
    payments.cache_clear()
    age_refund_intents()
    assert settle_refunds().made == 1
    assert order_state(order.id)["status"] == "refunded"
    assert len(fetch_payment(mercadopago, payment_id)["refunds"]) == 1


@pytest.mark.usefixtures("aws_resources")
def test_one_refund_still_unconfirmed_does_not_hold_back_the_others(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    orders = [paid_through_mercadopago(mercadopago, buyer, attendees=1)[0] for _ in range(2)]
    mercadopago_faults(mercadopago, 2)
    assert [refund(admin, order.id, {}, key=f"both-{index}").status for index, order in enumerate(orders)] == [503, 503]
    age_refund_intents()
    mercadopago_faults(mercadopago, 1)

    assert settle_refunds().as_dict() == {"refunds_made": 1, "refunds_refused": 0, "refunds_unanswered": 1}
    assert sorted(order_state(order.id)["status"] for order in orders) == ["completed", "refunded"]
    assert settle_refunds().made == 1
    assert [order_state(order.id)["status"] for order in orders] == ["refunded", "refunded"]


def test_an_idempotency_key_too_long_to_store_whole_is_refused_not_cut(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    # Cut to fit, two long keys sharing their first characters would be one key: the second refund would answer
    # with the first one's result.
    order, _ = paid_through_mercadopago(mercadopago, buyer, attendees=1)
    refused = refund(admin, order.id, {"amount": 100}, key="k" * 188)
    assert refused.status == 422 and refused.json() == {"detail": "Idempotency-Key is longer than 187 characters"}
    in_body = refund(admin, order.id, {"amount": 100, "idempotency_key": "k" * 188})
    assert in_body.status == 422
    assert order_state(order.id)["refunds"] == []
    purchase = call(
        "post_purchases",
        "POST",
        "/api/v1/purchases",
        body=purchase_body(buyer, str(uuid.uuid4())),
        headers={"Idempotency-Key": "k" * 201},
        token=buyer.token,
    )
    assert purchase.status == 422 and purchase.json() == {"detail": "Idempotency-Key is longer than 200 characters"}


@pytest.mark.usefixtures("aws_resources")
def test_five_concurrent_requests_with_one_key_make_one_refund(
    admin: Identity, buyer: Identity, mercadopago: MercadoPagoEmulator
) -> None:
    order, payment_id = paid_through_mercadopago(mercadopago, buyer, attendees=2)
    statuses = all_at_once(lambda _: refund(admin, order.id, {"amount": 15000}, key="double-click").status, racers=5)

    # The first request makes it; the others find its intent (200 once made, 409 while it waits for MercadoPago).
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}, statuses
    assert len(fetch_payment(mercadopago, payment_id)["refunds"]) == 1
    state = order_state(order.id)
    assert [key for key, _, _ in state["refunds"]] == ["admin-refund-double-click"]
    assert (state["status"], state["refunded_amount"]) == ("partially_refunded", 15000)


def test_a_pending_order_cannot_be_refunded(admin: Identity, buyer: Identity, mercadopago) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    assert refund(admin, order.id, {}).status == 409
    assert refund(admin, uuid.uuid4(), {}).status == 404
    assert order_state(order.id)["refunds"] == []


def test_resend_sends_exactly_one_more_email(
    coordinator: Identity,
    buyer: Identity,
    mercadopago: MercadoPagoEmulator,
    aws_resources: AwsResources,
    sendgrid: SendGridEmulator,
) -> None:
    order, _ = paid_through_mercadopago(mercadopago, buyer, attendees=2)
    paid_messages = [json.dumps(body) for body in aws_resources.received_messages()]
    assert len(paid_messages) == 1
    assert run_notify(*sqs_records(*paid_messages)) == []
    assert len(sent_emails(sendgrid)) == 1

    resent = call("post_admin_order_resend", "POST", RESEND, {"order_id": str(order.id)}, token=coordinator.token)
    assert resent.status == 202, resent.body
    assert resent.json()["queued"] is True
    resend_messages = [json.dumps(body) for body in aws_resources.received_messages()]
    assert [json.loads(body)["reason"] for body in resend_messages] == ["resend"]
    assert json.loads(resend_messages[0])["message_id"] == resent.json()["message_id"]
    # SQS may deliver a message more than once: the second delivery sends nothing.
    assert run_notify(*sqs_records(*resend_messages, *resend_messages)) == []
    sent = sent_emails(sendgrid)
    assert len(sent) == 2 and sent[1]["to"] == [buyer.email]
    assert order_state(order.id)["audit"] == ["order.completed", "order.resend"]

    pending = create_pending_order(create_event(), buyer.user_id)
    refused = call("post_admin_order_resend", "POST", RESEND, {"order_id": str(pending.id)}, token=coordinator.token)
    assert refused.status == 409 and aws_resources.received_messages() == []


def test_admin_confirms_a_pending_order_paid_by_other_means(
    admin: Identity, buyer: Identity, aws_resources: AwsResources
) -> None:
    order = create_pending_order(create_event(), buyer.user_id, attendees=2, buyer_email=buyer.email)
    missing_reason = call(
        "post_admin_order_confirm", "POST", CONFIRM, {"order_id": str(order.id)}, body={}, token=admin.token
    )
    assert missing_reason.status == 422
    confirmed = call(
        "post_admin_order_confirm",
        "POST",
        CONFIRM,
        {"order_id": str(order.id)},
        body={"reason": "pagó por transferencia", "payment_reference": "TRX-991"},
        token=admin.token,
    )
    assert confirmed.status == 200, confirmed.body
    body = confirmed.json()
    assert body["status"] == "completed" and body["payment_id"] is None and body["paid_at"]
    assert [ticket["status"] for ticket in body["tickets"]] == ["issued", "issued"]
    [entry] = body["history"]
    assert entry["action"] == "order.completed" and entry["actor_user_id"] == str(admin.user_id)
    assert entry["reason"] == "pagó por transferencia (payment reference: TRX-991)"
    assert [message["reason"] for message in aws_resources.received_messages()] == ["paid"]

    again = call(
        "post_admin_order_confirm",
        "POST",
        CONFIRM,
        {"order_id": str(order.id)},
        body={"reason": "otra vez"},
        token=admin.token,
    )
    assert again.status == 409
    manual_refund = refund(admin, order.id, {})
    assert manual_refund.status == 409 and "by hand" in manual_refund.json()["detail"]


def test_orders_list_and_detail(coordinator: Identity, db: str) -> None:
    known: KnownData = build_known_data()

    def listed(**query: str) -> dict[str, Any]:
        response = call("get_admin_orders", "GET", ORDERS, query=query, token=coordinator.token)
        assert response.status == 200, response.body
        return response.json()

    everything = listed()
    assert everything["total"] == 11 and len(everything["orders"]) == 11
    of_b = listed(event_id=str(known.events["B"]))
    assert {order["id"] for order in of_b["orders"]} == {str(known.orders[key]) for key in ("B1", "B2", "B3")}
    pending = listed(status="pending")
    assert {order["id"] for order in pending["orders"]} == {str(known.orders[key]) for key in ("A4", "A5", "B3")}
    by_buyer = listed(buyer_email="BETO@")
    assert by_buyer["total"] == 6, "A2, A4, A6, A7, B2 and C1"
    page = listed(limit="4", offset="8")
    assert len(page["orders"]) == 3 and page["total"] == 11
    a1 = next(order for order in everything["orders"] if order["id"] == str(known.orders["A1"]))
    assert (a1["total"], a1["ticket_count"], a1["event_name"], a1["currency"]) == (28000, 3, "Concierto", "CLP")
    assert call("get_admin_orders", "GET", ORDERS, query={"status": "lost"}, token=coordinator.token).status == 422

    detail = call("get_admin_order", "GET", ORDER, {"order_id": str(known.orders["A1"])}, token=coordinator.token)
    assert detail.status == 200, detail.body
    items = {item["name"]: (item["quantity"], item["unit_price"], item["subtotal"]) for item in detail.json()["items"]}
    assert items == {"General": (2, 10000, 20000), "Niño": (1, 5000, 5000), "Estacionamiento": (1, 3000, 3000)}
    assert len(detail.json()["tickets"]) == 3
    assert call("get_admin_order", "GET", ORDER, {"order_id": "x"}, token=coordinator.token).status == 404
