"""A flash sale's waiting room and sold-out storm: the real handlers in-process, a fresh database on the test server.

Figures, all from one run:
- joins: VISITORS people join one event's waiting room before it opens, through `post_event_queue.lambda_handler`
  in JOIN_WORKERS forked worker processes (warm containers, a connection each), LATE_VISITORS more after the
  opening; joins per second, SQL statements per join, CPU milliseconds per join (workers plus this database's
  Postgres backends, as bench/purchase.py counts them);
- position checks: CHECKS polls of `get_event_queue.lambda_handler` by people in line: CPU milliseconds per check;
- the inlet: the draw of VISITORS places at the opening (seconds), then rounds admitting everyone;
- fairness: people admitted before someone with an earlier place (must be 0), late arrivals placed out of their
  joining order (must be 0), and whether the draw is a permutation of 1..VISITORS;
- a sold-out storm: SALE_WORKERS buy from an event with seats (the sale), then the same workers buy from a sold-out
  event (the refusals); refusals per second and CPU milliseconds per refusal beside a sale's, as a ratio.

`python -m bench.flash_sale` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import resource
import statistics
import sys
import time
import uuid
from collections import Counter
from typing import Any

from bench.purchase import (
    JWT_SECRET,
    REPOSITORY,
    SELL_OUT_WORKERS,
    StatementCounter,
    _cpu_seconds,
    _postgres_processes,
    _run_workers,
    _seed,
    _taken,
    buyer_groups,
    purchase_stack,
    sell_out,
)
from tests.support.api_gateway import LambdaContext, build_event

VISITORS = 100_000
LATE_VISITORS = 1_000
JOIN_WORKERS = 4
CHECKS = 20_000
ADMISSION_ROUNDS = 4
SALE_WORKERS = 8
MEASURE_SECONDS = 8.0
QUEUE = "/api/v1/events/{event_id}/queue"
TARGETS = {"joins_per_second": 2000, "refusal_cpu_over_sale_cpu": 0.3, "admitted_out_of_order": 0}


def _queue_worker(
    module_name: str,
    method: str,
    event_id: str,
    user_ids: list[str],
    ready: Any,
    done: Any,
    results: Any,
) -> None:
    """One warm container: one request per user, reporting statuses, latencies, statements and CPU."""
    import importlib

    from sqlalchemy import event as sqlalchemy_event

    from crowdify.auth.backend_tokens import issue_user_token
    from crowdify.config.settings import reset_settings
    from crowdify.persistence.database import dispose_engine, engine
    from crowdify.persistence.pg_connection import run_alone, statements_sent

    reset_settings()
    dispose_engine()
    handler = importlib.import_module(module_name).lambda_handler
    context = LambdaContext(function_name=f"bench-{module_name}")
    requests = [
        build_event(method, QUEUE, {"event_id": event_id}, token=issue_user_token(user_id, JWT_SECRET))
        for user_id in user_ids
    ]
    counted = StatementCounter()
    sqlalchemy_event.listen(engine(), "before_cursor_execute", counted)
    # Connected before the parent lists this database's backends, so that this worker's backend is among them.
    run_alone("SELECT 1")
    ready.wait()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    latencies: list[float] = []
    outcomes: Counter[int] = Counter()
    with statements_sent() as sent:
        for request in requests:
            begun = time.perf_counter()
            answer = handler(request, context)
            latencies.append(time.perf_counter() - begun)
            outcomes[answer["statusCode"]] += 1
    finished = time.perf_counter()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    results.put(
        {
            "latencies": latencies,
            "outcomes": dict(outcomes),
            "statements": counted.statements + len(sent),
            "cpu_seconds": (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
            "started": started,
            "finished": finished,
        }
    )
    done.wait()


def _run_queue_workers(
    database_url: str, database_name: str, module_name: str, method: str, event_id: str, user_ids: list[str]
) -> dict[str, Any]:
    from crowdify.persistence.database import dispose_engine

    # A forked worker must not inherit this process's pooled connections: closing its copy would end ours.
    dispose_engine()
    context = multiprocessing.get_context("fork")
    shares = [user_ids[index::JOIN_WORKERS] for index in range(JOIN_WORKERS)]
    ready = context.Barrier(JOIN_WORKERS + 1)
    done = context.Barrier(JOIN_WORKERS + 1)
    results = context.Queue()
    workers = [
        context.Process(target=_queue_worker, args=(module_name, method, event_id, share, ready, done, results))
        for share in shares
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=600)
    backends, _shared = _postgres_processes(database_url, database_name)
    backends_before = _cpu_seconds(backends)
    reports = [results.get(timeout=1800) for _ in workers]
    backends_cpu = _cpu_seconds(backends) - backends_before
    done.wait(timeout=60)
    for worker in workers:
        worker.join(timeout=10)

    answered = sum(len(report["latencies"]) for report in reports)
    latencies = sorted(latency for report in reports for latency in report["latencies"])
    outcomes: Counter[int] = Counter()
    for report in reports:
        outcomes.update({int(status): count for status, count in report["outcomes"].items()})
    window = max(report["finished"] for report in reports) - min(report["started"] for report in reports)
    worker_cpu = sum(report["cpu_seconds"] for report in reports)
    return {
        "requests": answered,
        "workers": JOIN_WORKERS,
        "responses": {str(status): count for status, count in sorted(outcomes.items())},
        "per_second": round(answered / window, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "statements_per_request": round(sum(report["statements"] for report in reports) / answered, 2),
        "cpu_ms_per_request": round((worker_cpu + backends_cpu) * 1000 / answered, 3),
        "cpu_ms_per_request_handler": round(worker_cpu * 1000 / answered, 3),
        "cpu_ms_per_request_postgres_backends": round(backends_cpu * 1000 / answered, 3),
    }


def _seed_room(database_url: str, visitors: int) -> tuple[str, list[str]]:
    """VISITORS + LATE_VISITORS users and an event whose waiting room opens in an hour; the event and the users."""
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    seed = build_engine(database_url)
    event_id = str(uuid.uuid4())
    with seed.begin() as connection:
        user_ids = [
            str(user_id)
            for user_id in connection.execute(
                text(
                    """
                    INSERT INTO users (id, email, role)
                    SELECT id, 'visitor-' || id::text || '@example.test', 'user'
                      FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, :visitors)) AS fresh
                    RETURNING id
                    """
                ),
                {"visitors": visitors},
            ).scalars()
        ]
        organizer = connection.execute(text("SELECT id FROM organizers WHERE is_default")).scalar_one()
        connection.execute(
            text(
                """
                INSERT INTO events (id, organizer_id, name, starts_at, capacity_total, status, waiting_room_opens_at,
                                    waiting_room_admissions_per_minute)
                VALUES (:id, :organizer, 'Bench flash sale', now() + interval '30 days', 10000000, 'published',
                        now() + interval '1 hour', 1)
                """
            ),
            {"id": event_id, "organizer": organizer},
        )
    seed.dispose()
    return event_id, user_ids


def _execute(database_url: str, statement: str, **parameters: Any) -> list[Any]:
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    engine = build_engine(database_url)
    with engine.begin() as connection:
        result = connection.execute(text(statement), parameters)
        found = list(result) if result.returns_rows else []
    engine.dispose()
    return found


def _inlet_round(event_id: str) -> tuple[Any, float]:
    from crowdify.domain.waiting_room_inlet import admit_from_queue
    from crowdify.persistence.database import transaction

    started = time.perf_counter()
    with transaction() as connection:
        served = admit_from_queue(connection, uuid.UUID(event_id), max_in_flight=10 * VISITORS)
    return served, time.perf_counter() - started


def _waiting_room(database_url: str, database_name: str) -> dict[str, Any]:
    event_id, user_ids = _seed_room(database_url, VISITORS + LATE_VISITORS)
    early, late = user_ids[:VISITORS], user_ids[VISITORS:]
    joins = _run_queue_workers(database_url, database_name, "post_event_queue", "POST", event_id, early)

    # The opening: everyone so far joined before it.
    _execute(
        database_url,
        "UPDATE events SET waiting_room_opens_at = now() - interval '60 seconds' WHERE id = :id",
        id=event_id,
    )
    _execute(
        database_url,
        "UPDATE queue_entries SET joined_at = joined_at - interval '61 seconds' WHERE event_id = :id",
        id=event_id,
    )
    draw, draw_seconds = _inlet_round(event_id)
    late_joins = _run_queue_workers(database_url, database_name, "post_event_queue", "POST", event_id, late)
    placing, placing_seconds = _inlet_round(event_id)
    checks = _run_queue_workers(
        database_url, database_name, "get_event_queue", "GET", event_id, random.sample(early, CHECKS)
    )

    # Everyone admitted, a quarter a round: each round is given a minute's worth of the rate.
    everyone = VISITORS + LATE_VISITORS
    _execute(
        database_url,
        "UPDATE events SET waiting_room_admissions_per_minute = :rate WHERE id = :id",
        id=event_id,
        rate=min(-(-everyone // ADMISSION_ROUNDS), 100_000),
    )
    round_seconds = []
    for _ in range(ADMISSION_ROUNDS + 1):
        _execute(
            database_url,
            "UPDATE waiting_rooms SET admitted_at = now() - interval '60 seconds' WHERE event_id = :id",
            id=event_id,
        )
        _served, seconds = _inlet_round(event_id)
        round_seconds.append(seconds)
    fairness = _execute(
        database_url,
        """
        WITH ordered AS (
            SELECT place, admitted_at, joined_at, user_id,
                   max(admitted_at) OVER (ORDER BY place ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
              FROM queue_entries WHERE event_id = :id
        ), late AS (
            SELECT place, row_number() OVER (ORDER BY joined_at, user_id) AS arrival
              FROM queue_entries WHERE event_id = :id AND place > :early
        )
        SELECT (SELECT count(*) FROM ordered WHERE before > admitted_at) AS admitted_out_of_order,
               (SELECT count(*) FROM ordered WHERE admitted_at IS NULL) AS not_admitted,
               (SELECT count(DISTINCT place) FROM ordered WHERE place BETWEEN 1 AND :early) AS early_places,
               (SELECT count(*) FROM late WHERE place <> :early + arrival) AS late_out_of_order
        """,
        id=event_id,
        early=VISITORS,
    )[0]
    return {
        "visitors": VISITORS,
        "joins": joins,
        "late_joins": late_joins,
        "position_checks": checks,
        "draw": {"places": draw.drawn, "seconds": round(draw_seconds, 2)},
        "late_placing": {"places": placing.placed, "seconds": round(placing_seconds, 3)},
        "admission_round_seconds": [round(seconds, 2) for seconds in round_seconds],
        "fairness": {
            "admitted_out_of_order": int(fairness.admitted_out_of_order),
            "not_admitted": int(fairness.not_admitted),
            "draw_is_a_permutation": int(fairness.early_places) == VISITORS,
            "late_arrivals_out_of_order": int(fairness.late_out_of_order),
        },
    }


def _sold_out_storm(database_url: str, database_name: str) -> dict[str, Any]:
    seeded = _seed(database_url, SELL_OUT_WORKERS * 100)
    groups = buyer_groups(seeded["buyers"])
    sale = _run_workers(
        database_url, database_name, groups[:SALE_WORKERS], seeded["main_event"], seeded["main_type"], MEASURE_SECONDS
    )
    sell_out(database_url, database_name, groups, seeded)
    storm = _run_workers(
        database_url,
        database_name,
        groups[:SALE_WORKERS],
        seeded["sell_out_event"],
        seeded["sell_out_type"],
        MEASURE_SECONDS,
    )
    taken = _taken(database_url, seeded["sell_out_type"])
    sale_cpu, refusal_cpu = sale["cpu_ms_per_response"], storm["cpu_ms_per_response"]
    return {
        "sale": {
            key: sale[key]
            for key in (
                "orders_per_second",
                "latency_p50_ms",
                "cpu_ms_per_response",
                "cpu_ms_per_purchase_postgres_backends",
                "responses",
            )
        },
        "refusals": {
            key: storm[key] for key in ("responses_per_second", "latency_p50_ms", "cpu_ms_per_response", "responses")
        },
        "refusal_cpu_over_sale_cpu": round(refusal_cpu / sale_cpu, 3) if sale_cpu and refusal_cpu else None,
        "oversold": max(taken["held"] + taken["sold"] - taken["capacity"], 0),
    }


def run() -> dict[str, Any]:
    with purchase_stack("flash") as (database_name, database_url):
        events_folder = str(REPOSITORY / "functions" / "events")
        if events_folder not in sys.path:
            sys.path.insert(0, events_folder)
        # Imported before the workers fork: each starts as a warm container.
        import get_event_queue  # noqa: F401
        import post_event_queue  # noqa: F401
        import post_purchases  # noqa: F401

        return {
            "waiting_room": _waiting_room(database_url, database_name),
            "sold_out_storm": _sold_out_storm(database_url, database_name),
            "targets": TARGETS,
        }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
