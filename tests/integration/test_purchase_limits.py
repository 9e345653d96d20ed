"""Per-buyer limits of an event: live pending orders (a setting) and tickets held or owned (set by the organiser).

Both are decided inside the purchase's hold statement under the buyer's lock on the event, so one buyer firing
purchases at once from many threads (real Postgres, one connection each) never passes either.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from purchase_schemas import PurchaseRequest
from purchases import purchase

from crowdify.auth.callers import Caller
from crowdify.config.settings import reset_settings
from crowdify.core.errors import PurchaseLimitReached
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity, create_identity
from tests.support.purchases import (
    attendee,
    buy,
    complete_with_tickets,
    create_event,
    execute,
    purchase_body,
    scalar,
    update_event,
)
from tests.support.races import all_at_once, connection_pools_of

RACERS = 24


@pytest.fixture
def buyer_limits_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    reset_settings()


def set_pending_limit(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setenv("MAX_PENDING_ORDERS_PER_BUYER", str(limit))
    reset_settings()


def seats(count: int) -> list[dict[str, Any]]:
    return [attendee(f"Asistente{index} Pérez") for index in range(count)]


def pending_orders(buyer: Identity, event_id: str) -> int:
    return scalar(
        "SELECT count(*) FROM orders WHERE user_id = :user AND event_id = :event AND status = 'pending'",
        user=buyer.user_id,
        event=event_id,
    )


def buyer_tickets(buyer: Identity, event_id: str) -> int:
    """Seats of the buyer's live holds plus their tickets that are not cancelled."""
    return scalar(
        """
        SELECT (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                 WHERE o.user_id = :user AND o.event_id = :event AND o.status = 'pending'
                   AND o.hold_expires_at > now() AND oi.ticket_type_id IS NOT NULL)
             + (SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id
                 WHERE o.user_id = :user AND o.event_id = :event AND t.status <> 'cancelled')
        """,
        user=buyer.user_id,
        event=event_id,
    )


def test_the_event_shows_its_limit_and_an_update_sets_or_removes_it(admin: Identity) -> None:
    event = create_event(admin, max_tickets_per_buyer=4)
    assert event["max_tickets_per_buyer"] == 4

    def update(body: dict[str, Any]) -> Any:
        answer = update_event(admin, event["id"], body)
        assert answer.status == 200, answer.body
        return answer.json()["max_tickets_per_buyer"]

    assert update({"name": "Otro nombre"}) == 4, "leaving the field out keeps the limit"
    assert update({"max_tickets_per_buyer": 6}) == 6
    assert update({"max_tickets_per_buyer": None}) is None
    refused = update_event(admin, event["id"], {"max_tickets_per_buyer": 0})
    assert refused.status == 422


def test_a_buyer_cannot_hold_and_own_more_tickets_than_the_event_allows(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, max_tickets_per_buyer=3)
    first = buy(buyer, purchase_body(buyer, event["id"], seats(2)))
    assert first.status == 200, first.body

    over = buy(buyer, purchase_body(buyer, event["id"], seats(2)))

    assert over.status == 409, over.body
    assert over.json()["detail"] == ("Este evento permite como máximo 3 entradas por comprador: ya tienes 2 y pides 2")
    assert buy(buyer, purchase_body(buyer, event["id"], seats(1))).status == 200
    complete_with_tickets(first.json()["order_id"])
    assert buy(buyer, purchase_body(buyer, event["id"], seats(1))).status == 409, "bought tickets count"
    other = create_identity("user")
    assert buy(other, purchase_body(other, event["id"], seats(3))).status == 200, "the limit is per buyer"


def test_cancelled_expired_and_refunded_seats_stop_counting(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, max_tickets_per_buyer=2)
    cancelled = buy(buyer, purchase_body(buyer, event["id"], seats(2))).json()["order_id"]
    cancel = call(
        "post_purchase_cancel",
        "POST",
        "/api/v1/purchases/{order_id}/cancel",
        {"order_id": cancelled},
        token=buyer.token,
    )
    assert cancel.status == 200, cancel.body
    lapsed = buy(buyer, purchase_body(buyer, event["id"], seats(2)))
    assert lapsed.status == 200, lapsed.body
    # Past its deadline a hold no longer holds anything, even before the sweep marks it expired.
    execute(
        "UPDATE orders SET hold_expires_at = now() - interval '1 second' WHERE id = :id", id=lapsed.json()["order_id"]
    )
    refunded = buy(buyer, purchase_body(buyer, event["id"], seats(2)))
    assert refunded.status == 200, refunded.body
    complete_with_tickets(refunded.json()["order_id"])
    assert buy(buyer, purchase_body(buyer, event["id"], seats(1))).status == 409
    execute("UPDATE orders SET status = 'refunded' WHERE id = :id", id=refunded.json()["order_id"])
    execute("UPDATE tickets SET status = 'cancelled' WHERE order_id = :id", id=refunded.json()["order_id"])

    assert buy(buyer, purchase_body(buyer, event["id"], seats(2))).status == 200


