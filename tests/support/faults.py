"""Dependencies that can be taken away and given back: a TCP proxy of the test's own in front of Postgres, and a
moto server that really stops (listener closed, open connections cut), each on a fixed 127.0.0.1 port so that what
the functions cached (the engine's pool, boto3 clients) meets the outage and the recovery at the same address."""

from __future__ import annotations

import json
import socket
import struct
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from crowdify.config.settings import reset_settings
from crowdify.persistence.database import dispose_engine
from crowdify.persistence.pg_connection import on_statement

LOCALHOST = "127.0.0.1"
_CHUNK_BYTES = 65536


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


def _cut(connection: socket.socket) -> None:
    """Both directions closed at once: the peer reads end of file or a reset, as when a server goes away."""
    with suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()


def _reset(connection: socket.socket) -> None:
    """Closed with a TCP reset (linger on, zero seconds): the peer's next read fails with ECONNRESET."""
    with suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`. `stop()` closes the listener AND cuts every open connection (a server
    that is gone, not one that merely refuses newcomers); `start()` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._reset_next_request = threading.Event()
        self._losing_answers = threading.Event()

    def reset_next_request(self) -> None:
        """The next bytes a client sends are swallowed and its connection reset: the client wrote its request
        without error and its read of the answer fails, as when the server's host drops the connection mid-call."""
        self._reset_next_request.set()

    @contextmanager
    def answers_lost(self) -> Iterator[None]:
        """While the block runs, every answer the server sends is swallowed and its client's connection reset: the
        server does what is asked, and the client cannot know it."""
        self._losing_answers.set()
        try:
            yield
        finally:
            self._losing_answers.clear()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOCALHOST, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="tcp-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _cut(listener)
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            _cut(connection)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _cut(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    # stop() ran while this connection was being set up.
                    _cut(client)
                    _cut(upstream)
                    return
                self._connections.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, destination: socket.socket, from_client: bool) -> None:
        with suppress(OSError):
            while chunk := source.recv(_CHUNK_BYTES):
                if from_client and self._reset_next_request.is_set():
                    self._reset_next_request.clear()
                    _reset(source)
                    break
                if not from_client and self._losing_answers.is_set():
                    _reset(destination)
                    break
                destination.sendall(chunk)
        with self._lock:
            self._connections.difference_update((source, destination))
        _cut(source)
        _cut(destination)


class StoppableMotoServer(ThreadedMotoServer):
    """moto as a real server whose stop() is an outage: ThreadedMotoServer.stop() only ends the accept loop, leaving
    the socket listening (clients connect and hang) and kept-alive connections served."""

    def __init__(self, port: int) -> None:
        super().__init__(ip_address=LOCALHOST, port=port, verbose=False)
        self.url = f"http://{LOCALHOST}:{port}"
        self.is_running = False
        self._connections: set[socket.socket] = set()

    def start(self) -> None:
        super().start()
        server: Any = self._server
        accept = server.get_request

        def get_request() -> tuple[socket.socket, Any]:
            connection, address = accept()
            self._connections.add(connection)
            return connection, address

        # Set before any client can connect: start() returns once the server socket exists, before anyone knows it.
        server.get_request = get_request
        self.is_running = True

    def stop(self) -> None:
        super().stop()
        for connection in list(self._connections):
            _cut(connection)
        self._connections.clear()
        assert self._server is not None
        self._server.server_close()
        self.is_running = False


@contextmanager
def proxy_stopped_at(
    database: Engine, proxy: TcpProxy, engine_event: str, matches: Callable[..., bool] = lambda *_: True
) -> Iterator[None]:
    """Stop `proxy` the moment `database` fires `engine_event` ("before_cursor_execute", "commit") with arguments
    that `matches`: the database goes away in the middle of a request, at a chosen step."""

    def stop(*arguments: Any) -> None:
        if matches(*arguments):
            proxy.stop()

    event.listen(database, engine_event, stop)
    try:
        yield
    finally:
        event.remove(database, engine_event, stop)


@contextmanager
def proxy_stopped_before_statement(proxy: TcpProxy, matches: Callable[[str], bool]) -> Iterator[None]:
    """Stop `proxy` the moment crowdify.persistence.pg_connection is about to send a statement that `matches` (the
    purchase path and the door run on it, not on the engine)."""

    def stop(statement: str) -> None:
        if matches(statement):
            proxy.stop()

    with on_statement(stop):
        yield


@pytest.fixture
def database_proxy(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TcpProxy]:
    """The functions reach the test database through a proxy of this test's own (the shared server never stops)."""
    url = make_url(db)
    proxy = TcpProxy(url.host or LOCALHOST, url.port or 5432).start()
    monkeypatch.setenv("DATABASE_URL", url.set(host=LOCALHOST, port=proxy.port).render_as_string(hide_password=False))
    reset_settings()
    dispose_engine()
    yield proxy
    proxy.stop()
    # The direct URL again, before `db` empties the tables.
    monkeypatch.setenv("DATABASE_URL", db)
    reset_settings()
    dispose_engine()


class AwsEndpoint:
    """A moto server the functions reach through AWS_ENDPOINT_URL, with the paid-orders queue (and its dead-letter
    queue) and the tickets bucket as the deploy creates them."""

    def __init__(self, server: StoppableMotoServer, queue_name: str, bucket: str) -> None:
        import boto3

        self.server = server
        self.queue_name = queue_name
        self.bucket = bucket
        self.sqs = boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1")
        self.s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")
        self.queue_url = ""

    def deploy(self) -> None:
        """The queues and the bucket on an empty moto (a fresh start has none: the deploy made them)."""
        dead_letter_url = self.sqs.create_queue(QueueName=f"{self.queue_name}-dlq")["QueueUrl"]
        dead_letter_arn = self.sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": "5"})
        self.queue_url = self.sqs.create_queue(QueueName=self.queue_name, Attributes={"RedrivePolicy": redrive})[
            "QueueUrl"
        ]
        self.s3.create_bucket(Bucket=self.bucket)

    def restart_empty(self) -> None:
        """moto back on the same port with none of its old state, then the deploy's resources again."""
        self.server.start()
        # The server shares moto's in-process backends: forget them, as a restarted server would have.
        urllib.request.urlopen(urllib.request.Request(f"{self.server.url}/moto-api/reset", method="POST"), timeout=5)
        self.deploy()

    def received_messages(self) -> list[dict[str, Any]]:
        """Every message now on the paid-orders queue, received (not deleted) as the SQS trigger would."""
        messages: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            messages.extend(batch)
        return messages


def reset_aws_clients() -> None:
    """Forget the boto3 clients the functions cache per container (they were made for another endpoint)."""
    from crowdify.adapters import paid_orders_queue, tickets_bucket

    paid_orders_queue.reset_client()
    tickets_bucket.reset_client()


@pytest.fixture
def moto_endpoint(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEndpoint]:
    """moto as a real server on a free port; `endpoint.server.stop()` is an outage, `restart_empty()` the fix."""
    server = StoppableMotoServer(free_port())
    server.start()
    endpoint = AwsEndpoint(server, "crowdify-paid-orders", "crowdify-tickets-faults")
    urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset", method="POST"), timeout=5)
    endpoint.deploy()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("PAID_ORDERS_QUEUE_URL", endpoint.queue_url)
    monkeypatch.setenv("TICKETS_BUCKET", endpoint.bucket)
    reset_settings()
    reset_aws_clients()
    yield endpoint
    if server.is_running:
        server.stop()
    for name in ("AWS_ENDPOINT_URL", "PAID_ORDERS_QUEUE_URL", "TICKETS_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    reset_aws_clients()
