"""A flash sale: 64 buyers at once on one hot event, held on one capacity shard against eight, in the same run.

Every hold on an event with one shard writes the event's row and its ticket type's, so concurrent buyers queue on
those row locks, held until commit; with eight shards (crowdify.domain.capacity_shards) a hold takes its seats from
one of eight banks instead. A lock's cost is mostly the round trips made while it is held, so the purchase code
reaches Postgres through a TCP proxy adding DELAY_MS each way (bench/_latency_proxy.py, a process of its own): a
database a network hop away, as from Lambda.

BUYERS threads in one process, each with a pg8000 connection of its own, call the purchase service
(`purchases.purchase`: catalogue, hold, commit, then the checkout link saved) as bench/purchase.py's handler calls
do, without the resolver (not thread-safe). The MercadoPago checkout is answered in-process at once: through the
emulator its HTTP round trip, outside any transaction, would dominate the CPU of this 2-core machine and hide what
the shards change. Each buyer buys one or two seats for buyers of its own in turn. Rounds alternate one shard and
eight, ROUNDS times, so that drift of the machine falls on both.

Figures: orders per second per shard count and the ratio (target: eight shards at least 3x one), p50/p99
latency, the CPU the machine spent (this process, the proxy, Postgres: is it the locks or the cores?), the proxy's
measured round trip; and a sell-out on each shard count (SELL_OUT_SEATS, all buyers until one seat is refused):
oversold (held + sold above capacity, on every event; must be 0), the seats
left exactly available afterwards (0: no false 'sold out'), and whether every claim counter still equals sold +
pending + banked.

`python -m bench flash_sale_purchases` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import purchase as purchase_bench
from bench._latency_proxy import started

BUYERS = 64
BUYERS_PER_THREAD = 20
SHARD_COUNTS = (1, 8)
ROUNDS = 2
MEASURE_SECONDS = 6.0
DELAY_MS = 0.5
CAPACITY = 1_000_000
SELL_OUT_SEATS = 600
TARGETS = {"eight_shards_vs_one_min": 3.0, "oversold": 0}


class _InstantCheckout:
    """MercadoPago answering at once (see the module's docstring)."""

    def create_checkout(self, request: Any) -> Any:
        from crowdify.adapters.mercadopago_client import Checkout

        return Checkout(preference_id=f"bench-{request.order_id}", init_point="https://mp.example.test/checkout")


def _seed(database_url: str) -> dict[str, Any]:
    """Buyers, one event per shard count (one ticket type without a capacity of its own), the sell-out event."""
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    seed = build_engine(database_url)
    buyers = [str(uuid.uuid4()) for _ in range(BUYERS * BUYERS_PER_THREAD)]
    events: dict[str, str] = {}
    with seed.begin() as connection:
        organizer = connection.execute(text("SELECT id FROM organizers WHERE is_default")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO users (id, email, role) SELECT id, 'buyer-' || id || '@example.test', 'user' FROM "
                "unnest(CAST(:ids AS uuid[])) AS id"
            ),
            {"ids": buyers},
        )
        for label, capacity, shards in [(f"shards_{n}", CAPACITY, n) for n in SHARD_COUNTS] + [
            (f"sell_out_{n}", SELL_OUT_SEATS, n) for n in SHARD_COUNTS
        ]:
            event_id = str(uuid.uuid4())
            connection.execute(
                text(
                    """
                    INSERT INTO events (id, organizer_id, name, starts_at, capacity_total, capacity_shards, status)
                    VALUES (:id, :organizer, :name, now() + interval '30 days', :capacity, :shards, 'published')
                    """
                ),
                {
                    "id": event_id,
                    "organizer": organizer,
                    "name": f"Flash {label}",
                    "capacity": capacity,
                    "shards": shards,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO ticket_types (id, event_id, name, price, is_default) "
                    "VALUES (gen_random_uuid(), :event_id, 'General', 15000, true)"
                ),
                {"event_id": event_id},
            )
            events[label] = event_id
    seed.dispose()
    return {"buyers": buyers, "events": events}


def _request(user_id: str, event_id: str, seats: int) -> Any:
    from purchase_schemas import PurchaseRequest

    return PurchaseRequest.model_validate(
        {
            "user_id": user_id,
            "event_id": event_id,
            "attendees": [
                {
                    "name": f"Asistente {position} Bench",
                    "email": f"asistente{position}@example.test",
                    "document_type": "RUT",
                    "document_number": f"{position}.111.111-1",
                }
                for position in range(seats)
            ],
        }
    )


