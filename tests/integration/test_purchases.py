"""POST /api/v1/purchases through its handler: holds, prices, rules, idempotency and MercadoPago failures."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.event import listen, remove

from crowdify.persistence.database import engine
from crowdify.persistence.pg_connection import statements_sent
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity
from tests.support.mercadopago import emulator_call
from tests.support.purchases import (
    PURCHASES,
    attendee,
    buy,
    create_event,
    create_ticket_type,
    execute,
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
    # The old service's three keys, and the total and discount it did not have (its client ignores them).
    assert set(answer) == {"order_id", "payment_link", "status", "total", "discount"}
    assert answer["status"] == "pending"
    assert Decimal(answer["total"]) == 10000 * 2 + 2500 * 2 and Decimal(answer["discount"]) == 0
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


def test_the_old_clients_body_is_accepted_unchanged(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity):
    event = create_event(admin)
    # Exactly the reference PurchaseRequest / AttendeeData / ChildDetailsData fields, nothing new.
    body = {
        "user_id": str(buyer.user_id),
        "event_id": event["id"],
        "attendees": [
            {
                "name": "Pedro Soto",
                "email": "pedro@example.test",
                "document_type": "RUT",
                "document_number": "12.345.678-5",
                "is_child": False,
                "child_details": None,
            },
            {
                "name": "Sofía Soto",
                "email": None,
                "document_type": "RUT",
                "document_number": "25.345.678-2",
                "is_child": True,
                "child_details": {
                    "birth_date": "2019-05-01T00:00:00",
                    "allergies": None,
                    "special_needs": "ninguna",
                    "emergency_contact_name": "Pedro Soto",
                    "emergency_contact_phone": "+56911111111",
                    "medications": [{"nombre": "paracetamol", "dosis": "5 ml"}],
                },
            },
        ],
        "selected_services": {},
        "idempotency_key": "old-client-1",
    }

    response = buy(buyer, body)

    assert response.status == 200, response.body
    assert response.json()["status"] == "pending"
    child = rows("SELECT * FROM attendees WHERE is_child")[0]
    assert child.child_details["medications"] == [{"nombre": "paracetamol", "dosis": "5 ml"}]
    assert child.first_name == "Sofía" and child.last_name == "Soto"


def test_prices_and_totals_in_the_body_change_nothing(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity):
    event = create_event(admin)
    body = purchase_body(buyer, event["id"], [attendee(price=1, unit_price=1)], price=1, total=1, amount=1)

    response = buy(buyer, body)

    assert response.status == 200, response.body
    assert scalar("SELECT total FROM orders WHERE id = :id", id=response.json()["order_id"]) == 10000
    assert scalar("SELECT unit_price FROM order_items") == 10000


def test_same_key_same_body_is_the_same_order_and_link(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity):
    event = create_event(admin)
    body = purchase_body(buyer, event["id"], idempotency_key="retry-1")

    first, second = buy(buyer, body), buy(buyer, body)

    assert first.status == second.status == 200, second.body
    assert first.json() == second.json()
    assert scalar("SELECT count(*) FROM orders") == 1
    assert held_seats(event["id"]) == 1


def test_the_idempotency_key_header_works_like_the_body_field(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    body = purchase_body(buyer, event["id"])

    first = buy(buyer, body, headers={"Idempotency-Key": "header-key"})
    second = buy(buyer, body, headers={"Idempotency-Key": "header-key"})
    third = buy(buyer, body | {"idempotency_key": "header-key"})

    assert first.json() == second.json() == third.json()
    assert scalar("SELECT idempotency_key FROM orders") == "header-key"


def test_same_key_with_a_different_body_is_a_conflict(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity):
    event = create_event(admin)
    buy(buyer, purchase_body(buyer, event["id"], idempotency_key="k"))

    changed = buy(buyer, purchase_body(buyer, event["id"], [attendee(), attendee("Otra")], idempotency_key="k"))

    assert changed.status == 409
    assert "idempotency key" in changed.json()["detail"]
    assert scalar("SELECT count(*) FROM orders") == 1
    assert held_seats(event["id"]) == 1


def test_one_buyers_key_never_returns_another_buyers_order(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event = create_event(admin)

    mine = buy(buyer, purchase_body(buyer, event["id"], idempotency_key="shared"))
    theirs = buy(other_buyer, purchase_body(other_buyer, event["id"], idempotency_key="shared"))

    assert mine.status == theirs.status == 200
    assert mine.json()["order_id"] != theirs.json()["order_id"]
    assert scalar("SELECT count(DISTINCT user_id) FROM orders") == 2


def test_mercadopago_failing_leaves_no_hold_and_answers_503(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, capacity_total=1)
    emulator_call(checkout, "POST", "/_emulator/faults", {"mode": "500", "count": 5})
    body = purchase_body(buyer, event["id"], idempotency_key="during-outage")

    failed = buy(buyer, body)

    assert failed.status == 503
    assert failed.headers["content-type"].startswith("application/json")
    assert "MercadoPago" in failed.json()["detail"]
    assert scalar("SELECT status FROM orders") == "cancelled"
    assert held_seats(event["id"]) == 0
    assert scalar("SELECT seats_claimed FROM events") == 0
    assert scalar("SELECT sum(seats_claimed) FROM ticket_types") == 0

    emulator_call(checkout, "POST", "/_emulator/faults", {"mode": "500", "count": 0})
    retried = buy(buyer, body)
    assert retried.status == 200, "the failed attempt neither kept the only seat nor used up the key"
    assert retried.json()["order_id"] != str(scalar("SELECT id FROM orders WHERE status = 'cancelled'"))


def test_mercadopago_stopped_leaves_no_hold_and_answers_503(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    checkout.stop()

    failed = buy(buyer, purchase_body(buyer, event["id"]))

    assert failed.status == 503 and "detail" in failed.json()
    assert held_seats(event["id"]) == 0
    assert scalar("SELECT status FROM orders") == "cancelled"


def test_closed_and_not_yet_open_sales_windows_are_refused(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    closed = create_ticket_type(
        admin, event["id"], name="Preventa", sales_start_at="2020-01-01T00:00:00", sales_end_at="2020-02-01T00:00:00"
    )
    later = create_ticket_type(admin, event["id"], name="Puerta", sales_start_at="2030-06-30T00:00:00")

    too_late = buy(buyer, purchase_body(buyer, event["id"], [attendee(ticket_type_id=closed["id"])]))
    too_early = buy(buyer, purchase_body(buyer, event["id"], [attendee(ticket_type_id=later["id"])]))

    assert too_late.status == 422 and "closed" in too_late.json()["detail"]
    assert too_early.status == 422 and "open" in too_early.json()["detail"]
    assert scalar("SELECT count(*) FROM orders") == 0


def test_more_than_the_per_order_maximum_is_refused(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity):
    event = create_event(admin)
    limited = create_ticket_type(admin, event["id"], name="Limitada", max_per_order=2)
    attendees = [attendee(f"Persona {n}", ticket_type_id=limited["id"]) for n in range(3)]

    response = buy(buyer, purchase_body(buyer, event["id"], attendees))

    assert response.status == 422 and "At most 2" in response.json()["detail"]
    assert buy(buyer, purchase_body(buyer, event["id"], attendees[:2])).status == 200


def test_unknown_ticket_types_and_other_events_types_are_refused(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    other_event = create_event(admin, name="Otro evento")
    other_type = other_event["ticket_types"][0]["id"]

    unknown = buy(buyer, purchase_body(buyer, event["id"], [attendee(ticket_type_id=str(uuid.uuid4()))]))
    foreign = buy(buyer, purchase_body(buyer, event["id"], [attendee(ticket_type_id=other_type)]))
    unknown_service = buy(buyer, purchase_body(buyer, event["id"], selected_services={str(uuid.uuid4()): 1}))

    assert unknown.status == foreign.status == unknown_service.status == 422
    assert "not sold for this event" in foreign.json()["detail"]
    assert scalar("SELECT count(*) FROM orders") == 0


def test_a_child_on_an_event_without_children_is_refused(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, allow_children=False)

    response = buy(buyer, purchase_body(buyer, event["id"], [attendee(), attendee("Niño", is_child=True)]))

    assert response.status == 422 and "children" in response.json()["detail"]
    assert scalar("SELECT count(*) FROM orders") == 0


def test_cancelled_draft_and_unknown_events_sell_nothing(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    cancelled = create_event(admin)
    call(
        "put_event",
        "PUT",
        "/api/v1/events/{event_id}",
        {"event_id": cancelled["id"]},
        body={"status": "cancelled"},
        token=admin.token,
    )
    draft = create_event(admin, status="draft")

    assert buy(buyer, purchase_body(buyer, cancelled["id"])).status == 409
    assert buy(buyer, purchase_body(buyer, draft["id"])).status == 404
    assert buy(buyer, purchase_body(buyer, str(uuid.uuid4()))).status == 404
    assert scalar("SELECT count(*) FROM orders") == 0


def test_only_an_admin_may_buy_for_another_user(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event = create_event(admin)

    refused = buy(buyer, purchase_body(other_buyer, event["id"]))
    on_behalf = call(
        "post_purchases", "POST", PURCHASES, body=purchase_body(other_buyer, event["id"]), token=admin.token
    )
    nobody = call(
        "post_purchases",
        "POST",
        PURCHASES,
        body=purchase_body(other_buyer, event["id"]) | {"user_id": str(uuid.uuid4())},
        token=admin.token,
    )

    assert refused.status == 403 and "user_id" in refused.json()["detail"]
    assert on_behalf.status == 200
    assert scalar("SELECT user_id FROM orders") == other_buyer.user_id
    assert nobody.status == 422


def test_scanner_devices_and_anonymous_callers_cannot_buy(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    device_token = _device_token(admin, event["id"])

    as_device = call("post_purchases", "POST", PURCHASES, body=purchase_body(buyer, event["id"]), token=device_token)
    anonymous = call("post_purchases", "POST", PURCHASES, body=purchase_body(buyer, event["id"]))

    assert as_device.status == 403
    assert anonymous.status == 401
    assert scalar("SELECT count(*) FROM orders") == 0


def test_a_malformed_body_is_a_422_in_the_old_shape(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity):
    event = create_event(admin)

    response = buy(buyer, {"user_id": str(buyer.user_id), "event_id": event["id"], "attendees": [{"name": "x"}]})

    assert response.status == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and {"loc", "msg", "type"} <= set(detail[0])


def _device_token(admin: Identity, event_id: str) -> str:
    from crowdify.auth.backend_tokens import issue_device_token
    from crowdify.config.settings import get_settings

    device_id = uuid.uuid4()
    execute(
        "INSERT INTO scanner_devices (id, name, event_ids, created_by, expires_at) "
        "VALUES (:id, 'Puerta 1', ARRAY[CAST(:event_id AS uuid)], :admin, now() + interval '1 day')",
        id=device_id,
        event_id=event_id,
        admin=admin.user_id,
    )
    return issue_device_token(str(device_id), [event_id], get_settings().jwt_secret, 3600)


def test_a_purchase_is_four_prepared_statements_and_none_through_sqlalchemy(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    assert buy(buyer, purchase_body(buyer, event["id"])).status == 200  # a warm container
    through_sqlalchemy: list[str] = []

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_sqlalchemy.append(statement)

    listen(engine(), "before_cursor_execute", count)
    try:
        with statements_sent() as prepared:
            response = buy(buyer, purchase_body(buyer, event["id"]))
    finally:
        remove(engine(), "before_cursor_execute", count)

    assert response.status == 200, response.body
    assert through_sqlalchemy == []
    assert len(prepared) == 4, prepared  # the caller's role, the catalogue, the hold, the checkout link
