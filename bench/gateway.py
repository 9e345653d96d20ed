"""The local stack over HTTP: purchases and door scans through the gateway, as a web client and a door app send them.

`python -m local.stack` runs as a subprocess on free ports (functions in their own worker processes, up to
CROWDIFY_LOCAL_CONCURRENCY each) against a fresh database on the durable test server. Figures, for 1 and 8
clients, each on one kept-alive connection, for MEASURE_SECONDS after a warm-up:
- purchases per second (POST /api/v1/purchases, one attendee, a new buyer each time so no per-buyer limit is hit)
  and door scans per second (POST /api/v1/tickets/validate, each ticket once); compare with `purchase.workers_*`
  and `scan.*`, the same handlers called in-process;
- the CPU cores the stack used meanwhile: CPU seconds of the stack's process and all its children (gateway,
  emulators, moto, the functions' environments) over the wall time, psutil; Postgres is not counted;
- the p50 of GET /health on one kept-alive connection (a reply that waited for a delayed ACK would be 40 ms).
The clients run in this process, on the same cores as the stack.

`python -m bench.gateway` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CLIENT_COUNTS = (1, 8)
MEASURE_SECONDS = 8.0
WARM_UP_REQUESTS = 3
HEALTH_REQUESTS = 500
BUYERS = 4_000
TARGETS = {"health_p50_ms": 5.0}


class _Connection:
    """One kept-alive HTTP/1.1 connection to the gateway."""

    def __init__(self, gateway: str) -> None:
        address = urlsplit(gateway)
        self.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


def _stack_processes(stack_pid: int) -> list[Any]:
    import psutil

    root = psutil.Process(stack_pid)
    return [root, *root.children(recursive=True)]


def _cpu_seconds(stack_pid: int) -> dict[int, float]:
    import psutil

    seconds = {}
    for process in _stack_processes(stack_pid):
        try:
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return seconds


def _drive(
    gateway: str, stack_pid: int, clients: int, next_request: Callable[[], tuple[str, str, Any, str]]
) -> dict[str, Any]:
    """`clients` threads on a connection each, warm first, then counted for MEASURE_SECONDS."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    stop_at: list[float] = []

    def client() -> None:
        connection = _Connection(gateway)
        try:
            for _ in range(WARM_UP_REQUESTS):
                connection.request(*next_request())
            ready.wait()
            go.wait()
            while time.monotonic() < stop_at[0]:
                status, _ = connection.request(*next_request())
                with lock:
                    statuses[status] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    cpu_before = _cpu_seconds(stack_pid)
    started = time.monotonic()
    stop_at.append(started + MEASURE_SECONDS)
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu_after = _cpu_seconds(stack_pid)
    used = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
    return {
        "per_second": round(statuses[200] / elapsed, 1),
        "answers": dict(sorted(statuses.items())),
        "stack_cores": round(used / elapsed, 2),
    }


def _health_p50_ms(gateway: str) -> float:
    connection = _Connection(gateway)
    milliseconds = []
    try:
        for attempt in range(HEALTH_REQUESTS + 20):
            started = time.perf_counter()
            status, _ = connection.request("GET", "/health")
            if status != 200:
                raise RuntimeError(f"/health answered {status}")
            if attempt >= 20:
                milliseconds.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return round(statistics.median(milliseconds), 2)


def _seed_buyers(database_url: str, jwt_secret: str) -> Iterator[tuple[str, str]]:
    """BUYERS users in one statement; yields (user id, token), each once."""
    from sqlalchemy import text

    from crowdify.auth.backend_tokens import issue_user_token
    from crowdify.persistence.database import build_engine

    ids = [str(uuid.uuid4()) for _ in range(BUYERS)]
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, email, role) SELECT id, 'http-buyer-' || id || '@example.test', 'user' "
                    "FROM unnest(CAST(:ids AS uuid[])) AS given (id)"
                ),
                {"ids": ids},
            )
    finally:
        engine.dispose()
    return ((user_id, issue_user_token(user_id, jwt_secret)) for user_id in ids)


