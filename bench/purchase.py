"""Purchases under load: the real `post_purchases.lambda_handler`, API Gateway v2 events, one hot ticket type.

A fresh migrated database of its own on the test server (`local.postgres.test_server_url()`), the MercadoPago
emulator in a process of its own (so its CPU can be left out), and worker processes forked after the handler
module is imported (a warm container each, its own connection pool of one). Figures:
- orders per second and p50/p99 latency with 8 and 32 workers buying from one hot ticket type, each worker for
  BUYERS_PER_WORKER buyers in turn;
- SQL statements per purchase, counted in every worker by a `before_cursor_execute` listener (SQLAlchemy) and
  `crowdify.persistence.pg_connection.statements_sent` (pg8000's prepared statements: the usual path); transaction
  control and pool pings are not statements, the caller's role lookup is;
- CPU milliseconds per purchase: the workers' CPU plus this database's Postgres backends' CPU (psutil on the
  postmaster's children), divided by completed purchases; the server's shared processes (WAL writer, checkpointer)
  are reported apart, since on a shared test server they also work for other databases;
- the raw hot-row rate of that Postgres: `UPDATE … SET n = n + 1 WHERE id = 1` from 8 connections, the
  physical ceiling of anything that serialises on one row (every hold on an event does);
- a sell-out race: 32 workers buy from a 200-seat ticket type until it is gone; oversold is counted in the
  database afterwards (held + sold above capacity).

`python -m bench.purchase` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.api_gateway import LambdaContext

REPOSITORY = Path(__file__).resolve().parent.parent
PURCHASE_FOLDER = REPOSITORY / "functions" / "purchase"
LAYER = REPOSITORY / "layers" / "shared"
WORKER_COUNTS = (8, 32)
MEASURE_SECONDS = 8.0
HOT_ROW_CONNECTIONS = 8
HOT_ROW_SECONDS = 3.0
SELL_OUT_SEATS = 200
SELL_OUT_WORKERS = 32
ATTENDEES_PER_ORDER = 2
# Each worker buys in turn for this many buyers, so that a buyer has a few orders on the event as real buyers do
# (the per-buyer limits count a buyer's orders on every purchase).
BUYERS_PER_WORKER = 100
ACCESS_TOKEN = "bench-mp-token"
JWT_SECRET = "bench-jwt-secret-that-is-long-enough-for-hs256"
TARGETS = {"orders_per_second": 200, "oversold": 0, "statements_per_purchase": 5, "cpu_ms_per_purchase": 7.0}
QUIET_POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "crowdify-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "CrowdifyBench",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# Not statements in the sense of the targets: transaction control and connection checks.
_NOT_A_STATEMENT = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SELECT 1\s*$)", re.IGNORECASE)
_POSTGRES_BACKGROUND = ("checkpointer", "background writer", "walwriter", "autovacuum", "replication", "io worker")


class StatementCounter:
    """A `before_cursor_execute` listener counting the statements SQLAlchemy sends (not transaction control)."""

    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, _connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not _NOT_A_STATEMENT.match(statement):
            self.statements += 1


def _use_function_paths() -> None:
    for folder in (str(LAYER), str(PURCHASE_FOLDER), str(REPOSITORY)):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def purchase_event(token: str, body: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2) event for POST /api/v1/purchases."""
    from tests.support.api_gateway import build_event

    return build_event("POST", "/api/v1/purchases", body=body, token=token)


def _purchase_body(user_id: str, event_id: str, ticket_type_id: str, voucher_code: str | None) -> dict[str, Any]:
    return {
        **({"voucher_code": voucher_code} if voucher_code else {}),
        "user_id": user_id,
        "event_id": event_id,
        "idempotency_key": uuid.uuid4().hex,
        "attendees": [
            {
                "name": f"Asistente {position} Bench",
                "email": f"asistente{position}@example.test",
                "document_type": "RUT",
                "document_number": f"{position}.111.111-1",
                "ticket_type_id": ticket_type_id,
            }
            for position in range(ATTENDEES_PER_ORDER)
        ],
    }


