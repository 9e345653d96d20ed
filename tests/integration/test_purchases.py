"""POST /api/v1/purchases through its handler: holds, prices, rules, idempotency and MercadoPago failures."""

from __future__ import annotations

import uuid
from typing import Any

from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity, create_identity
from tests.support.mercadopago import emulator_call
from tests.support.purchases import (
    PURCHASES,
    attendee,
    buy,
    create_event,
    create_ticket_type,
    held_seats,
    purchase_body,
    rows,
    scalar,
)


def test_a_purchase_holds_seats_and_returns_the_checkout_link(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    adult_type = next(tt for tt in event["ticket_types"] if not tt["is_child"])
    service = event["event_services"][0]
    body = purchase_body(
        buyer,
        event["id"],
        [
            attendee("Ana María Pérez"),
            attendee("Tomás", is_child=True, child_details={"allergies": "maní", "emergency_contact_phone": "+569"}),
        ],
        selected_services={service["id"]: 2},
    )

    response = buy(buyer, body)

    assert response.status == 200, response.body
    answer = response.json()
    assert set(answer) == {"order_id", "payment_link", "status"}
    assert answer["status"] == "pending"
    assert answer["payment_link"].startswith(checkout.url + "/checkout/")
    order = rows("SELECT * FROM orders WHERE id = :id", id=answer["order_id"])[0]
    assert order.user_id == buyer.user_id and order.status == "pending"
    assert order.total == 10000 * 2 + 2500 * 2 and order.currency == "CLP"
    assert order.payment_link == answer["payment_link"] and order.preference_id
    assert order.buyer_email == buyer.email
    assert 14 * 60 < (order.hold_expires_at - order.created_at).total_seconds() <= 15 * 60 + 1
    items = rows("SELECT * FROM order_items WHERE order_id = :id ORDER BY unit_price", id=order.id)
    assert [(item.quantity, item.unit_price) for item in items] == [(2, 2500), (1, 10000), (1, 10000)]
    attendees = rows("SELECT * FROM attendees WHERE order_id = :id ORDER BY position", id=order.id)
    assert [(a.position, a.first_name, a.last_name, a.is_child) for a in attendees] == [
        (1, "Ana", "María Pérez", False),
        (2, "Tomás", "", True),
    ]
    assert attendees[0].child_details is None
    assert attendees[1].child_details["allergies"] == "maní"
    adult_item = next(item for item in items if item.ticket_type_id == uuid.UUID(adult_type["id"]))
    assert attendees[0].order_item_id == adult_item.id

    preference_id = answer["payment_link"].rsplit("/", 1)[1]
    status, preference = emulator_call(checkout, "GET", f"/_emulator/preferences/{preference_id}")
    assert status == 200
    assert preference["external_reference"] == answer["order_id"]
    assert preference["notification_url"] == "http://127.0.0.1:3000/api/v1/purchases/webhook?source_news=webhooks"
    assert preference["expires"] is True and preference["expiration_date_to"]
    assert sum(item["unit_price"] * item["quantity"] for item in preference["items"]) == 25000
    assert {item["currency_id"] for item in preference["items"]} == {"CLP"}
    assert preference["back_urls"]["success"].endswith(f"?order_id={answer['order_id']}")

    fetched = call("get_event", "GET", "/api/v1/events/{event_id}", {"event_id": event["id"]}).json()
    assert fetched["capacity_available"] == 98
    assert fetched["event_services"][0]["stock_available"] == 3
