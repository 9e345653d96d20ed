"""`make bench`: run every benchmark, print one table, and write `.bench/latest.json` (one key per benchmark).

`python -m bench purchase scan` runs only the named ones.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIRECTORY = Path(__file__).resolve().parent
OUTPUT = BENCH_DIRECTORY.parent / ".bench" / "latest.json"


def benchmark_names() -> list[str]:
    return sorted(path.stem for path in BENCH_DIRECTORY.glob("*.py") if not path.stem.startswith("_"))


def machine() -> dict[str, Any]:
    import psutil

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, inner in value.items():
            rows.extend(flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return rows
    return [(prefix, value)]


def durable_server() -> dict[str, str]:
    """Refuses (exits) before any benchmark runs when the Postgres the benchmarks would use is not durable."""
    from bench._durable_postgres import NotDurable, require_durable
    from local.postgres import test_server_url
    from local.state import use_shared_layer

    use_shared_layer()
    try:
        return require_durable(test_server_url())
    except NotDurable as error:
        sys.exit(str(error))


def main(selected: list[str]) -> int:
    names = selected or benchmark_names()
    postgres = durable_server()
    results: dict[str, Any] = {}
    failures = 0
    for name in names:
        started = time.perf_counter()
        print(f"== bench/{name}", flush=True)
        try:
            results[name] = importlib.import_module(f"bench.{name}").run()
        except Exception:
            failures += 1
            results[name] = {"error": traceback.format_exc(limit=5)}
            traceback.print_exc()
        results[name]["seconds"] = round(time.perf_counter() - started, 1)

    OUTPUT.parent.mkdir(exist_ok=True)
    document = {"measured_at": datetime.now(UTC).isoformat(), "machine": machine(), "postgres": postgres, **results}
    OUTPUT.write_text(json.dumps(document, indent=2, default=str))

    print()
    width = max((len(key) for name in names for key, _ in flatten(name, results[name])), default=20)
    for name in names:
        for key, value in flatten(name, results[name]):
            if key.endswith(".error"):
                value = str(value).strip().splitlines()[-1]
            print(f"{key:<{width}}  {value}")
    print(f"\nwritten to {OUTPUT.relative_to(Path.cwd()) if OUTPUT.is_relative_to(Path.cwd()) else OUTPUT}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
