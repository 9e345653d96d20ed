"""The door's pg8000 connection (crowdify.persistence.pg_connection) against real Postgres: a kept connection that died
is replaced without the caller noticing, a connection lost mid-transaction is a 503 that is not retried and leaves
nothing written, bad values are 422s, an unreachable database is a 503."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError
from sqlalchemy import event

from crowdify.config.settings import reset_settings
from crowdify.core.errors import DependencyUnavailable, InvalidRequest
from crowdify.persistence import pg_connection
from crowdify.persistence.database import dispose_engine, engine, statements_transaction
from crowdify.persistence.pg_connection import open_connection, statements_sent, transaction
from tests.support.api_gateway import call
from tests.support.faults import TcpProxy
from tests.support.identities import Identity
from tests.support.tickets import checkin_rows, issue_tickets

BACKEND_PID = "SELECT pg_backend_pid() AS pid"


def terminate_backend(database_url: str, pid: int) -> None:
    """End a backend from another connection, and wait until it is gone."""
    other = open_connection(database_url, behind_pooler=True)
    try:
        other.execute("SELECT pg_terminate_backend(:pid)", {"pid": pid})
        deadline = time.monotonic() + 10
        while other.first("SELECT 1 FROM pg_stat_activity WHERE pid = :pid", {"pid": pid}) is not None:
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.01)
    finally:
        other.close()


def kept_backend_pid() -> int:
    with transaction() as connection:
        return connection.one(BACKEND_PID).pid


@contextmanager
def proxy_reset_at_commit(proxy: TcpProxy) -> Iterator[None]:
    def reset(*_: Any) -> None:
        proxy.reset_next_request()

    event.listen(engine(), "commit", reset)
    try:
        yield
    finally:
        event.remove(engine(), "commit", reset)


def insert_user(execute: Callable[[str, dict[str, Any]], Any]) -> uuid.UUID:
    user_id = uuid.uuid4()
    execute(
        "INSERT INTO users (id, email, role) VALUES (:id, :email, 'user')",
        {"id": user_id, "email": f"{user_id.hex}@example.test"},
    )
    return user_id


def stored_user(user_id: uuid.UUID) -> Any:
    with transaction() as connection:
        return connection.first("SELECT id FROM users WHERE id = :id", {"id": user_id})


@pytest.mark.kept_connections(
    "ends the backend a kept connection holds between transactions; behind a pooler it holds none, and the pooler "
    "may hand that backend to the connection that ends it"
)
def test_a_kept_connection_that_died_while_idle_is_replaced_and_the_block_runs_once(db: str) -> None:
    dead = kept_backend_pid()
    terminate_backend(db, dead)

    runs = 0
    with statements_sent() as sent, transaction() as connection:
        runs += 1
        replacement = connection.one(BACKEND_PID).pid

    assert replacement != dead
    assert runs == 1 and sent == [BACKEND_PID]
    assert kept_backend_pid() == replacement  # the replacement is the one kept now


@pytest.mark.kept_connections(
    "ends the backend a kept connection holds between statements; behind a pooler run_alone is a transaction"
)
def test_a_statement_run_alone_on_a_kept_connection_that_died_is_sent_again_on_a_fresh_one(db: str) -> None:
    dead = kept_backend_pid()
    terminate_backend(db, dead)

    with statements_sent() as sent:
        rows = pg_connection.run_alone(BACKEND_PID)

    assert rows[0].pid != dead
    assert sent == [BACKEND_PID, BACKEND_PID]
    assert kept_backend_pid() == rows[0].pid


def test_a_statement_run_alone_is_its_own_transaction_and_commits(db: str) -> None:
    user_id = uuid.uuid4()
    with statements_sent() as sent:
        pg_connection.run_alone(
            "INSERT INTO users (id, email, role) VALUES (:id, :email, 'user')",
            {"id": user_id, "email": f"{user_id.hex}@example.test"},
        )
    assert len(sent) == 1
    assert stored_user(user_id) is not None


def test_a_connection_lost_inside_a_transaction_is_a_503_not_retried_and_nothing_is_written(db: str) -> None:
    runs = 0
    with pytest.raises(DependencyUnavailable), transaction() as connection:
        runs += 1
        user_id = insert_user(connection.execute)
        terminate_backend(db, connection.one(BACKEND_PID).pid)
        connection.execute("SELECT 1")

    assert runs == 1
    assert stored_user(user_id) is None


def test_a_connection_reset_while_reading_the_answer_is_a_503_and_the_next_transaction_reconnects(
    database_proxy: TcpProxy,
) -> None:
    # pg8000 lets ECONNRESET on the first read of an answer escape as a bare ConnectionResetError (its other network
    # failures are InterfaceErrors): a 500 until that, too, meant "the database is unavailable".
    with pytest.raises(DependencyUnavailable), transaction() as connection:
        user_id = insert_user(connection.execute)
        database_proxy.reset_next_request()
        connection.execute("SELECT 1")

    assert stored_user(user_id) is None


def test_a_connection_reset_at_commit_under_sqlalchemy_is_a_503_and_the_pool_recovers(
    database_proxy: TcpProxy,
) -> None:
    # SQLAlchemy passes on an error that is not a DB-API one as it is: the bare ConnectionResetError of a COMMIT
    # whose answer never came was a 500.
    with (
        pytest.raises(DependencyUnavailable),
        proxy_reset_at_commit(database_proxy),
        statements_transaction() as statements,
    ):
        user_id = insert_user(statements.execute)

    assert stored_user(user_id) is None
    with statements_transaction() as statements:
        assert statements.first("SELECT 1 AS one").one == 1


@pytest.mark.kept_connections("tells a kept connection by its backend, which a pooler chooses per transaction")
def test_a_value_no_column_can_hold_is_invalid_request_and_the_connection_is_kept(db: str) -> None:
    before = kept_backend_pid()
    with pytest.raises(InvalidRequest) as raised, transaction() as connection:
        connection.execute("SELECT CAST(:value AS integer)", {"value": "not a number"})
    assert raised.value.detail == "A value in the request cannot be stored"
    assert kept_backend_pid() == before


@pytest.mark.kept_connections("named prepared statements are made on direct connections only")
def test_a_prepared_statement_a_schema_change_broke_fails_once_then_a_fresh_connection_serves(db: str) -> None:
    scratch = f"pg_connection_scratch_{uuid.uuid4().hex[:8]}"
    with transaction() as connection:
        connection.execute(f"CREATE TABLE {scratch} (id integer)")
        connection.execute(f"INSERT INTO {scratch} VALUES (1)")
    try:
        select_all = f"SELECT * FROM {scratch}"
        with transaction() as connection:
            assert [tuple(row) for row in connection.execute(select_all)] == [(1,)]
            before = connection.one(BACKEND_PID).pid
        other = open_connection(db, behind_pooler=True)
        other.execute(f"ALTER TABLE {scratch} ADD COLUMN name text")
        other.close()

        # Postgres refuses the prepared statement whose result type changed; the connection is then not kept.
        with pytest.raises(DatabaseError), transaction() as connection:
            connection.execute(select_all)
        with transaction() as connection:
            assert [tuple(row) for row in connection.execute(select_all)] == [(1, None)]
            assert connection.one(BACKEND_PID).pid != before
    finally:
        with transaction() as connection:
            connection.execute(f"DROP TABLE {scratch}")


def test_a_nul_character_in_a_scan_is_a_422_and_nothing_is_logged(scanner: Identity) -> None:
    ticket = issue_tickets(1).tickets[0]
    body = {"qr_signature": ticket.qr_signature, "inspector_id": "puerta\x00norte"}
    response = call("post_tickets_validate", "POST", "/api/v1/tickets/validate", body=body, token=scanner.token)
    assert response.status == 422
    assert response.json() == {"detail": "A value in the request cannot be stored"}
    assert checkin_rows() == []


def test_an_unreachable_database_is_a_503_json_error(scanner: Identity, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = issue_tickets(1).tickets[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed_port}/nowhere")
    reset_settings()
    try:
        with pytest.raises(DependencyUnavailable), transaction():
            pass
        response = call(
            "get_ticket", "GET", f"/api/v1/tickets/{ticket.id}", {"ticket_id": str(ticket.id)}, token=scanner.token
        )
        assert response.status == 503
        assert response.json() == {"detail": "The database is unavailable, try again"}
    finally:
        monkeypatch.undo()
        reset_settings()


def test_a_statement_cancelled_by_its_timeout_is_a_503(function_environment: dict[str, str]) -> None:
    with pytest.raises(DependencyUnavailable), transaction() as connection:
        connection.execute("SET LOCAL statement_timeout = '50ms'")
        connection.execute("SELECT pg_sleep(1)")


def test_transactions_beyond_the_pool_size_wait_their_turn_then_are_a_503(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "1")
    monkeypatch.setattr(pg_connection, "CHECKOUT_TIMEOUT_SECONDS", 0.3)
    reset_settings()
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_turn() -> None:
        with transaction():
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_only_turn)
    holder.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable), transaction():
            pytest.fail("a second transaction ran while the only turn was taken")
        assert time.monotonic() - started >= 0.3, "it waited for its turn first"

        monkeypatch.setattr(pg_connection, "CHECKOUT_TIMEOUT_SECONDS", 10)
        threading.Timer(0.1, release.set).start()
        with transaction() as connection:  # waits for the holder to finish, then runs
            assert connection.one("SELECT 1 AS one").one == 1
    finally:
        release.set()
        holder.join(5)
        monkeypatch.undo()
        reset_settings()


def test_the_engines_pool_running_out_is_a_503_like_pg_connections_turns(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLAlchemy's pool timeout is not a DB-API error: it was a 500 on the ORM paths while pg8000's was a 503.
    monkeypatch.setenv("DATABASE_POOL_SIZE", "1")
    monkeypatch.setattr(pg_connection, "CHECKOUT_TIMEOUT_SECONDS", 0.3)
    reset_settings()
    dispose_engine()
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_connection() -> None:
        with statements_transaction():
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert holding.wait(5)
        with pytest.raises(DependencyUnavailable), statements_transaction():
            pytest.fail("a second transaction got the pool's only connection")
    finally:
        release.set()
        holder.join(5)
        monkeypatch.undo()
        reset_settings()
        dispose_engine()
