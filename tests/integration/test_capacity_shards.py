"""Capacity shards (crowdify.domain.capacity_shards): holds of an event split into N banks, raced with real threads
on real Postgres: never oversold, never a false 'sold out', seats released go back on sale, N=1 unchanged."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import purchase_statements
import pytest
from hold_expiry import expire_overdue_holds
from purchase_schemas import PurchaseRequest
from purchases import PlacedOrder, purchase

from crowdify.adapters.mercadopago_client import payments
from crowdify.auth.callers import Caller
from crowdify.core.errors import SoldOut
from crowdify.domain.capacity import available, usage_for_events
from crowdify.persistence.database import engine
from crowdify.persistence.pg_connection import statements_sent
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity, create_identity
from tests.support.purchases import attendee, cancel, create_event, execute, held_seats, purchase_body, scalar
from tests.support.races import connection_pools_of

BUYERS = 40
# 40 racers, each with a pg8000 connection and an engine connection at worst, under the server's 100.
POOL_SIZE = 40


@pytest.fixture
def many_connections(checkout: MercadoPagoEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with connection_pools_of(POOL_SIZE, monkeypatch):
        yield


def sharded_event(admin: Identity, capacity: int, shards: int) -> tuple[str, str]:
    """An event of one ticket type (no capacity of its own) split into `shards`: (event id, ticket type id)."""
    event = create_event(admin, capacity_total=capacity, capacity_shards=shards, allow_children=False, services=[])
    assert event["capacity_shards"] == shards
    return event["id"], event["ticket_types"][0]["id"]


def place(buyer: Identity, event_id: str, seats: int) -> PlacedOrder:
    """The purchase service itself, as the route calls it (a Powertools resolver is not thread-safe)."""
    request = PurchaseRequest.model_validate(
        purchase_body(buyer, event_id, [attendee(f"Persona {n}") for n in range(seats)])
    )
    return purchase(Caller(id=buyer.user_id, role="user", email=buyer.email), request, None, "http://127.0.0.1:3000")


def bank(event_id: str, ticket_type_id: str, seats_by_shard: dict[int, int]) -> None:
    """Seats moved from general sale into banks as refills move them: the counters rise by what is banked."""
    for shard, seats in seats_by_shard.items():
        execute(
            """
            WITH event_fill AS (
                UPDATE events SET seats_claimed = seats_claimed + :seats WHERE id = :event_id RETURNING id
            ), type_fill AS (
                UPDATE ticket_types SET seats_claimed = seats_claimed + :seats
                 WHERE id = :ticket_type_id AND EXISTS (SELECT 1 FROM event_fill) RETURNING id
            )
            INSERT INTO capacity_shards (ticket_type_id, shard, event_id, seats)
            SELECT id, :shard, :event_id, :seats FROM type_fill
            """,
            event_id=event_id,
            ticket_type_id=ticket_type_id,
            shard=shard,
            seats=seats,
        )


def banked(event_id: str) -> int:
    return scalar("SELECT coalesce(sum(seats), 0) FROM capacity_shards WHERE event_id = :id", id=event_id)


def ledger_balances(event_id: str) -> bool:
    """Every claim counter of the event equals sold + pending + reserved + kept + banked (seats_claimed's meaning
    with banks, crowdify.domain.capacity_shards)."""
    return scalar(
        """
        WITH type_figures AS (
            SELECT tt.id, tt.seats_claimed,
                   (SELECT count(*) FROM tickets t WHERE t.ticket_type_id = tt.id AND t.status <> 'cancelled')
                   + (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                       WHERE oi.ticket_type_id = tt.id AND o.status = 'pending')
                   + (SELECT coalesce(sum(v.seats_reserved), 0) FROM vouchers v WHERE v.reserved_ticket_type_id = tt.id)
                   + tt.waiting_list_seats
                   + (SELECT coalesce(sum(cs.seats), 0) FROM capacity_shards cs WHERE cs.ticket_type_id = tt.id)
                   AS claims
              FROM ticket_types tt WHERE tt.event_id = :event_id
        )
        SELECT bool_and(seats_claimed = claims)
               AND (SELECT seats_claimed FROM events WHERE id = :event_id) = sum(claims)
          FROM type_figures
        """,
        event_id=event_id,
    )


def exactly_available(event_id: str, capacity: int) -> int:
    with engine().connect() as connection:
        usage = usage_for_events(connection, [uuid.UUID(event_id)])
    return available(capacity, usage.event(uuid.UUID(event_id))) or 0


def test_forty_buyers_take_exactly_the_capacity_of_eight_shards(many_connections: None, admin: Identity) -> None:
    event_id, _ = sharded_event(admin, capacity=200, shards=8)
    stop_sampling = threading.Event()
    samples: list[int] = []
    start = threading.Barrier(BUYERS + 1)

    def sampler() -> None:
        while not stop_sampling.is_set():
            samples.append(held_seats(event_id))

    def buyer(index: int) -> tuple[int, list[int]]:
        """Buys 1 to 3 seats at a time until even one seat is refused: (seats bought, seats each refusal asked)."""
        generator = random.Random(index)
        bought, refusals = 0, []
        start.wait()
        wanted = generator.randint(1, 3)
        while True:
            try:
                place(create_identity("user"), event_id, wanted)
            except SoldOut:
                refusals.append(wanted)
                if wanted == 1:
                    return bought, refusals
                wanted = 1
                continue
            bought += wanted
            wanted = generator.randint(1, 3)

    sampling = threading.Thread(target=sampler)
    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        futures = [pool.submit(buyer, index) for index in range(BUYERS)]
        sampling.start()
        start.wait()
        outcomes = [future.result() for future in futures]
    stop_sampling.set()
    sampling.join()

    assert sum(bought for bought, _ in outcomes) == 200
    assert held_seats(event_id) == 200 and max(samples) <= 200
    # Every buyer stopped on a refused single seat, and none was refused while a seat was left.
    assert exactly_available(event_id, 200) == 0
    assert ledger_balances(event_id)
    assert scalar("SELECT count(*) FROM capacity_shards WHERE event_id = :id", id=event_id) > 1


def test_at_the_tail_seats_scattered_over_banks_are_gathered_for_a_larger_purchase(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event_id, ticket_type_id = sharded_event(admin, capacity=10, shards=8)
    # All ten seats banked, two in each of five banks: no bank has three, the counters have none to give.
    bank(event_id, ticket_type_id, dict.fromkeys(range(5), 2))

    place(buyer, event_id, 3)

    assert held_seats(event_id) == 3
    assert ledger_balances(event_id)
    assert exactly_available(event_id, 10) == 7
    for _ in range(7):
        place(create_identity("user"), event_id, 1)
    with pytest.raises(SoldOut):
        place(create_identity("user"), event_id, 1)
    assert held_seats(event_id) == 10
    assert ledger_balances(event_id)


def test_released_holds_give_their_seats_back_to_be_bought_again(
    checkout: MercadoPagoEmulator, admin: Identity
) -> None:
    event_id, _ = sharded_event(admin, capacity=6, shards=4)
    buyers = [create_identity("user") for _ in range(3)]
    orders = [place(buyer, event_id, 2).order_id for buyer in buyers]
    with pytest.raises(SoldOut):
        place(create_identity("user"), event_id, 1)

    cancel(buyers[0], str(orders[0]))
    execute("UPDATE orders SET hold_expires_at = now() - interval '1 second' WHERE id = :id", id=orders[1])
    assert expire_overdue_holds(payments(), lambda: 60.0).as_dict()["expired"] == 1
    assert ledger_balances(event_id)

    place(create_identity("user"), event_id, 3)
    place(create_identity("user"), event_id, 1)
    with pytest.raises(SoldOut):
        place(create_identity("user"), event_id, 1)
    assert held_seats(event_id) == 6
    assert ledger_balances(event_id)


def test_an_event_of_one_shard_holds_with_todays_statement_and_banks_nothing(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event_id, _ = sharded_event(admin, capacity=100, shards=1)
    place(buyer, event_id, 1)  # a warm container

    with statements_sent() as sent:
        place(other_buyer, event_id, 2)

    assert len(sent) == 3, sent  # the catalogue, the hold, the checkout link (no route: no caller's role)
    assert purchase_statements._HOLD in sent
    assert not any("capacity_shards cs" in statement for statement in sent)
    assert scalar("SELECT count(*) FROM capacity_shards WHERE event_id = :id", id=event_id) == 0
    assert scalar("SELECT seats_claimed FROM events WHERE id = :id", id=event_id) == 3


def test_banks_locked_by_other_holds_are_skipped_for_one_that_is_free(
    checkout: MercadoPagoEmulator, admin: Identity
) -> None:
    event_id, ticket_type_id = sharded_event(admin, capacity=24, shards=8)
    # Every seat banked, three in each bank: the counters have nothing more to give.
    bank(event_id, ticket_type_id, dict.fromkeys(range(8), 3))
    outcomes: list[Any] = []

    def buy_one_seat_three_times() -> None:
        try:
            outcomes.extend(place(create_identity("user"), event_id, 1) for _ in range(3))
        except Exception as error:
            outcomes.append(error)

    with engine().connect() as other, other.begin():
        # Other transactions are taking from banks 0 to 6 and have not committed yet.
        other.exec_driver_sql(
            "SELECT shard FROM capacity_shards WHERE ticket_type_id = %s AND shard < 7 FOR UPDATE", (ticket_type_id,)
        )
        buying = threading.Thread(target=buy_one_seat_three_times)
        buying.start()
        buying.join(timeout=10)
        finished_while_locked = not buying.is_alive()
    buying.join()

    assert finished_while_locked, "a purchase waited for a bank another transaction held"
    assert all(isinstance(outcome, PlacedOrder) for outcome in outcomes), outcomes
    # All three from the free bank: nothing drained, nothing refilled.
    assert scalar("SELECT seats FROM capacity_shards WHERE ticket_type_id = :id AND shard = 7", id=ticket_type_id) == 0
    assert banked(event_id) == 21
    assert ledger_balances(event_id)


def test_an_exact_recount_drains_the_banks_so_a_banked_seat_is_not_sold_twice(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, capacity_total=4, capacity_shards=2, allow_children=False)
    event_id, ticket_type_id = event["id"], event["ticket_types"][0]["id"]
    bank(event_id, ticket_type_id, {0: 2, 1: 2})
    service = event["event_services"][0]["id"]
    # An order with an add-on holds on the counters, which are full of banked seats: the exact recount finds room.
    with_parking = PurchaseRequest.model_validate(
        purchase_body(buyer, event_id, [attendee(f"Persona {n}") for n in range(4)], selected_services={service: 1})
    )
    purchase(Caller(id=buyer.user_id, role="user", email=buyer.email), with_parking, None, "http://127.0.0.1:3000")

    with pytest.raises(SoldOut):
        place(create_identity("user"), event_id, 1)
    assert held_seats(event_id) == 4
    assert banked(event_id) == 0
    assert ledger_balances(event_id)


def test_a_lowered_capacity_takes_back_the_seats_banked_under_the_old_one(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event_id, ticket_type_id = sharded_event(admin, capacity=10, shards=2)
    bank(event_id, ticket_type_id, {0: 5, 1: 5})

    lowered = call(
        "put_event",
        "PUT",
        "/api/v1/events/{event_id}",
        {"event_id": event_id},
        body={"capacity_total": 4},
        token=admin.token,
    )

    assert lowered.status == 200, lowered.body
    place(buyer, event_id, 2)
    place(create_identity("user"), event_id, 2)
    with pytest.raises(SoldOut):
        place(create_identity("user"), event_id, 1)
    assert held_seats(event_id) == 4
    assert ledger_balances(event_id)