def _worker(
    buyers: list[tuple[str, str]],
    event_id: str,
    ticket_type_id: str,
    seconds: float,
    until_sold_out: bool,
    ready: Any,
    done: Any,
    results: Any,
    voucher_code: str | None,
) -> None:
    """One warm container: buys for `seconds` (or until sold out), reporting latencies, statements and CPU."""
    import post_purchases
    from sqlalchemy import event as sqlalchemy_event

    from crowdify.adapters.mercadopago_client import payments
    from crowdify.config.settings import reset_settings
    from crowdify.persistence.database import dispose_engine, engine
    from crowdify.persistence.pg_connection import statements_sent

    reset_settings()
    dispose_engine()
    payments.cache_clear()
    counted = StatementCounter()
    sqlalchemy_event.listen(engine(), "before_cursor_execute", counted)
    context = LambdaContext(function_name="bench-create-purchase")
    handler = post_purchases.lambda_handler
    user_id, token = buyers[0]
    warm = handler(purchase_event(token, _purchase_body(user_id, event_id, ticket_type_id, voucher_code)), context)
    ready.wait()

    counted.statements = 0
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    deadline = started + seconds
    latencies: list[float] = []
    outcomes: Counter[int] = Counter()
    with statements_sent() as sent_without_sqlalchemy:
        for user_id, token in itertools.cycle(buyers):
            if time.perf_counter() >= deadline:
                break
            begun = time.perf_counter()
            body = _purchase_body(user_id, event_id, ticket_type_id, voucher_code)
            answer = handler(purchase_event(token, body), context)
            latencies.append(time.perf_counter() - begun)
            outcomes[answer["statusCode"]] += 1
            if until_sold_out and answer["statusCode"] == 409:
                break
    finished = time.perf_counter()
    statements = counted.statements + len(sent_without_sqlalchemy)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    results.put(
        {
            "warm_status": warm["statusCode"],
            "latencies": latencies,
            "outcomes": dict(outcomes),
            "statements": statements,
            "cpu_seconds": (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
            "started": started,
            "finished": finished,
        }
    )
    # Stay connected until the parent has read Postgres's CPU: an exited backend takes its CPU time with it.
    done.wait()


def _postgres_processes(database_url: str, database_name: str) -> tuple[list[Any], list[Any]]:
    """(this database's backends, the server's shared processes: postmaster, WAL writer, checkpointer …)."""
    import psutil
    from sqlalchemy import create_engine, text

    from crowdify.persistence.database import driver_url_and_arguments

    url, arguments = driver_url_and_arguments(database_url)
    probe = create_engine(url, connect_args=arguments)
    with probe.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        postmaster = psutil.Process(psutil.Process(backend).ppid())
    probe.dispose()
    backends: list[Any] = []
    shared = [postmaster]
    for child in postmaster.children():
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if f" {database_name} " in command:
            backends.append(child)
        elif any(name in command for name in _POSTGRES_BACKGROUND):
            shared.append(child)
    return backends, shared


def _cpu_seconds(processes: list[Any]) -> float:
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _run_workers(
    database_url: str,
    database_name: str,
    buyers: list[list[tuple[str, str]]],
    event_id: str,
    ticket_type_id: str,
    seconds: float,
    until_sold_out: bool = False,
    voucher_code: str | None = None,
) -> dict[str, Any]:
    """One worker per group of buyers, each buying with `voucher_code` when given."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(len(buyers) + 1)
    done = context.Barrier(len(buyers) + 1)
    results = context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(group, event_id, ticket_type_id, seconds, until_sold_out, ready, done, results, voucher_code),
        )
        for group in buyers
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=60)
    backends, shared = _postgres_processes(database_url, database_name)
    backends_before, shared_before = _cpu_seconds(backends), _cpu_seconds(shared)
    reports = [results.get(timeout=seconds + 60) for _ in workers]
    backends_cpu, shared_cpu = _cpu_seconds(backends) - backends_before, _cpu_seconds(shared) - shared_before
    done.wait(timeout=60)
    for worker in workers:
        worker.join(timeout=10)

    latencies = sorted(latency for report in reports for latency in report["latencies"])
    outcomes: Counter[int] = Counter()
    for report in reports:
        outcomes.update({int(status): count for status, count in report["outcomes"].items()})
    placed = outcomes.get(200, 0)
    window = max(report["finished"] for report in reports) - min(report["started"] for report in reports)
    worker_cpu = sum(report["cpu_seconds"] for report in reports)
    answered = sum(outcomes.values())
    return {
        "workers": len(buyers),
        "orders": placed,
        "responses": {str(status): count for status, count in sorted(outcomes.items())},
        "orders_per_second": round(placed / window, 1) if window else 0.0,
        "responses_per_second": round(answered / window, 1) if window else 0.0,
        "cpu_ms_per_response": round((worker_cpu + backends_cpu) * 1000 / answered, 2) if answered else None,
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
        "statements_per_purchase": round(sum(r["statements"] for r in reports) / placed, 2) if placed else None,
        # Handler processes plus this database's Postgres backends. The server's shared processes (WAL writer,
        # checkpointer) are shown apart: on a shared test server they also work for other databases.
        "cpu_ms_per_purchase": round((worker_cpu + backends_cpu) * 1000 / placed, 2) if placed else None,
        "cpu_ms_per_purchase_handler": round(worker_cpu * 1000 / placed, 2) if placed else None,
        "cpu_ms_per_purchase_postgres_backends": round(backends_cpu * 1000 / placed, 2) if placed else None,
        "cpu_ms_per_purchase_postgres_shared": round(shared_cpu * 1000 / placed, 2) if placed else None,
        "warm_up_statuses": sorted({report["warm_status"] for report in reports}),
    }


def sell_out(
    database_url: str, database_name: str, groups: list[list[tuple[str, str]]], seeded: dict[str, Any]
) -> dict[str, Any]:
    """SELL_OUT_WORKERS buy from the seeded sell-out event's SELL_OUT_SEATS until it is gone."""
    return _run_workers(
        database_url,
        database_name,
        groups[:SELL_OUT_WORKERS],
        seeded["sell_out_event"],
        seeded["sell_out_type"],
        MEASURE_SECONDS,
        until_sold_out=True,
    )


def _hot_row_worker(database_url: str, seconds: float, results: Any) -> None:
    import pg8000.native
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    connection = pg8000.native.Connection(
        user=url.username or "postgres",
        password=url.password,
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        database=url.database,
    )
    updates = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        connection.run("UPDATE bench_hot_row SET n = n + 1 WHERE id = 1")
        updates += 1
    connection.close()
    results.put(updates)


def hot_row_update_rate(database_url: str) -> float:
    """Committed single-statement updates of one row per second, from several connections at once."""
    from crowdify.persistence.database import build_engine

    setup = build_engine(database_url)
    with setup.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE bench_hot_row (id int PRIMARY KEY, n bigint NOT NULL)")
        connection.exec_driver_sql("INSERT INTO bench_hot_row VALUES (1, 0)")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_hot_row_worker, args=(database_url, HOT_ROW_SECONDS, results))
        for _ in range(HOT_ROW_CONNECTIONS)
    ]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=HOT_ROW_SECONDS + 30) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    with setup.begin() as connection:
        stored = connection.exec_driver_sql("SELECT n FROM bench_hot_row").scalar_one()
        connection.exec_driver_sql("DROP TABLE bench_hot_row")
    setup.dispose()
    assert stored == total, "every update reported was committed"
    return round(total / HOT_ROW_SECONDS, 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.mercadopago_emulator", "--port", str(port), "--access-token", ACCESS_TOKEN],
        cwd=REPOSITORY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the MercadoPago emulator did not start")


def _seed(database_url: str, users: int) -> dict[str, Any]:
    """Buyers with tokens, a main event with an unlimited hot type, and a sell-out event of SELL_OUT_SEATS."""
    from sqlalchemy import text

    from crowdify.auth.backend_tokens import issue_user_token
    from crowdify.persistence.database import build_engine

    seed = build_engine(database_url)
    buyers = [(str(uuid.uuid4()), "") for _ in range(users)]
    with seed.begin() as connection:
        organizer = connection.execute(text("SELECT id FROM organizers WHERE is_default")).scalar_one()
        for user_id, _ in buyers:
            connection.execute(
                text("INSERT INTO users (id, email, role) VALUES (:id, :email, 'user')"),
                {"id": user_id, "email": f"buyer-{user_id[:8]}@example.test"},
            )
        ids: dict[str, str] = {}
        for label, capacity, type_capacity in (
            ("main", 10_000_000, None),
            ("sell_out", 10_000_000, SELL_OUT_SEATS),
        ):
            event_id = str(uuid.uuid4())
            type_id = str(uuid.uuid4())
            connection.execute(
                text(
                    """
                    INSERT INTO events (id, organizer_id, name, starts_at, capacity_total, status)
                    VALUES (:id, :organizer, :name, now() + interval '30 days', :capacity, 'published')
                    """
                ),
                {"id": event_id, "organizer": organizer, "name": f"Bench {label}", "capacity": capacity},
            )
            connection.execute(
                text(
                    """
                    INSERT INTO ticket_types (id, event_id, name, price, capacity, is_default)
                    VALUES (:id, :event_id, 'Hot', 15000, :capacity, true)
                    """
                ),
                {"id": type_id, "event_id": event_id, "capacity": type_capacity},
            )
            ids[f"{label}_event"], ids[f"{label}_type"] = event_id, type_id
    seed.dispose()
    return {"buyers": [(user_id, issue_user_token(user_id, JWT_SECRET)) for user_id, _ in buyers], **ids}


def _taken(database_url: str, ticket_type_id: str) -> dict[str, int]:
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    check = build_engine(database_url)
    with check.connect() as connection:
        row = connection.execute(
            text(
                """
                SELECT tt.capacity,
                       (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                         WHERE oi.ticket_type_id = tt.id AND o.status = 'pending' AND o.hold_expires_at > now())
                         AS held,
                       (SELECT count(*) FROM tickets t WHERE t.ticket_type_id = tt.id AND t.status <> 'cancelled')
                         AS sold,
                       (SELECT count(*) FROM orders o JOIN order_items oi ON oi.order_id = o.id
                         WHERE oi.ticket_type_id = tt.id AND o.status = 'pending') AS orders
                  FROM ticket_types tt WHERE tt.id = :id
                """
            ),
            {"id": ticket_type_id},
        ).one()
    check.dispose()
    return {"capacity": row.capacity, "held": int(row.held), "sold": int(row.sold), "orders": int(row.orders)}


@contextmanager
def purchase_stack(name: str) -> Iterator[tuple[str, str]]:
    """For the block: a fresh migrated database `crowdify_bench_<name>_…` on the test server, the MercadoPago
    emulator, and this process's environment set as the purchase function's, pointing at both; (the database's name,
    its URL). Afterwards all of it is undone (`tear_down`)."""
    _use_function_paths()
    from crowdify.persistence.migrations import upgrade_to_head
    from local.postgres import create_database, test_server_url

    server_url = test_server_url()
    database_name = f"crowdify_bench_{name}_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, database_name)
    emulator, emulator_url = _start_emulator()
    saved_environment = dict(os.environ)
    try:
        upgrade_to_head(database_url)
        os.environ.update({**purchase_environment(emulator_url), "DATABASE_URL": database_url})
        yield database_name, database_url
    finally:
        tear_down(saved_environment, emulator, server_url, database_name)


def run() -> dict[str, Any]:
    with purchase_stack("purchase") as (database_name, database_url):
        # Imported once here, before the workers fork: each starts as a warm container, not a cold one.
        import post_purchases  # noqa: F401

        seeded = _seed(database_url, max(WORKER_COUNTS) * BUYERS_PER_WORKER)
        groups = buyer_groups(seeded["buyers"])
        figures: dict[str, Any] = {"hot_row_updates_per_second": hot_row_update_rate(database_url)}
        for workers in WORKER_COUNTS:
            figures[f"workers_{workers}"] = _run_workers(
                database_url,
                database_name,
                groups[:workers],
                seeded["main_event"],
                seeded["main_type"],
                MEASURE_SECONDS,
            )
        main = _taken(database_url, seeded["main_type"])
        placed = sum(figures[f"workers_{workers}"]["orders"] for workers in WORKER_COUNTS)
        # Warm-up purchases (one per worker and run) are orders too.
        figures["orders_in_database_match_answers"] = main["orders"] == placed + sum(WORKER_COUNTS)

        race = sell_out(database_url, database_name, groups, seeded)
        taken = _taken(database_url, seeded["sell_out_type"])
        figures["sell_out"] = {
            "seats": SELL_OUT_SEATS,
            "workers": SELL_OUT_WORKERS,
            "held_after": taken["held"] + taken["sold"],
            "responses": race["responses"],
        }
        figures["oversold"] = max(taken["held"] + taken["sold"] - SELL_OUT_SEATS, 0) + max(
            main["held"] + main["sold"] - main["capacity"] if main["capacity"] else 0, 0
        )
        figures["targets"] = TARGETS
        return figures


def purchase_environment(emulator_url: str) -> dict[str, str]:
    """What the purchase function reads, for warm workers against the emulator (the database's URL apart)."""
    return {
        **QUIET_POWERTOOLS,
        "DATABASE_POOL_SIZE": "1",
        "JWT_SECRET": JWT_SECRET,
        "MERCADOPAGO_ACCESS_TOKEN": ACCESS_TOKEN,
        "MERCADOPAGO_API_BASE_URL": emulator_url,
        "PUBLIC_BASE_URL": "http://127.0.0.1:3000",
        # Buyers rotate (BUYERS_PER_WORKER) but still place several orders each over the runs: the limit of pending
        # orders is checked on every purchase, as in production, and never reached.
        "MAX_PENDING_ORDERS_PER_BUYER": "1000000",
    }


def buyer_groups(buyers: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The seeded buyers, BUYERS_PER_WORKER to a worker, which buys for them in turn."""
    return [buyers[start : start + BUYERS_PER_WORKER] for start in range(0, len(buyers), BUYERS_PER_WORKER)]


def tear_down(saved_environment: dict[str, str], emulator: Any, server_url: str, database_name: str) -> None:
    """After a run: the environment as it was, the emulator stopped, the engine closed and the run's database gone."""
    from crowdify.persistence.database import dispose_engine
    from local.postgres import drop_database

    os.environ.clear()
    os.environ.update(saved_environment)
    emulator.terminate()
    emulator.wait(timeout=10)
    dispose_engine()
    drop_database(server_url, database_name)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
