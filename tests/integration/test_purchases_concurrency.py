"""No oversell: many buyers race for the last seats of a ticket type and of an event, on real Postgres.

Each racer is a thread calling the purchase service (a Powertools resolver is not thread-safe) with a connection
of its own; a sampler thread reads held + sold throughout the race and must never see it above capacity.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from purchase_schemas import PurchaseRequest
from purchases import purchase

from crowdify.auth.callers import Caller
from crowdify.core.errors import SoldOut
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.identities import Identity, create_identity
from tests.support.purchases import (
    attendee,
    buy,
    claims_are_exact,
    complete_with_tickets,
    create_event,
    create_ticket_type,
    execute,
    held_seats,
    purchase_body,
    scalar,
)
from tests.support.races import connection_pools_of

RACERS = 60
# Per pool: the process keeps up to this many pg8000 connections (crowdify.persistence.pg_connection, the usual path)
# and as many in the engine's pool (the exact recount), and both must fit under the server's 100 connections.
POOL_SIZE = 30


@pytest.fixture
def many_connections(checkout: MercadoPagoEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with connection_pools_of(POOL_SIZE, monkeypatch):
        yield


def race(
    event_id: str, ticket_type_id: str | None, buyers: list[Identity], sample: Callable[[], int]
) -> tuple[int, list[str], int]:
    """Every buyer tries one seat at once: (orders placed, sold-out details, the most `sample` ever read)."""
    start = threading.Barrier(len(buyers) + 1)
    stop_sampling = threading.Event()
    samples: list[int] = []

    def sampler() -> None:
        while not stop_sampling.is_set():
            samples.append(sample())

    def attempt(identity: Identity) -> str:
        request = PurchaseRequest.model_validate(
            purchase_body(identity, event_id, [attendee(ticket_type_id=ticket_type_id)])
        )
        caller = Caller(id=identity.user_id, role="user", email=identity.email)
        start.wait()
        try:
            purchase(caller, request, None, "http://127.0.0.1:3000")
        except SoldOut as error:
            return error.detail
        return "placed"

    sampling = threading.Thread(target=sampler)
    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        futures = [pool.submit(attempt, identity) for identity in buyers]
        sampling.start()
        start.wait()
        outcomes = [future.result() for future in futures]
    stop_sampling.set()
    sampling.join()
    assert samples, "the sampler ran during the race"
    return outcomes.count("placed"), [outcome for outcome in outcomes if outcome != "placed"], max(samples)


def fill(admin: Identity, event_id: str, ticket_type_id: str | None, sold: int, held: int) -> None:
    """`sold` seats paid (tickets issued) and `held` seats in live holds, before the race."""
    for index in range(sold + held):
        owner = create_identity("user")
        response = buy(owner, purchase_body(owner, event_id, [attendee(ticket_type_id=ticket_type_id)]))
        assert response.status == 200, response.body
        if index < sold:
            complete_with_tickets(response.json()["order_id"])


def test_racing_for_the_last_ten_seats_of_a_ticket_type(
    many_connections: None, checkout: MercadoPagoEmulator, admin: Identity
) -> None:
    event = create_event(admin, capacity_total=1000)
    hot = create_ticket_type(admin, event["id"], name="Primera fila", price=80000, capacity=30)
    fill(admin, event["id"], hot["id"], sold=10, held=10)
    buyers = [create_identity("user") for _ in range(RACERS)]

    def taken() -> int:
        return scalar(
            """
            SELECT (SELECT count(*) FROM tickets WHERE ticket_type_id = :id AND status <> 'cancelled')
                 + (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                     WHERE oi.ticket_type_id = :id AND o.status = 'pending' AND o.hold_expires_at > now())
            """,
            id=hot["id"],
        )

    placed, refused, most_ever_taken = race(event["id"], hot["id"], buyers, taken)

    assert placed == 10
    assert len(refused) == RACERS - 10
    assert all("sold out" in detail for detail in refused), refused[:3]
    assert taken() == 30 and most_ever_taken <= 30
    assert scalar("SELECT count(*) FROM orders WHERE status = 'pending'") == 20
    assert claims_are_exact(event["id"])


def test_racing_for_the_last_ten_seats_of_an_event(
    many_connections: None, checkout: MercadoPagoEmulator, admin: Identity
) -> None:
    event = create_event(admin, capacity_total=30)
    fill(admin, event["id"], None, sold=12, held=8)
    buyers = [create_identity("user") for _ in range(RACERS)]

    def taken() -> int:
        return held_seats(event["id"])

    placed, refused, most_ever_taken = race(event["id"], None, buyers, taken)

    assert placed == 10
    assert len(refused) == RACERS - 10
    assert all("sold out" in detail for detail in refused), refused[:3]
    assert taken() == 30 and most_ever_taken <= 30
    assert claims_are_exact(event["id"])


def test_racing_for_seats_the_counters_overstate_goes_through_the_exact_recount(
    many_connections: None, checkout: MercadoPagoEmulator, admin: Identity
) -> None:
    # Holds past their deadline stop counting at once, but the claim counters keep them until the sweep releases
    # them: here the counters say 30 of 30 while 22 are taken, so every racer is refused by the counters and decided
    # by the exact recount under the event's lock.
    event = create_event(admin, capacity_total=30)
    fill(admin, event["id"], None, sold=12, held=18)
    execute(
        """
        UPDATE orders SET hold_expires_at = now() - interval '1 second'
         WHERE id IN (SELECT id FROM orders WHERE status = 'pending' ORDER BY created_at LIMIT 8)
        """
    )
    assert held_seats(event["id"]) == 22 and scalar("SELECT seats_claimed FROM events") == 30
    buyers = [create_identity("user") for _ in range(RACERS)]

    def taken() -> int:
        return held_seats(event["id"])

    placed, refused, most_ever_taken = race(event["id"], None, buyers, taken)

    assert placed == 8
    assert len(refused) == RACERS - 8
    assert all("sold out" in detail for detail in refused), refused[:3]
    assert taken() == 30 and most_ever_taken <= 30


def test_the_last_units_of_an_add_on_service_are_never_oversold(
    many_connections: None, checkout: MercadoPagoEmulator, admin: Identity
) -> None:
    event = create_event(admin, capacity_total=1000)
    service_id = event["event_services"][0]["id"]  # 5 units
    buyers = [create_identity("user") for _ in range(20)]

    def attempt(identity: Identity) -> bool:
        body = purchase_body(identity, event["id"], selected_services={service_id: 1})
        caller = Caller(id=identity.user_id, role="user", email=identity.email)
        try:
            purchase(caller, PurchaseRequest.model_validate(body), str(uuid.uuid4()), "http://127.0.0.1:3000")
        except SoldOut:
            return False
        return True

    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        outcomes = list(pool.map(attempt, buyers))

    assert outcomes.count(True) == 5
    assert scalar("SELECT sum(quantity) FROM order_items WHERE event_service_id = :id", id=service_id) == 5