def _seed_door(database_url: str, secrets: dict[str, str]) -> tuple[Iterator[str], str]:
    """The scan benchmark's issued tickets, signed with the stack's QR key; (their codes, a door device token)."""
    from sqlalchemy import text

    from bench.scan import _seed
    from crowdify.auth.backend_tokens import issue_device_token
    from crowdify.auth.qr_tokens import QrSigner
    from crowdify.persistence.database import build_engine

    event_id, codes = _seed(database_url, QrSigner(secrets["QR_SECRET"]).sign_ticket)
    device_id = uuid.uuid4()
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO scanner_devices (id, name, event_ids, expires_at) "
                    "VALUES (:device, 'http bench door', ARRAY[CAST(:event AS uuid)], now() + interval '1 day')"
                ),
                {"device": str(device_id), "event": str(event_id)},
            )
    finally:
        engine.dispose()
    return iter(codes), issue_device_token(str(device_id), [str(event_id)], secrets["JWT_SECRET"], 3600)


def _create_event(gateway: str, admin_token: str) -> str:
    connection = _Connection(gateway)
    try:
        body = {"name": "HTTP bench", "starts_at": "2031-03-01T21:00:00", "capacity_total": 100_000, "price": 1000}
        status, answer = connection.request("POST", "/api/v1/events", body, admin_token)
    finally:
        connection.close()
    if status != 201:
        raise RuntimeError(f"creating the event answered {status}: {answer[:300]!r}")
    return json.loads(answer)["id"]


def run() -> dict[str, Any]:
    from bench._durable_postgres import require_durable
    from local.postgres import create_database, drop_database, test_server_url
    from local.state import read_secrets, use_shared_layer
    from tests.support.stack import StartedStack, stack_environment, user_tokens

    use_shared_layer()
    server_url = test_server_url()
    postgres = require_durable(server_url)
    database_name = f"crowdify_bench_http_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, database_name)
    local_dir = Path(tempfile.mkdtemp(prefix="crowdify-bench-http-"))
    stack = StartedStack(local_dir, stack_environment(local_dir, database_url))
    try:
        addresses = stack.wait_until_up()
        gateway = addresses["gateway"]
        secrets = read_secrets(local_dir)
        admin_token = user_tokens({**addresses, "secrets": secrets}, ["http-bench-admin@example.test"], "admin")[0]
        event_id = _create_event(gateway, admin_token)
        buyers = _seed_buyers(database_url, secrets["JWT_SECRET"])
        codes, device_token = _seed_door(database_url, secrets)
        buyers_lock, codes_lock = threading.Lock(), threading.Lock()

        def purchase() -> tuple[str, str, Any, str]:
            with buyers_lock:
                user_id, token = next(buyers)
            attendee = {"name": "Asistente Bench", "document_type": "RUT", "document_number": "11.111.111-1"}
            body = {"user_id": user_id, "event_id": event_id, "attendees": [attendee]}
            return "POST", "/api/v1/purchases", body, token

        def scan() -> tuple[str, str, Any, str]:
            with codes_lock:
                code = next(codes)
            body = {"qr_signature": code, "inspector_id": "http-bench", "nonce": uuid.uuid4().hex}
            return "POST", "/api/v1/tickets/validate", body, device_token

        figures: dict[str, Any] = {
            "concurrency_per_function": int(os.environ.get("CROWDIFY_LOCAL_CONCURRENCY") or 4),
            "health_p50_ms": _health_p50_ms(gateway),
        }
        for clients in CLIENT_COUNTS:
            figures[f"purchases_clients_{clients}"] = _drive(gateway, stack.process.pid, clients, purchase)
        for clients in CLIENT_COUNTS:
            figures[f"scans_clients_{clients}"] = _drive(gateway, stack.process.pid, clients, scan)
        figures["postgres"] = postgres
        figures["targets"] = TARGETS
        return figures
    finally:
        stack.stop()
        drop_database(server_url, database_name)
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
