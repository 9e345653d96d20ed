"""Behind a transaction-mode pooler (DATABASE_BEHIND_POOLER) nothing outlives a transaction on a connection: no named
prepared statements, no session settings; the session defaults hold inside every transaction all the same, and the
connection to the pooler is kept. `pytest --pooler=pgbouncer` runs the whole suite through a real PgBouncer; these
check the connections' own state, which only a direct connection shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError
from sqlalchemy import text

from crowdify.config.settings import reset_settings, settings_from_environment
from crowdify.persistence import pg_connection
from crowdify.persistence.database import dispose_engine, engine

# What these tests look at is one session's own state, which a transaction-mode pooler hides.
ABOUT_ONE_SESSION = pytest.mark.kept_connections("reads the state a session keeps between transactions")
# The server's default time zone here is spelt 'Etc/UTC': 'UTC' is what the defaults set.
SESSION_STATE = """
SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('TimeZone') AS time_zone,
       (SELECT count(*) FROM pg_prepared_statements) AS prepared
"""


@pytest.fixture
def behind_pooler(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_BEHIND_POOLER", "true")
    reset_settings()
    dispose_engine()
    yield
    monkeypatch.undo()
    reset_settings()
    dispose_engine()


@ABOUT_ONE_SESSION
def test_a_kept_connection_behind_a_pooler_prepares_nothing_and_sets_its_defaults_per_transaction(
    behind_pooler: None,
) -> None:
    for _ in range(3):
        with pg_connection.transaction() as connection:
            inside = connection.one(SESSION_STATE)
            backend = connection.one("SELECT pg_backend_pid() AS pid").pid
        assert (inside.statement_timeout, inside.time_zone, inside.prepared) == ("8s", "UTC", 0)

    # The connection is kept; outside a transaction its session has none of it (a direct connection, so the same
    # backend answers: through a pooler another client's transaction could run there next).
    assert len(pg_connection._kept) == 1
    kept = pg_connection._kept[0]
    outside = kept.one(SESSION_STATE)
    assert outside.statement_timeout != "8s"
    assert outside.prepared == 0
    assert kept.one("SELECT pg_backend_pid() AS pid").pid == backend


@ABOUT_ONE_SESSION
def test_the_engine_behind_a_pooler_sets_its_defaults_per_transaction_and_keeps_no_session_state(
    behind_pooler: None,
) -> None:
    for _ in range(2):
        with engine().begin() as connection:
            inside = connection.execute(text(SESSION_STATE)).one()
        assert (inside.statement_timeout, inside.time_zone, inside.prepared) == ("8s", "UTC", 0)
    # The pool's connection (the only one: each transaction returned it before the next), outside a transaction.
    raw = engine().raw_connection()
    try:
        raw.driver_connection.autocommit = True
        cursor = raw.cursor()
        cursor.execute(SESSION_STATE)
        statement_timeout, _, prepared = cursor.fetchone()
        assert statement_timeout != "8s"
        assert prepared == 0
    finally:
        raw.driver_connection.autocommit = False
        raw.close()


@ABOUT_ONE_SESSION
def test_a_direct_connection_sets_its_defaults_once_and_prepares_its_statements(db: str) -> None:
    with pg_connection.transaction() as connection:
        connection.one(SESSION_STATE)
    with pg_connection.transaction() as connection:
        again = connection.one(SESSION_STATE)
    assert again.statement_timeout == "8s"
    assert again.prepared >= 1


def test_the_former_name_of_the_setting_still_means_behind_a_pooler() -> None:
    assert settings_from_environment({"DATABASE_NULL_POOL": "true"}).database_behind_pooler is True
    assert settings_from_environment({"DATABASE_BEHIND_POOLER": "true"}).database_behind_pooler is True
    both = {"DATABASE_BEHIND_POOLER": "false", "DATABASE_NULL_POOL": "true"}
    assert settings_from_environment(both).database_behind_pooler is False
    assert settings_from_environment({}).database_behind_pooler is False


class CountingSocket:
    """pg8000's buffered socket, counting the times the client sends what it wrote and then waits for an answer."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.sends = 0

    def flush(self) -> None:
        self.sends += 1
        self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def test_behind_a_pooler_each_statement_with_its_parameters_is_one_round_trip(behind_pooler: None) -> None:
    with pg_connection.transaction() as connection:
        counting = CountingSocket(connection._raw._sock)
        connection._raw._sock = counting
        try:
            rows = connection.execute(
                "SELECT CAST(:number AS integer) + 1 AS next, CAST(:word AS text) AS word", {"number": 41, "word": "x"}
            )
            nothing = connection.execute("SELECT 1 WHERE false")
            with pytest.raises(DatabaseError):
                connection.execute("SELECT CAST(:word AS integer)", {"word": "not a number"})
            connection.rollback()  # the refused statement left the transaction failed
            connection.begin()
        finally:
            connection._raw._sock = counting.wrapped
    assert [tuple(row) for row in rows] == [(42, "x")]
    assert nothing == []
    assert counting.sends == 5  # three statements, ROLLBACK, BEGIN
    # The refused statement left the protocol in step: the connection serves the next transaction.
    with pg_connection.transaction() as connection:
        assert connection.one("SELECT 2 AS two").two == 2
