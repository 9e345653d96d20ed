"""Free tickets: an order that costs nothing is completed at once, without MercadoPago, and becomes tickets and one
email like a paid one; capacity, idempotency and the rest of the purchase rules hold as for a paid order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crowdify.auth.qr_tokens import keyring_from_settings
from crowdify.config.settings import get_settings
from local.mercadopago_emulator import MercadoPagoEmulator
from local.sendgrid_emulator import SendGridEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity
from tests.support.mercadopago import emulator_call
from tests.support.notify import run_notify, sqs_record
from tests.support.paid_orders import AwsResources
from tests.support.purchases import (
    attendee,
    buy,
    claims_are_exact,
    create_event,
    held_seats,
    purchase_body,
    rows,
    scalar,
)
from tests.support.sendgrid import sent_emails


@pytest.fixture
def mercadopago_down(checkout: MercadoPagoEmulator) -> MercadoPagoEmulator:
    """Every MercadoPago call fails: a free order must not need one."""
    emulator_call(checkout, "POST", "/_emulator/faults", {"mode": "500", "count": 1000})
    return checkout


def free_event(admin: Identity, **overrides: Any) -> dict[str, Any]:
    return create_event(admin, price=0, services=[], **overrides)


@pytest.mark.usefixtures("mercadopago_down")
def test_a_free_order_is_completed_at_once_and_becomes_tickets_and_one_email(
    admin: Identity, buyer: Identity, aws_resources: AwsResources, sendgrid: SendGridEmulator
) -> None:
    event = free_event(admin)

    response = buy(buyer, purchase_body(buyer, event["id"], [attendee("Ana Pérez"), attendee("Luis Soto")]))

    assert response.status == 200, response.body
    answer = response.json()
    frontend = get_settings().frontend_base_url.rstrip("/")
    assert answer == {
        "order_id": answer["order_id"],
        "status": "completed",
        "payment_link": f"{frontend}/purchase/success?order_id={answer['order_id']}",
        "total": 0,
        "discount": 0,
    }
    [order] = rows("SELECT * FROM orders WHERE id = :id", id=answer["order_id"])
    assert (order.status, order.total, order.payment_provider) == ("completed", 0, "free")
    assert order.paid_at is not None and order.preference_id is None and order.payment_id is None
    tickets = rows("SELECT * FROM tickets WHERE order_id = :id ORDER BY holder_first_name", id=order.id)
    assert [(t.holder_first_name, t.status) for t in tickets] == [("Ana", "issued"), ("Luis", "issued")]
    keyring = keyring_from_settings(get_settings())
    assert {keyring.verify(t.qr_signature).ticket_id for t in tickets} == {t.id for t in tickets}
    assert held_seats(event["id"]) == 2 and claims_are_exact(event["id"])

    status = call(
        "get_purchase_status",
        "GET",
        "/api/v1/purchases/{order_id}/status",
        {"order_id": answer["order_id"]},
        token=buyer.token,
    ).json()
    assert (status["status"], status["total"], status["payment_provider"]) == ("completed", 0, "free")

    [message] = aws_resources.received_messages()
    assert (message["order_id"], message["reason"]) == (answer["order_id"], "paid")
    assert run_notify(sqs_record(json.dumps(message))) == []
    [email] = sent_emails(sendgrid)
    assert email["to"] == [buyer.email] and len(email["attachments"]) == 1


@pytest.mark.usefixtures("mercadopago_down")
def test_the_same_key_returns_the_same_free_order_and_issues_nothing_more(
    admin: Identity, buyer: Identity, aws_resources: AwsResources
) -> None:
    event = free_event(admin)
    body = purchase_body(buyer, event["id"], idempotency_key="free-once")

    first, again = buy(buyer, body), buy(buyer, body)

    assert first.status == again.status == 200
    assert again.json() == first.json()
    assert scalar("SELECT count(*) FROM orders") == 1
    assert scalar("SELECT count(*) FROM tickets") == 1
    assert len(aws_resources.received_messages()) == 1


@pytest.mark.usefixtures("mercadopago_down")
def test_free_tickets_cannot_oversell(admin: Identity, buyer: Identity, aws_resources: AwsResources) -> None:
    event = free_event(admin, capacity_total=2)
    assert buy(buyer, purchase_body(buyer, event["id"], [attendee(), attendee()])).status == 200

    sold_out = buy(buyer, purchase_body(buyer, event["id"]))

    assert sold_out.status == 409 and "detail" in sold_out.json()
    assert scalar("SELECT count(*) FROM tickets") == 2
    assert held_seats(event["id"]) == 2


def test_a_free_ticket_in_a_paid_order_stays_out_of_the_checkout(
    admin: Identity, buyer: Identity, checkout: MercadoPagoEmulator
) -> None:
    event = create_event(admin, price=0, services=[{"name": "Estacionamiento", "price": 2500, "stock_total": 5}])
    service = event["event_services"][0]

    response = buy(buyer, purchase_body(buyer, event["id"], selected_services={service["id"]: 2}))

    assert response.status == 200, response.body
    answer = response.json()
    assert answer["status"] == "pending" and answer["payment_link"].startswith(checkout.url + "/checkout/")
    preference_id = answer["payment_link"].rsplit("/", 1)[1]
    status, preference = emulator_call(checkout, "GET", f"/_emulator/preferences/{preference_id}")
    assert status == 200
    assert [(item["quantity"], item["unit_price"]) for item in preference["items"]] == [(2, 2500)]
    assert scalar("SELECT total FROM orders") == 5000
    assert scalar("SELECT count(*) FROM order_items") == 2, "the free ticket is in the order"
    assert scalar("SELECT count(*) FROM tickets") == 0, "nothing is issued before the payment"


@pytest.mark.usefixtures("mercadopago_down")
def test_a_paid_order_fails_cleanly_while_mercadopago_is_down(admin: Identity, buyer: Identity) -> None:
    event = create_event(admin, price=0, services=[{"name": "Estacionamiento", "price": 2500, "stock_total": 5}])
    service = event["event_services"][0]

    response = buy(buyer, purchase_body(buyer, event["id"], selected_services={service["id"]: 1}))

    assert response.status == 503 and "MercadoPago" in response.json()["detail"]
    assert scalar("SELECT status FROM orders") == "cancelled"
    assert scalar("SELECT count(*) FROM tickets") == 0
    assert held_seats(event["id"]) == 0


@pytest.mark.usefixtures("mercadopago_down")
def test_a_free_order_has_nothing_to_refund(admin: Identity, buyer: Identity, aws_resources: AwsResources) -> None:
    event = free_event(admin)
    order_id = buy(buyer, purchase_body(buyer, event["id"])).json()["order_id"]

    refused = call(
        "post_admin_order_refund",
        "POST",
        "/api/v1/admin/orders/{order_id}/refund",
        {"order_id": order_id},
        body={"reason": "changed their mind"},
        token=admin.token,
        headers={"Idempotency-Key": "refund-free"},
    )

    assert refused.status == 409
    assert refused.json() == {"detail": "This order was free: there is no payment to refund"}
    assert scalar("SELECT status FROM orders") == "completed"
    assert scalar("SELECT count(*) FROM refunds") == 0
