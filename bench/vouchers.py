"""Purchases with a promo code beside purchases without, in one run: the price of redeeming a code.

bench/purchase.py's machinery (its database, MercadoPago emulator process, warm forked workers, statement and CPU
counting) on one hot ticket type: WORKERS workers buy without a code, then with a code (25 % off, a maximum no run
reaches, no per-buyer maximum), twice over in alternation so that drift of the machine falls on both. Figures per
kind: orders per second (the two rounds summed), statements and CPU milliseconds per purchase; and the ratios
(targets: at most one statement more with a code; the rate with codes within 15 % of the rate without).

`python -m bench vouchers` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from bench import purchase

WORKERS = 8
ROUNDS = 2
MEASURE_SECONDS = 6.0
CODE = "BENCH25"
TARGETS = {"extra_statements_with_code": 1, "rate_with_code_vs_without_min": 0.85}


def _create_code(database_url: str, event_id: str) -> None:
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    seed = build_engine(database_url)
    with seed.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO vouchers (id, event_id, code, discount_type, value, max_redemptions) "
                "VALUES (:id, :event_id, :code, 'percent', 25, 100000000)"
            ),
            {"id": uuid.uuid4(), "event_id": event_id, "code": CODE},
        )
    seed.dispose()


def _combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    orders = sum(run["orders"] for run in runs)
    seconds = sum(run["orders"] / run["orders_per_second"] for run in runs if run["orders_per_second"])
    return {
        "orders": orders,
        "orders_per_second": round(orders / seconds, 1) if seconds else 0.0,
        "statements_per_purchase": round(
            sum(run["statements_per_purchase"] * run["orders"] for run in runs) / orders, 2
        ),
        "cpu_ms_per_purchase": round(sum(run["cpu_ms_per_purchase"] * run["orders"] for run in runs) / orders, 2),
        "latency_p50_ms": [run["latency_p50_ms"] for run in runs],
        "responses": [run["responses"] for run in runs],
    }


def run() -> dict[str, Any]:
    purchase._use_function_paths()
    from crowdify.persistence.migrations import upgrade_to_head
    from local.postgres import create_database, test_server_url

    server_url = test_server_url()
    database_name = f"crowdify_bench_vouchers_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, database_name)
    emulator, emulator_url = purchase._start_emulator()
    saved_environment = dict(os.environ)
    try:
        upgrade_to_head(database_url)
        os.environ.update({**purchase.purchase_environment(emulator_url), "DATABASE_URL": database_url})
        import post_purchases  # noqa: F401  (imported before the workers fork: warm containers)

        seeded = purchase._seed(database_url, WORKERS * purchase.BUYERS_PER_WORKER)
        _create_code(database_url, seeded["main_event"])
        groups = purchase.buyer_groups(seeded["buyers"])[:WORKERS]
        runs: dict[str, list[dict[str, Any]]] = {"without_code": [], "with_code": []}
        for _ in range(ROUNDS):
            for kind, code in (("without_code", None), ("with_code", CODE)):
                runs[kind].append(
                    purchase._run_workers(
                        database_url,
                        database_name,
                        groups,
                        seeded["main_event"],
                        seeded["main_type"],
                        MEASURE_SECONDS,
                        voucher_code=code,
                    )
                )
        without, with_code = _combined(runs["without_code"]), _combined(runs["with_code"])
        return {
            "workers": WORKERS,
            "without_code": without,
            "with_code": with_code,
            "extra_statements_with_code": round(
                with_code["statements_per_purchase"] - without["statements_per_purchase"], 2
            ),
            "rate_with_code_vs_without": round(with_code["orders_per_second"] / without["orders_per_second"], 3),
            "cpu_with_code_vs_without": round(with_code["cpu_ms_per_purchase"] / without["cpu_ms_per_purchase"], 3),
            "targets": TARGETS,
        }
    finally:
        purchase.tear_down(saved_environment, emulator, server_url, database_name)
