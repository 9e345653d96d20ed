"""Waiting-list offers: seats coming back become personal codes for the people in line, emailed once through the
outbox, SQS and notify (SendGrid emulator); an offer not used in time goes to the next in line; a purchase with the
code marks the entry bought; and a race of releases, offer rounds and general buyers oversells nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from waiting_list_offer_email import OfferEmailInProgress, OfferMessage, deliver_offer

from crowdify.domain.order_payments import complete_order
from crowdify.persistence.models import Order
from crowdify.persistence.sessions import db_session
from local.mercadopago_emulator import MercadoPagoEmulator
from local.sendgrid_emulator import SendGridEmulator
from tests.support.api_gateway import HttpResponse, LambdaContext, call
from tests.support.identities import Identity, create_identity
from tests.support.notify import run_notify, sqs_record
from tests.support.paid_orders import AwsResources
from tests.support.purchases import (
    WAITING_LIST,
    attendee,
    buy,
    cancel,
    create_event,
    execute,
    join_waiting_list,
    purchase_body,
    rows,
    scalar,
)
from tests.support.races import all_at_once, connection_pools_of
from tests.support.sendgrid import sent_emails

ADMIN_LIST = "/api/v1/admin/events/{event_id}/waiting-list"


@pytest.fixture
def many_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with connection_pools_of(40, monkeypatch):
        yield


def join(person: Identity, event_id: str, seats: int = 1) -> HttpResponse:
    joined = join_waiting_list(person, event_id, seats=seats)
    assert joined.status == 201, joined.body
    return joined


def my_entry(person: Identity, event_id: str) -> dict[str, Any]:
    return call("get_event_waiting_list", "GET", WAITING_LIST, {"event_id": event_id}, token=person.token).json()


def hold_everything(admin: Identity, capacity: int, **event_fields: Any) -> tuple[dict[str, Any], Identity, str]:
    event = create_event(admin, capacity_total=capacity, services=[], allow_children=False, **event_fields)
    holder = create_identity("user")
    held = buy(holder, purchase_body(holder, event["id"], [attendee(f"Persona {n}") for n in range(capacity)]))
    assert held.status == 200, held.body
    return event, holder, held.json()["order_id"]


def offer_round() -> dict[str, int]:
    from scheduled_offer_waiting_list import lambda_handler

    return lambda_handler({"detail-type": "Scheduled Event", "detail": {}}, LambdaContext(function_name="offers"))


def code_of(entry_id: str) -> str:
    return scalar(
        "SELECT v.code FROM vouchers v JOIN waiting_list_entries w ON w.offer_voucher_id = v.id WHERE w.id = :id",
        id=entry_id,
    )


def seats_taken(event_id: str) -> int:
    """Live holds, tickets, seats reserved by codes and kept for the list: what general sale cannot have."""
    return scalar(
        """
        SELECT (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                 WHERE o.event_id = :e AND o.status = 'pending' AND oi.ticket_type_id IS NOT NULL)
             + (SELECT count(*) FROM tickets WHERE event_id = :e AND status <> 'cancelled')
             + (SELECT coalesce(sum(seats_reserved), 0) FROM vouchers WHERE event_id = :e)
             + (SELECT coalesce(sum(waiting_list_seats), 0) FROM ticket_types WHERE event_id = :e)
        """,
        e=event_id,
    )


def test_released_seats_are_offered_in_order_and_the_email_goes_out_once(
    checkout: MercadoPagoEmulator,
    aws_resources: AwsResources,
    sendgrid: SendGridEmulator,
    admin: Identity,
) -> None:
    event, holder, order_id = hold_everything(admin, capacity=3)
    first, second, third = (create_identity("user") for _ in range(3))
    join(first, event["id"], seats=2)
    join(second, event["id"], seats=2)
    join(third, event["id"], seats=1)

    cancel(holder, order_id)
    summary = offer_round()

    # Three seats: two for the first in line; the second's two do not fit and wait; the third's one fits.
    assert summary["offered"] == 2, summary
    assert my_entry(first, event["id"])["status"] == "offered"
    assert my_entry(second, event["id"])["status"] == "waiting" and my_entry(second, event["id"])["position"] == 1
    assert my_entry(third, event["id"])["status"] == "offered"
    assert seats_taken(event["id"]) == 3
    general = create_identity("user")
    assert buy(general, purchase_body(general, event["id"])).status == 409

    messages = [body for body in aws_resources.received_messages() if body.get("kind") == "waiting_list_offer"]
    assert len(messages) == 2
    records = [sqs_record(json.dumps(body)) for body in messages]
    assert run_notify(*records) == []
    # Redelivered long after: past the claim's lease, the sent mark alone keeps the email from going out again.
    execute("UPDATE waiting_list_entries SET offer_email_claimed_at = now() - interval '1 day'")
    assert run_notify(*records) == [], "a redelivery is no error"
    emails = sent_emails(sendgrid)
    assert sorted(email["to"][0] for email in emails) == sorted([first.email, third.email])
    first_email = next(email for email in emails if email["to"][0] == first.email)
    assert code_of(my_entry(first, event["id"])["id"]) in first_email["text"]


def test_a_purchase_with_the_offer_marks_the_entry_bought(
    checkout: MercadoPagoEmulator, aws_resources: AwsResources, admin: Identity
) -> None:
    event, holder, order_id = hold_everything(admin, capacity=2)
    person = create_identity("user")
    entry = join(person, event["id"], seats=2).json()
    cancel(holder, order_id)
    offer_round()
    code = code_of(entry["id"])

    general = create_identity("user")
    assert buy(general, purchase_body(general, event["id"], voucher_code=code)).status in (403, 404, 409, 422)
    placed = buy(person, purchase_body(person, event["id"], [attendee("Uno"), attendee("Dos")], voucher_code=code))
    assert placed.status == 200, placed.body
    with db_session() as session:
        order = session.scalars(select(Order).where(Order.id == uuid.UUID(placed.json()["order_id"])).with_for_update())
        complete_order(session, order.one(), payment_id="offer-1", paid_at=datetime.now(UTC))

    assert my_entry(person, event["id"])["status"] == "bought"
    assert seats_taken(event["id"]) == 2


def test_an_offer_not_used_in_time_goes_to_the_next_in_line(
    checkout: MercadoPagoEmulator, aws_resources: AwsResources, admin: Identity
) -> None:
    event, holder, order_id = hold_everything(admin, capacity=2)
    first, second = create_identity("user"), create_identity("user")
    first_entry = join(first, event["id"], seats=2).json()
    join(second, event["id"], seats=2)
    cancel(holder, order_id)
    offer_round()
    code = code_of(first_entry["id"])

    execute(
        "UPDATE waiting_list_entries SET offer_expires_at = now() - interval '1 second' WHERE id = :id",
        id=first_entry["id"],
    )
    execute("UPDATE vouchers SET valid_until = now() - interval '1 second' WHERE code = :code", code=code)
    summary = offer_round()

    assert summary["offers_expired"] == 1 and summary["offered"] == 1, summary
    assert my_entry(first, event["id"])["status"] == "expired"
    assert my_entry(second, event["id"])["status"] == "offered"
    assert scalar("SELECT is_active FROM vouchers WHERE code = :code", code=code) is False
    assert seats_taken(event["id"]) == 2
    general = create_identity("user")
    assert buy(general, purchase_body(general, event["id"])).status == 409


def test_admin_sees_the_list_offers_now_and_removes(
    checkout: MercadoPagoEmulator, aws_resources: AwsResources, admin: Identity, coordinator: Identity
) -> None:
    event, holder, order_id = hold_everything(admin, capacity=2, waiting_list_offer_hours=2)
    assert event["waiting_list_offer_hours"] == 2
    first, second = create_identity("user"), create_identity("user")
    first_entry = join(first, event["id"], seats=2).json()
    second_entry = join(second, event["id"], seats=1).json()
    entry_path = ADMIN_LIST + "/{entry_id}"
    refused = call(
        "post_admin_event_waiting_list_offer",
        "POST",
        entry_path + "/offer",
        {"event_id": event["id"], "entry_id": second_entry["id"]},
        token=coordinator.token,
    )
    assert refused.status == 409, "no seat is free or kept"

    cancel(holder, order_id)
    offered = call(
        "post_admin_event_waiting_list_offer",
        "POST",
        entry_path + "/offer",
        {"event_id": event["id"], "entry_id": second_entry["id"]},
        token=coordinator.token,
    )
    assert offered.status == 200, offered.body
    assert offered.json()["status"] == "offered"
    lifetime = scalar(
        "SELECT offer_expires_at - offered_at FROM waiting_list_entries WHERE id = :id", id=second_entry["id"]
    )
    assert lifetime.total_seconds() == pytest.approx(2 * 3600, abs=5)
    removed = call(
        "delete_admin_event_waiting_list",
        "DELETE",
        entry_path,
        {"event_id": event["id"], "entry_id": second_entry["id"]},
        token=admin.token,
    )
    assert removed.status == 200 and removed.json()["status"] == "removed"
    assert scalar("SELECT count(*) FROM vouchers WHERE event_id = :e AND is_active", e=event["id"]) == 0
    assert seats_taken(event["id"]) == 2, "the withdrawn offer's seat is kept for the next in line"

    listed = call("get_admin_event_waiting_list", "GET", ADMIN_LIST, {"event_id": event["id"]}, token=coordinator.token)
    assert listed.status == 200
    [event_wide] = listed.json()["lists"]
    assert [entry["id"] for entry in event_wide["entries"]] == [first_entry["id"], second_entry["id"]]
    assert event_wide["counts"]["waiting"] == 1 and event_wide["counts"]["removed"] == 1
    again = call(
        "post_event_waiting_list",
        "POST",
        WAITING_LIST,
        {"event_id": event["id"]},
        body={"seats": 1},
        token=second.token,
    )
    assert again.status == 409


def test_released_seats_racing_offers_and_general_buyers_oversell_nothing(
    checkout: MercadoPagoEmulator, aws_resources: AwsResources, admin: Identity, many_connections: None
) -> None:
    capacity, holders_count = 10, 5
    event = create_event(admin, capacity_total=capacity, services=[], allow_children=False)
    holders = [create_identity("user") for _ in range(holders_count)]
    orders = []
    for holder in holders:
        held = buy(holder, purchase_body(holder, event["id"], [attendee("Uno"), attendee("Dos")]))
        assert held.status == 200, held.body
        orders.append(held.json()["order_id"])
    waiting = [create_identity("user") for _ in range(6)]
    for person in waiting:
        join(person, event["id"], seats=1)
    general = [create_identity("user") for _ in range(8)]
    rounds = 3

    def act(index: int) -> Any:
        if index < holders_count:
            cancel(holders[index], orders[index])
            return "released"
        if index < holders_count + rounds:
            return offer_round()
        buyer = general[index - holders_count - rounds]
        return buy(buyer, purchase_body(buyer, event["id"])).status

    outcomes = all_at_once(act, holders_count + rounds + len(general))
    offer_round()

    sold_generally = [outcome for outcome in outcomes if outcome == 200]
    offered = rows(
        "SELECT w.id, v.seats_reserved, v.max_redemptions FROM waiting_list_entries w "
        "JOIN vouchers v ON v.id = w.offer_voucher_id WHERE w.event_id = :e AND w.status = 'offered'",
        e=event["id"],
    )
    assert len(offered) == len(waiting), "every person in line got one offer"
    assert len({row.id for row in offered}) == len(offered)
    assert sum(row.seats_reserved for row in offered) == len(waiting)
    assert scalar("SELECT count(*) FROM vouchers WHERE event_id = :e", e=event["id"]) == len(waiting)
    assert len(sold_generally) <= capacity - len(waiting)
    assert seats_taken(event["id"]) <= capacity
    assert seats_taken(event["id"]) == len(sold_generally) + len(waiting)
    assert scalar("SELECT sum(waiting_list_seats) FROM ticket_types WHERE event_id = :e", e=event["id"]) == 0


def test_concurrent_deliveries_of_one_offer_send_one_email(
    checkout: MercadoPagoEmulator,
    aws_resources: AwsResources,
    sendgrid: SendGridEmulator,
    admin: Identity,
    many_connections: None,
) -> None:
    event, holder, order_id = hold_everything(admin, capacity=1)
    join(create_identity("user"), event["id"])
    cancel(holder, order_id)
    offer_round()
    [message] = [body for body in aws_resources.received_messages() if body.get("kind") == "waiting_list_offer"]

    offer = OfferMessage.model_validate(message)

    def deliver(_index: int) -> str:
        try:
            return deliver_offer(offer)
        except OfferEmailInProgress:
            return "in_progress"

    # Each racer's connection opened beforehand, so that none is still connecting when the first is done.
    all_at_once(lambda _index: scalar("SELECT pg_sleep(0.05)"), 6)
    results = all_at_once(deliver, 6)

    assert results.count("sent") == 1 and set(results) <= {"sent", "in_progress", "already_sent"}
    assert len(sent_emails(sendgrid)) == 1
    # Those that found it in progress are redelivered by SQS later, and then find it sent.
    assert deliver_offer(offer) == "already_sent"
    assert len(sent_emails(sendgrid)) == 1
