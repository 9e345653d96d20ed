"""The door under load: the real `post_tickets_validate.lambda_handler`, invoked with API Gateway v2 events.

A fresh migrated database on the test server holds 10,000 issued tickets of one event; a scanner device token
scans them. Figures:
- latency p50/p99 of the handler in-process (one warm container), and statements per scan (the door talks to
  Postgres through crowdify.persistence.pg_connection, which reports every statement it sends to `statements_sent`;
  BEGIN and COMMIT are not statements; the run fails if the door touched the SQLAlchemy engine instead);
- scans per second with 1 and 8 worker processes, each a warm container of its own scanning distinct tickets, and
  CPU milliseconds per scan: the workers' CPU plus every Postgres process's CPU (psutil), divided by scans;
- offline verification: microseconds per `QrSigner.verify` (what a scanner does without a network);
- the cold import of the validate handler module: median of 5 fresh interpreters, function folder and layer on
  the path (source bytecode as the working tree has it; `bench/coldstart.py` measures the built artefacts).

`python -m bench.scan` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.api_gateway import LambdaContext

REPOSITORY = Path(__file__).resolve().parent.parent
VALIDATE_FOLDER = REPOSITORY / "functions" / "validate"
LAYER = REPOSITORY / "layers" / "shared"
TICKETS = 10_000
LATENCY_SCANS = 1_500
SINGLE_WORKER_SCANS = 1_500
PARALLEL_WORKERS = 8
SCANS_PER_PARALLEL_WORKER = 800
VERIFICATIONS = 5_000
IMPORT_RUNS = 5
TARGETS = {
    "latency_p99_ms": 5.0,
    "scans_per_second": 500,
    "statements_per_scan": 2,
    "verify_us": 200,
    "cpu_ms_per_scan": 2.0,
}
QUIET_POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "crowdify-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "CrowdifyBench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def _quiet_metrics_warning() -> None:
    # Powertools warns on every invocation that published no metric: noise here.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def _use_function_paths() -> None:
    for folder in (str(LAYER), str(VALIDATE_FOLDER)):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def validate_event(qr_signature: str, token: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2) event for POST /api/v1/tickets/validate."""
    from tests.support.api_gateway import build_event

    body = {"qr_signature": qr_signature, "inspector_id": "bench", "nonce": uuid.uuid4().hex}
    return build_event("POST", "/api/v1/tickets/validate", body=body, token=token)


def _scan(handler: Any, qr_signature: str, token: str) -> str:
    result = handler(validate_event(qr_signature, token), LambdaContext(function_name="bench-validate"))
    if result["statusCode"] != 200:
        raise RuntimeError(f"validate answered {result['statusCode']}: {result['body']}")
    return json.loads(result["body"])["status"]


def _backend_pids(database_url: str) -> list[int]:
    """The Postgres backends serving the benchmark's database (the workers' connections), not this probe's own."""
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    probe = build_engine(database_url)
    try:
        with probe.connect() as connection:
            return list(
                connection.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    )
                ).scalars()
            )
    finally:
        probe.dispose()


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


def _worker(
    environment: dict[str, str],
    codes: list[str],
    token: str,
    ready: Any,
    start: Any,
    results: Any,
    release: Any,
) -> None:
    """One warm container: import, one warm-up scan (connection, caches), then its share of scans on the signal."""
    os.environ.update(environment)
    _use_function_paths()
    _quiet_metrics_warning()
    import post_tickets_validate

    _scan(post_tickets_validate.lambda_handler, codes[0], token)
    ready.wait()
    start.wait()
    cpu_started = time.process_time()
    statuses = [_scan(post_tickets_validate.lambda_handler, code, token) for code in codes[1:]]
    finished = time.perf_counter()
    results.put((len(statuses), statuses.count("accepted"), time.process_time() - cpu_started, finished))
    # Stay connected until the parent has read Postgres's CPU: a backend that exits takes its CPU time with it.
    release.wait()


