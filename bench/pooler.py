"""Purchases and door scans behind a transaction-mode PgBouncer, in each way the functions can reach it, and
directly for reference (docs/architecture.md, "Behind a connection pooler"):
- `direct`: no pooler; kept connections, named prepared statements, session defaults set once per connection;
- `pooler_kept_connection` (DATABASE_BEHIND_POOLER): the connection to the pooler is kept; unnamed statements in
  one round trip each, the session defaults sent with every BEGIN (SET LOCAL);
- `pooler_connection_per_transaction` (also DATABASE_CONNECTION_PER_TRANSACTION): a new connection to the pooler
  for every transaction, closed after it.
The pooler modes run twice: with `sslmode=require` (`_tls`), as production's URL reaches its pooler, and without
TLS. The test server speaks no TLS, so `direct` runs without.

One fresh migrated database on the test server and one PgBouncer (tests/support/pgbouncer.py, pool_mode =
transaction) for all modes. Per mode: purchases per second with PURCHASE_WORKERS warm containers (bench/purchase.py's
workers) and door scans per second with 1 and SCAN_WORKERS containers (bench/scan.py's), each on tickets of its
own. CPU milliseconds per purchase or scan: the handlers' CPU, this database's Postgres backends' and PgBouncer's
(also shown apart).

`python -m bench.pooler` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

from bench import purchase, scan
from tests.support.pgbouncer import PgBouncer

KEPT = {"DATABASE_BEHIND_POOLER": "true"}
PER_TRANSACTION = {"DATABASE_BEHIND_POOLER": "true", "DATABASE_CONNECTION_PER_TRANSACTION": "true"}
# Without sslmode pg8000 asks for TLS on every new connection and builds a new SSL context for it each time: each
# mode says what it wants.
TLS, NO_TLS = "?sslmode=require", "?sslmode=disable"
# Name: (the functions' settings, None for no pooler; the URL's sslmode).
MODES: dict[str, tuple[dict[str, str] | None, str]] = {
    "direct": (None, NO_TLS),
    "pooler_kept_connection_tls": (KEPT, TLS),
    "pooler_connection_per_transaction_tls": (PER_TRANSACTION, TLS),
    "pooler_kept_connection": (KEPT, NO_TLS),
    "pooler_connection_per_transaction": (PER_TRANSACTION, NO_TLS),
}
PURCHASE_WORKERS = 8
PURCHASE_SECONDS = 6.0
SCAN_WORKERS = 8
SINGLE_WORKER_SCANS = 300
SCANS_PER_WORKER = 100


def _cpu_seconds(bouncer: PgBouncer) -> float:
    import psutil

    assert bouncer.process is not None
    times = psutil.Process(bouncer.process.pid).cpu_times()
    return times.user + times.system


def _with_pooler_cpu(figures: dict[str, Any], pooler_seconds: float, count: int, unit: str) -> dict[str, Any]:
    """`figures` with PgBouncer's CPU per `unit` added to the total CPU and shown apart."""
    total_key = f"cpu_ms_per_{unit}"
    pooler_ms = round(pooler_seconds * 1000 / count, 2) if count else None
    if pooler_ms is not None and figures.get(total_key) is not None:
        figures[total_key] = round(figures[total_key] + pooler_ms, 2)
    figures[f"{total_key}_pgbouncer"] = pooler_ms
    return figures


def _purchases(
    database_url: str, database_name: str, functions_url: str, mode: dict[str, str], seeded: dict[str, Any]
) -> dict[str, Any]:
    os.environ.update({"DATABASE_URL": functions_url, **mode})
    try:
        figures = purchase._run_workers(
            database_url,
            database_name,
            purchase.buyer_groups(seeded["buyers"])[:PURCHASE_WORKERS],
            seeded["main_event"],
            seeded["main_type"],
            PURCHASE_SECONDS,
        )
    finally:
        for name in mode:
            os.environ.pop(name, None)
    keep = ("orders_per_second", "latency_p50_ms", "latency_p99_ms", "cpu_ms_per_purchase", "responses")
    return {name: figures[name] for name in keep} | {"orders": figures["orders"]}


def _scanner(database_url: str, signer: Any, jwt_secret: str) -> tuple[str, list[str]]:
    """An event with enough issued tickets for every mode's scans, a scanner device for it; the device's token and the
    codes."""
    per_mode = SINGLE_WORKER_SCANS + 1 + SCAN_WORKERS * (SCANS_PER_WORKER + 1)
    event_id, codes = scan._seed(database_url, signer.sign_ticket, per_mode * len(MODES))
    return scan.door_device_token(database_url, event_id, jwt_secret), codes


def _scans(
    database_url: str, environment: dict[str, str], token: str, remaining: Iterator[str], bouncer: PgBouncer
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for label, slices in (
        ("one_worker", [[next(remaining) for _ in range(SINGLE_WORKER_SCANS + 1)]]),
        ("eight_workers", [[next(remaining) for _ in range(SCANS_PER_WORKER + 1)] for _ in range(SCAN_WORKERS)]),
    ):
        pooler_before = _cpu_seconds(bouncer)
        measured = scan._throughput(environment, token, slices, server_database_url=database_url)
        figures[label] = _with_pooler_cpu(measured, _cpu_seconds(bouncer) - pooler_before, measured["scans"], "scan")
    return figures


def run() -> dict[str, Any]:
    purchase._use_function_paths()
    scan._use_function_paths()
    scan._quiet_metrics_warning()
    from crowdify.auth.qr_tokens import QrSigner, generate_qr_secret
    from crowdify.persistence.migrations import upgrade_to_head
    from local.postgres import create_database, test_server_url

    server_url = test_server_url()
    database_name = f"crowdify_bench_pooler_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, database_name)
    bouncer = PgBouncer(server_url, tls=True).start()
    emulator, emulator_url = purchase._start_emulator()
    saved_environment = dict(os.environ)
    qr_secret = generate_qr_secret()
    signer = QrSigner(qr_secret)
    results: dict[str, Any] = {"pgbouncer_pool_mode": "transaction"}
    try:
        upgrade_to_head(database_url)
        os.environ.update({**purchase.purchase_environment(emulator_url), "QR_SECRET": qr_secret})
        # Imported once here, before the purchase workers fork: each starts as a warm container.
        import post_purchases  # noqa: F401

        seeded = purchase._seed(database_url, PURCHASE_WORKERS * purchase.BUYERS_PER_WORKER)
        scanner_token, codes = _scanner(database_url, signer, purchase.JWT_SECRET)
        remaining = iter(codes)
        for name, (mode, ssl_mode) in MODES.items():
            print(f"   {name}", flush=True)
            functions_url = (database_url if mode is None else bouncer.url_for(database_url)) + ssl_mode
            pooler_before = _cpu_seconds(bouncer)
            purchases = _purchases(database_url, database_name, functions_url, mode or {}, seeded)
            purchases = _with_pooler_cpu(
                purchases, _cpu_seconds(bouncer) - pooler_before, purchases["orders"], "purchase"
            )
            scan_environment = {
                **scan.QUIET_POWERTOOLS,
                "DATABASE_URL": functions_url,
                "DATABASE_POOL_SIZE": "1",
                "JWT_SECRET": purchase.JWT_SECRET,
                "QR_SECRET": qr_secret,
                **(mode or {}),
            }
            results[name] = {
                f"purchases_{PURCHASE_WORKERS}_workers": purchases,
                "scans": _scans(database_url, scan_environment, scanner_token, remaining, bouncer),
            }
        return results
    finally:
        purchase.tear_down(saved_environment, emulator, server_url, database_name)
        bouncer.stop()


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
