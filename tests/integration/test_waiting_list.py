"""The waiting list without offers: joining a sold-out type or event, updating, position, leaving, refusals, and
released seats kept for the people in line instead of returning to general sale."""

from __future__ import annotations

from typing import Any

from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import HttpResponse, call
from tests.support.identities import Identity, create_identity
from tests.support.purchases import (
    WAITING_LIST,
    attendee,
    buy,
    cancel,
    create_event,
    execute,
    join_waiting_list,
    purchase_body,
    scalar,
)

join = join_waiting_list


def my_entry(person: Identity, event_id: str, **query: str) -> HttpResponse:
    return call(
        "get_event_waiting_list", "GET", WAITING_LIST, {"event_id": event_id}, query=query or None, token=person.token
    )


def leave(person: Identity, event_id: str) -> HttpResponse:
    return call("delete_event_waiting_list", "DELETE", WAITING_LIST, {"event_id": event_id}, token=person.token)


def sold_out_event(admin: Identity, buyer: Identity, capacity: int = 2) -> tuple[dict[str, Any], str]:
    """An event whose every seat `buyer` holds (a pending order), and that order's id."""
    event = create_event(admin, capacity_total=capacity, services=[], allow_children=False)
    held = buy(buyer, purchase_body(buyer, event["id"], [attendee(f"Persona {n}") for n in range(capacity)]))
    assert held.status == 200, held.body
    return event, held.json()["order_id"]


def test_joining_while_seats_are_on_sale_is_refused(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, capacity_total=5, services=[])
    refused = join(buyer, event["id"], seats=1)
    assert refused.status == 409
    assert "buy" in refused.json()["detail"]


def test_join_twice_is_one_entry_that_keeps_its_place(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event, _order = sold_out_event(admin, buyer)
    first = join(other_buyer, event["id"], seats=1)
    assert first.status == 201, first.body
    assert first.json()["position"] == 1 and first.json()["status"] == "waiting"
    later = create_identity("user")
    assert join(later, event["id"], seats=2).json()["position"] == 2

    again = join(other_buyer, event["id"], seats=2)
    assert again.status == 200, again.body
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["position"] == 1 and again.json()["seats"] == 2
    assert scalar("SELECT count(*) FROM waiting_list_entries WHERE user_id = :u", u=other_buyer.user_id) == 1
    assert my_entry(later, event["id"]).json()["position"] == 2


def test_leaving_then_joining_again_goes_to_the_back(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event, _order = sold_out_event(admin, buyer)
    join(other_buyer, event["id"], seats=1)
    later = create_identity("user")
    join(later, event["id"], seats=1)

    left = leave(other_buyer, event["id"])
    assert left.status == 200 and left.json()["status"] == "left" and left.json()["position"] is None
    assert my_entry(later, event["id"]).json()["position"] == 1
    back = join(other_buyer, event["id"], seats=1)
    assert back.status == 201 and back.json()["position"] == 2


def test_a_type_list_and_bad_input(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event, _order = sold_out_event(admin, buyer)
    type_id = event["ticket_types"][0]["id"] if "ticket_types" in event else None
    type_id = type_id or scalar("SELECT id::text FROM ticket_types WHERE event_id = :e", e=event["id"])
    execute("UPDATE ticket_types SET max_per_order = 3 WHERE id = :t", t=type_id)

    assert join(other_buyer, event["id"], ticket_type_id=type_id, seats=4).status == 422
    assert join(other_buyer, event["id"], ticket_type_id=type_id, seats=0).status == 422
    assert join(other_buyer, event["id"], seats="many").status == 422
    assert join(other_buyer, event["id"], ticket_type_id="00000000-0000-4000-8000-000000000000").status == 404
    joined = join(other_buyer, event["id"], ticket_type_id=type_id, seats=3)
    assert joined.status == 201, joined.body
    assert my_entry(other_buyer, event["id"], ticket_type_id=type_id).json()["id"] == joined.json()["id"]
    assert my_entry(other_buyer, event["id"]).status == 404, "the event-wide list is another list"
    anonymous = call("post_event_waiting_list", "POST", WAITING_LIST, {"event_id": event["id"]}, body={"seats": 0})
    assert anonymous.status == 401


def test_released_seats_are_kept_for_the_people_waiting(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event, order_id = sold_out_event(admin, buyer, capacity=3)
    assert join(other_buyer, event["id"], seats=2).status == 201

    cancel(buyer, order_id)

    # Two of the three seats are kept for the two the list asks for; the third returns to sale.
    assert scalar("SELECT sum(waiting_list_seats) FROM ticket_types WHERE event_id = :e", e=event["id"]) == 2
    assert scalar("SELECT seats_claimed FROM events WHERE id = :e", e=event["id"]) == 2
    fetched = call("get_event", "GET", "/api/v1/events/{event_id}", {"event_id": event["id"]}).json()
    assert fetched["capacity_available"] == 1
    general = create_identity("user")
    too_many = buy(general, purchase_body(general, event["id"], [attendee("Uno"), attendee("Dos")]))
    assert too_many.status == 409, too_many.body
    one = buy(general, purchase_body(general, event["id"], [attendee("Uno")]))
    assert one.status == 200, one.body


def test_a_hold_past_its_deadline_is_not_sold_to_a_general_buyer_while_people_wait(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event, order_id = sold_out_event(admin, buyer, capacity=2)
    assert join(other_buyer, event["id"], seats=1).status == 201
    execute("UPDATE orders SET hold_expires_at = now() - interval '1 second' WHERE id = :id", id=order_id)

    general = create_identity("user")
    two = buy(general, purchase_body(general, event["id"], [attendee("Uno"), attendee("Dos")]))
    assert two.status == 409, "one of the two seats is the line's"
    one = buy(general, purchase_body(general, event["id"], [attendee("Uno")]))
    assert one.status == 200, one.body