def test_a_buyer_has_at_most_two_live_pending_orders_per_event(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    other_event = create_event(admin)
    placed = [buy(buyer, purchase_body(buyer, event["id"])) for _ in range(2)]
    assert [answer.status for answer in placed] == [200, 200]

    third = buy(buyer, purchase_body(buyer, event["id"]))

    assert third.status == 409, third.body
    assert third.json()["detail"] == (
        "Ya tienes 2 compras pendientes de pago para este evento: págalas o cancélalas antes de iniciar otra"
    )
    assert buy(buyer, purchase_body(buyer, other_event["id"])).status == 200, "the limit is per event"
    retry = buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": "a-new-key"})
    assert retry.status == 409
    complete_with_tickets(placed[0].json()["order_id"])
    assert buy(buyer, purchase_body(buyer, event["id"])).status == 200, "a paid order is no longer pending"
    assert pending_orders(buyer, event["id"]) == 2


def test_an_idempotent_retry_of_a_pending_order_is_not_refused_by_the_limit(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    first = buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": "key-1"})
    second = buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": "key-2"})
    assert (first.status, second.status) == (200, 200)

    again = buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": "key-2"})

    assert again.status == 200, again.body
    assert again.json()["order_id"] == second.json()["order_id"]


def test_a_free_event_gives_one_account_no_more_than_its_limit(admin: Identity, buyer: Identity) -> None:
    event = create_event(admin, price=0, services=[], max_tickets_per_buyer=2)
    free = buy(buyer, purchase_body(buyer, event["id"], seats(2)))
    assert free.status == 200 and free.json()["status"] == "completed", free.body

    more = buy(buyer, purchase_body(buyer, event["id"], seats(1)))

    assert more.status == 409, more.body
    assert buyer_tickets(buyer, event["id"]) == 2


@pytest.fixture
def many_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with connection_pools_of(RACERS, monkeypatch):
        yield


def race(buyer: Identity, event_id: str, seats_each: int) -> list[str]:
    """The buyer fires RACERS purchases at once: 'placed' or the refusal's detail for each."""
    caller = Caller(id=buyer.user_id, role="user", email=buyer.email)
    body = purchase_body(buyer, event_id, seats(seats_each))
    requests = [PurchaseRequest.model_validate(body) for _ in range(RACERS)]

    def attempt(index: int) -> str:
        try:
            purchase(caller, requests[index], str(uuid.uuid4()), "http://127.0.0.1:3000")
        except PurchaseLimitReached as error:
            return error.detail
        return "placed"

    return all_at_once(attempt, RACERS)


def test_concurrent_purchases_of_one_buyer_never_pass_the_pending_order_limit(
    many_connections: None, checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    # Several rounds, an event each: one lucky interleaving must not hide a race.
    for _ in range(4):
        event = create_event(admin, capacity_total=1000)

        outcomes = race(buyer, event["id"], seats_each=1)

        assert outcomes.count("placed") == 2, outcomes
        assert all("compras pendientes" in outcome for outcome in outcomes if outcome != "placed")
        assert pending_orders(buyer, event["id"]) == 2


def test_concurrent_purchases_of_one_buyer_never_pass_the_ticket_limit(
    many_connections: None,
    buyer_limits_environment: pytest.MonkeyPatch,
    checkout: MercadoPagoEmulator,
    admin: Identity,
    buyer: Identity,
) -> None:
    set_pending_limit(buyer_limits_environment, RACERS)
    event = create_event(admin, capacity_total=1000, max_tickets_per_buyer=5)

    outcomes = race(buyer, event["id"], seats_each=1)

    assert outcomes.count("placed") == 5, outcomes
    assert all("como máximo 5 entradas" in outcome for outcome in outcomes if outcome != "placed")
    assert buyer_tickets(buyer, event["id"]) == 5


def test_concurrent_free_purchases_of_one_buyer_never_pass_the_ticket_limit(
    many_connections: None, admin: Identity, buyer: Identity
) -> None:
    # A free order is placed through SQLAlchemy (its completion uses the ORM): the same hold, the same limits.
    event = create_event(admin, capacity_total=1000, price=0, services=[], max_tickets_per_buyer=3)

    outcomes = race(buyer, event["id"], seats_each=1)

    assert outcomes.count("placed") == 3, outcomes
    assert buyer_tickets(buyer, event["id"]) == 3
    assert scalar("SELECT count(*) FROM tickets WHERE event_id = :id", id=event["id"]) == 3