def _buy(user_id: str, event_id: str, seats: int) -> str:
    """'placed', or the error's class name."""
    from purchases import purchase

    from crowdify.auth.callers import Caller
    from crowdify.core.errors import DomainError

    try:
        purchase(
            Caller(id=uuid.UUID(user_id), role="user", email=None),
            _request(user_id, event_id, seats),
            None,
            "http://127.0.0.1:3000",
        )
    except DomainError as error:
        return type(error).__name__
    return "placed"


def _storm(buyers: list[str], event_id: str, seconds: float | None) -> dict[str, Any]:
    """BUYERS threads buying 1-2 seats for `seconds`, or (None) until each is refused a single seat."""
    start = threading.Barrier(BUYERS + 1)

    def buyer(index: int) -> tuple[Counter[str], list[float], int, float, float]:
        generator = random.Random(index)
        mine = buyers[index * BUYERS_PER_THREAD : (index + 1) * BUYERS_PER_THREAD]
        outcomes: Counter[str] = Counter()
        latencies: list[float] = []
        seats_placed = 0
        start.wait()
        began = time.perf_counter()
        deadline = began + (seconds or 3600)
        turn = 0
        wanted = generator.randint(1, 2)
        while time.perf_counter() < deadline:
            before = time.perf_counter()
            outcome = _buy(mine[turn % len(mine)], event_id, wanted)
            latencies.append(time.perf_counter() - before)
            outcomes[outcome] += 1
            turn += 1
            if outcome == "placed":
                seats_placed += wanted
                wanted = generator.randint(1, 2)
            elif outcome == "SoldOut" and seconds is None:
                if wanted == 1:
                    break
                wanted = 1
        return outcomes, latencies, seats_placed, began, time.perf_counter()

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        futures = [pool.submit(buyer, index) for index in range(BUYERS)]
        start.wait()
        reports = [future.result() for future in futures]
    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report[0])
    latencies = sorted(latency for report in reports for latency in report[1])
    window = max(report[4] for report in reports) - min(report[3] for report in reports)
    return {
        "orders": outcomes["placed"],
        "seats": sum(report[2] for report in reports),
        "outcomes": dict(outcomes),
        "orders_per_second": round(outcomes["placed"] / window, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def _timed_storm(buyers: list[str], event_id: str) -> dict[str, Any]:
    """A MEASURE_SECONDS storm, and the cores the whole machine kept busy meanwhile (`busy_cores`, of psutil's)."""
    import psutil

    before = psutil.cpu_times()
    result = _storm(buyers, event_id, MEASURE_SECONDS)
    after = psutil.cpu_times()
    busy = sum(getattr(after, field) - getattr(before, field) for field in ("user", "system", "nice", "irq", "softirq"))
    elapsed = sum(after) - sum(before)
    return {**result, "busy_cores": round(busy / elapsed * psutil.cpu_count(), 2) if elapsed else 0.0}


def _round_trip_ms(database_url: str) -> float:
    """Median `SELECT 1` round trip on one connection to `database_url`."""
    from crowdify.persistence.pg_connection import open_connection

    connection = open_connection(database_url)
    timings = []
    for _ in range(200):
        before = time.perf_counter()
        connection.execute("SELECT 1")
        timings.append(time.perf_counter() - before)
    connection.close()
    return round(statistics.median(timings) * 1000, 3)


def _audit(database_url: str, events: dict[str, str]) -> dict[str, Any]:
    """Per event: capacity, held + sold, banked, whether every counter equals sold + pending + banked, refills."""
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    check = build_engine(database_url)
    figures: dict[str, Any] = {}
    with check.connect() as connection:
        for label, event_id in events.items():
            row = connection.execute(
                text(
                    """
                    SELECT e.capacity_total AS capacity, e.seats_claimed,
                           (SELECT count(*) FROM tickets t WHERE t.event_id = e.id AND t.status <> 'cancelled')
                           + (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi
                                JOIN orders o ON o.id = oi.order_id
                               WHERE o.event_id = e.id AND o.status = 'pending') AS taken,
                           (SELECT coalesce(sum(seats), 0) FROM capacity_shards WHERE event_id = e.id) AS banked,
                           (SELECT count(*) FROM capacity_shards WHERE event_id = e.id) AS banks,
                           (SELECT bool_and(tt.seats_claimed =
                                   (SELECT count(*) FROM tickets t WHERE t.ticket_type_id = tt.id
                                       AND t.status <> 'cancelled')
                                   + (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi
                                        JOIN orders o ON o.id = oi.order_id
                                       WHERE oi.ticket_type_id = tt.id AND o.status = 'pending')
                                   + (SELECT coalesce(sum(cs.seats), 0) FROM capacity_shards cs
                                       WHERE cs.ticket_type_id = tt.id))
                              FROM ticket_types tt WHERE tt.event_id = e.id) AS types_balance
                      FROM events e WHERE e.id = :id
                    """
                ),
                {"id": event_id},
            ).one()
            figures[label] = {
                "capacity": row.capacity,
                "held_and_sold": int(row.taken),
                "banked": int(row.banked),
                "banks": int(row.banks),
                "counters_balance": bool(row.types_balance) and row.seats_claimed == row.taken + row.banked,
                "oversold": max(int(row.taken) - row.capacity, 0),
            }
    check.dispose()
    return figures


def _exactly_available(event_id: str) -> int:
    from crowdify.domain.capacity import available, usage_for_events
    from crowdify.persistence.database import engine

    with engine().connect() as connection:
        capacity = connection.exec_driver_sql("SELECT capacity_total FROM events WHERE id = %s", (event_id,)).scalar()
        usage = usage_for_events(connection, [uuid.UUID(event_id)])
    return available(capacity, usage.event(uuid.UUID(event_id))) or 0


def run() -> dict[str, Any]:
    purchase_bench._use_function_paths()
    import purchases
    from sqlalchemy.engine import make_url

    from crowdify.config.settings import reset_settings
    from crowdify.persistence import pg_connection
    from crowdify.persistence.database import dispose_engine
    from crowdify.persistence.migrations import upgrade_to_head
    from local.postgres import create_database, drop_database, test_server_url

    server_url = test_server_url()
    database_name = f"crowdify_bench_flash_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, database_name)
    saved_environment = dict(os.environ)
    url = make_url(database_url)
    real_payments = purchases.payments
    try:
        upgrade_to_head(database_url)
        seeded = _seed(database_url)
        with started(url.host or "127.0.0.1", url.port or 5432, DELAY_MS) as proxy_port:
            proxied_url = url.set(host="127.0.0.1", port=proxy_port).render_as_string(hide_password=False)
            os.environ.update(
                {
                    **purchase_bench.purchase_environment("http://127.0.0.1:9"),
                    "DATABASE_URL": proxied_url,
                    "DATABASE_POOL_SIZE": str(BUYERS),
                }
            )
            reset_settings()
            dispose_engine()
            pg_connection.close_connections()
            purchases.payments = _InstantCheckout  # type: ignore[assignment]
            figures: dict[str, Any] = {
                "buyers": BUYERS,
                "checkout": "answered in-process (no MercadoPago emulator)",
                "round_trip_ms_direct": _round_trip_ms(database_url),
                "round_trip_ms_through_proxy": _round_trip_ms(proxied_url),
            }
            runs: dict[int, list[dict[str, Any]]] = {shards: [] for shards in SHARD_COUNTS}
            for _ in range(ROUNDS):
                for shards in SHARD_COUNTS:
                    event_id = seeded["events"][f"shards_{shards}"]
                    runs[shards].append(_timed_storm(seeded["buyers"], event_id))
            for shards, measured in runs.items():
                orders = sum(run["orders"] for run in measured)
                seconds = sum(run["orders"] / run["orders_per_second"] for run in measured if run["orders_per_second"])
                figures[f"shards_{shards}"] = {
                    "orders_per_second": round(orders / seconds, 1) if seconds else 0.0,
                    "rounds": measured,
                }
            one, eight = (figures[f"shards_{n}"]["orders_per_second"] for n in SHARD_COUNTS)
            figures["eight_shards_vs_one"] = round(eight / one, 2) if one else None
            for shards in SHARD_COUNTS:
                sell_out_event = seeded["events"][f"sell_out_{shards}"]
                sell_out = _storm(seeded["buyers"], sell_out_event, None)
                figures[f"sell_out_{shards}"] = {
                    **sell_out,
                    "exactly_available_after": _exactly_available(sell_out_event),
                }
            dispose_engine()
            pg_connection.close_connections()
        audit = _audit(database_url, seeded["events"])
        figures["events"] = audit
        figures["oversold"] = sum(event["oversold"] for event in audit.values())
        figures["targets"] = TARGETS
        return figures
    finally:
        purchases.payments = real_payments  # type: ignore[assignment]
        os.environ.clear()
        os.environ.update(saved_environment)
        reset_settings()
        dispose_engine()
        pg_connection.close_connections()
        drop_database(server_url, database_name)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
