"""Load on an HTTP server as a crowd of clients makes it: many connections opened at once, each kept alive.

`hold_connections` opens every connection at the same moment (what overflows a short listen backlog),
then each one sends its requests in turn, one at a time, until the time is up. Anything but a full
HTTP answer (refused, reset, closed early, no answer within `answer_timeout`) is a connection error.
`kept_alive_latencies` times requests one after the other on one kept-alive connection. The burst
tests and `bench/emulators.py` use both.
"""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from local.http_serving import allow_open_files


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def encoded(self, host: str) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(self.body)}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class LoadResult:
    connections: int
    seconds: float
    # Connections that got at least one answer: a client starved for the whole burst is a failure too.
    connections_answered: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)

    @property
    def answered(self) -> int:
        return sum(self.answers.values())

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.answers.items() if status >= 500)

    def summary(self) -> dict[str, object]:
        return {
            "connections": self.connections,
            "connections_answered": self.connections_answered,
            "seconds": self.seconds,
            "answers": self.answered,
            "answers_per_second": round(self.answered / self.seconds),
            "connection_errors": sum(self.connection_errors.values()),
            "server_errors_5xx": self.server_errors,
            "statuses": {str(status): count for status, count in sorted(self.answers.items())},
            "errors": dict(self.connection_errors),
        }


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server keeps the connection) of one answer framed by Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise ValueError(f"an answer without Content-Length: {status_line}")
    await reader.readexactly(int(headers["content-length"]))
    keeps_connection = headers.get("connection", "").lower() != "close" and status_line.startswith("HTTP/1.1")
    return status, keeps_connection


class _Burst:
    """What the clients of one burst share: the result, and a start signal once all have tried to connect."""

    def __init__(self, connections: int, seconds: float) -> None:
        self.result = LoadResult(connections=connections, seconds=seconds)
        self.connection_attempts = 0
        self.all_attempted = asyncio.Event()
        self.started = asyncio.Event()
        self.deadline = float("inf")

    def attempted(self) -> None:
        self.connection_attempts += 1
        if self.connection_attempts == self.result.connections:
            self.all_attempted.set()


async def _one_client(host: str, port: int, requests: list[bytes], answer_timeout: float, burst: _Burst) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), answer_timeout)
    except (OSError, TimeoutError) as error:
        burst.result.connection_errors[type(error).__name__] += 1
    burst.attempted()
    await burst.started.wait()
    turn = 0
    while time.monotonic() < burst.deadline:
        try:
            if reader is None or writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), answer_timeout)
            writer.write(requests[turn % len(requests)])
            status, keeps_connection = await asyncio.wait_for(_read_answer(reader), answer_timeout)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            burst.result.connection_errors[type(error).__name__] += 1
            keeps_connection = False
        else:
            burst.result.answers[status] += 1
            if turn == 0:
                burst.result.connections_answered += 1
            turn += 1
        if not keeps_connection and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _hold(
    host: str, port: int, requests: list[HttpRequest], connections: int, seconds: float, answer_timeout: float
) -> LoadResult:
    encoded = [request.encoded(f"{host}:{port}") for request in requests]
    burst = _Burst(connections, seconds)
    clients = [
        asyncio.ensure_future(_one_client(host, port, encoded, answer_timeout, burst)) for _ in range(connections)
    ]
    # Every client connects at once; the time starts once each has connected or failed to.
    await burst.all_attempted.wait()
    burst.deadline = time.monotonic() + seconds
    burst.started.set()
    await asyncio.gather(*clients)
    return burst.result


def hold_connections(
    url: str, requests: list[HttpRequest], connections: int, seconds: float, answer_timeout: float = 10.0
) -> LoadResult:
    """Opens `connections` connections to `url` at once and keeps each busy with `requests`, in turn, for `seconds`."""
    address = urllib.parse.urlsplit(url)
    assert address.hostname is not None and address.port is not None
    # A few files more than the connections: this process has its own open too.
    allow_open_files(connections + 256)
    return asyncio.run(_hold(address.hostname, address.port, requests, connections, seconds, answer_timeout))


def kept_alive_latencies(url: str, request: HttpRequest, count: int, warm_up: int = 50) -> list[float]:
    """Milliseconds per request, sent one after the other on one kept-alive connection."""
    address = urllib.parse.urlsplit(url)
    assert address.hostname is not None and address.port is not None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    latencies = []
    try:
        for number in range(warm_up + count):
            started = time.perf_counter()
            connection.request(request.method, request.target, body=request.body or None, headers=request.headers)
            answer = connection.getresponse()
            answer.read()
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status >= 400:
                raise AssertionError(f"{request.method} {request.target} answered {answer.status}")
            if answer.will_close:
                raise AssertionError("the server closed a connection the client asked to keep")
            if number >= warm_up:
                latencies.append(elapsed)
    finally:
        connection.close()
    return latencies