def _throughput(
    environment: dict[str, str], token: str, code_slices: list[list[str]], server_database_url: str | None = None
) -> dict[str, Any]:
    """Scans per second and CPU per scan; `server_database_url` reaches the database without a pooler between, to
    find every backend serving it (the functions' URL by default)."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(len(code_slices) + 1)
    start = context.Barrier(len(code_slices) + 1)
    release = context.Event()
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(environment, codes, token, ready, start, results, release))
        for codes in code_slices
    ]
    for worker in workers:
        worker.start()
    try:
        ready.wait(timeout=60)  # every worker has connected (its warm-up scan)
        backends = _backend_pids(server_database_url or environment["DATABASE_URL"])
        start.wait(timeout=60)
        postgres_started = _cpu_seconds(backends)
        started = time.perf_counter()
        reports = [results.get(timeout=120) for _ in workers]
        elapsed = max(report[3] for report in reports) - started
        postgres_cpu = _cpu_seconds(backends) - postgres_started
    finally:
        release.set()
        for worker in workers:
            worker.join(timeout=30)
    scans = sum(report[0] for report in reports)
    accepted = sum(report[1] for report in reports)
    if accepted != scans:
        raise RuntimeError(f"{scans - accepted} of {scans} distinct tickets were not accepted")
    worker_cpu = sum(report[2] for report in reports)
    return {
        "scans": scans,
        "scans_per_second": round(scans / elapsed),
        "cpu_ms_per_scan": round((worker_cpu + postgres_cpu) * 1000 / scans, 2),
        "cpu_ms_per_scan_postgres": round(postgres_cpu * 1000 / scans, 2),
    }


def _seed(database_url: str, codes_for: Any, tickets: int = TICKETS) -> tuple[uuid.UUID, list[str]]:
    """One event, one completed order of `tickets` issued tickets (one INSERT … SELECT each), and their codes."""
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    event_id, ticket_type_id, order_id, item_id, owner_id = (uuid.uuid4() for _ in range(5))
    ticket_ids = [uuid.uuid4() for _ in range(tickets)]
    codes = [codes_for(ticket_id, event_id) for ticket_id in ticket_ids]
    seed_engine = build_engine(database_url)
    try:
        with seed_engine.begin() as connection:
            parameters = {
                "event": event_id,
                "type": ticket_type_id,
                "order": order_id,
                "item": item_id,
                "owner": owner_id,
                "count": tickets,
                "starts_at": datetime.now(UTC) + timedelta(hours=2),
            }
            for statement in (
                "INSERT INTO users (id, email, role) VALUES (:owner, 'bench-owner@example.test', 'user')",
                "INSERT INTO events (id, organizer_id, name, starts_at, capacity_total, status) "
                "SELECT :event, id, 'Bench', :starts_at, :count, 'published' FROM organizers WHERE is_default",
                "INSERT INTO ticket_types (id, event_id, name, price, is_default) "
                "VALUES (:type, :event, 'General', 1000, true)",
                "INSERT INTO orders (id, user_id, event_id, status, currency, total, hold_expires_at, paid_at) "
                "VALUES (:order, :owner, :event, 'completed', 'CLP', 1000 * :count, now(), now())",
                "INSERT INTO order_items (id, order_id, ticket_type_id, quantity, unit_price) "
                "VALUES (:item, :order, :type, :count, 1000)",
            ):
                connection.execute(text(statement), parameters)
            connection.execute(
                text(
                    """
                    WITH numbered AS (
                        SELECT ticket_id, code, position
                        FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS text[])) WITH ORDINALITY
                             AS given (ticket_id, code, position)
                    ), attendees_made AS (
                        INSERT INTO attendees (id, order_id, order_item_id, position, first_name, last_name,
                                               document_type, document_number)
                        SELECT ticket_id, :order, :item, position, 'Asistente', 'N' || position, 'RUT', position::text
                        FROM numbered
                        RETURNING id
                    )
                    INSERT INTO tickets (id, order_id, order_item_id, attendee_id, event_id, ticket_type_id,
                                         holder_first_name, holder_last_name, qr_signature, status)
                    SELECT ticket_id, :order, :item, ticket_id, :event, :type, 'Asistente', 'N' || position, code,
                           'issued'
                    FROM numbered
                    """
                ),
                {**parameters, "ids": [str(ticket_id) for ticket_id in ticket_ids], "codes": codes},
            )
            connection.execute(text("ANALYZE"))
    finally:
        seed_engine.dispose()
    return event_id, codes


@contextmanager
def _environment(values: dict[str, str]) -> Any:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _cold_import_ms() -> float:
    probe = (
        "import time; started = time.perf_counter(); import post_tickets_validate; print(time.perf_counter() - started)"
    )
    samples = []
    for _ in range(IMPORT_RUNS):
        completed = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": f"{VALIDATE_FOLDER}{os.pathsep}{LAYER}", "LANG": "C.UTF-8"},
            check=True,
        )
        samples.append(float(completed.stdout.strip().splitlines()[-1]) * 1000)
    return round(statistics.median(samples), 1)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def door_device_token(database_url: str, event_id: uuid.UUID, jwt_secret: str) -> str:
    """A scanner device of the event, valid for a day; its token."""
    from crowdify.auth.backend_tokens import issue_device_token
    from crowdify.persistence import database

    device_id = uuid.uuid4()
    engine = database.build_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO scanner_devices (id, name, event_ids, expires_at) "
            "VALUES (%s, 'bench door', ARRAY[%s]::uuid[], now() + interval '1 day')",
            (str(device_id), str(event_id)),
        )
    engine.dispose()
    return issue_device_token(str(device_id), [str(event_id)], jwt_secret, 3600)


def run() -> dict[str, Any]:
    _use_function_paths()
    _quiet_metrics_warning()
    from crowdify.auth.qr_tokens import QrSigner, generate_qr_secret
    from crowdify.config import settings
    from crowdify.persistence import database, pg_connection
    from crowdify.persistence.migrations import upgrade_to_head
    from local.postgres import create_database, drop_database, test_server_url

    server_url = test_server_url()
    name = f"crowdify_bench_scan_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, name)
    jwt_secret = secrets.token_urlsafe(32)
    qr_secret = generate_qr_secret()
    environment = {
        **QUIET_POWERTOOLS,
        "DATABASE_URL": database_url,
        "JWT_SECRET": jwt_secret,
        "QR_SECRET": qr_secret,
        "DATABASE_POOL_SIZE": "1",
    }
    signer = QrSigner(qr_secret)
    results: dict[str, Any] = {"tickets": TICKETS, "targets": TARGETS}
    try:
        upgrade_to_head(database_url)
        event_id, codes = _seed(database_url, signer.sign_ticket)
        token = door_device_token(database_url, event_id, jwt_secret)
        remaining = iter(codes)

        with _environment(environment):
            settings.reset_settings()
            database.dispose_engine()
            import post_tickets_validate

            handler = post_tickets_validate.lambda_handler
            _scan(handler, next(remaining), token)  # warm: connection, key parsing, resolver
            latencies = []
            with pg_connection.statements_sent() as statements:
                for _ in range(LATENCY_SCANS):
                    code = next(remaining)
                    started = time.perf_counter()
                    status = _scan(handler, code, token)
                    latencies.append((time.perf_counter() - started) * 1000)
                    if status != "accepted":
                        raise RuntimeError(f"a fresh ticket was {status}")
            if database._engine is not None:
                raise RuntimeError("the door used the SQLAlchemy engine: its statements were not counted")
            rescan_started = time.perf_counter()
            if _scan(handler, codes[1], token) != "already_used":
                raise RuntimeError("a rescan was not already_used")
            rescan_ms = (time.perf_counter() - rescan_started) * 1000
            database.dispose_engine()
            settings.reset_settings()

        results["latency_ms"] = {
            "p50": round(statistics.median(latencies), 2),
            "p99": round(_percentile(latencies, 0.99), 2),
            "max": round(max(latencies), 2),
            "already_used_rescan": round(rescan_ms, 2),
        }
        results["statements_per_scan"] = round(len(statements) / LATENCY_SCANS, 2)

        single = [next(remaining) for _ in range(SINGLE_WORKER_SCANS + 1)]
        results["one_worker"] = _throughput(environment, token, [single])
        parallel = [[next(remaining) for _ in range(SCANS_PER_PARALLEL_WORKER + 1)] for _ in range(PARALLEL_WORKERS)]
        results["eight_workers"] = _throughput(environment, token, parallel)

        sample = codes[:VERIFICATIONS]
        started = time.perf_counter()
        for code in sample:
            signer.verify(code)
        results["verify_us"] = round((time.perf_counter() - started) * 1e6 / len(sample), 1)
        results["cold_import_ms"] = _cold_import_ms()
    finally:
        drop_database(server_url, name)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
