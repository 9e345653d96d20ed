"""Postgres through pg8000 alone, for the door (validate) and the usual purchase: plain SQL without SQLAlchemy's
import, a large part of a cold start (bench/coldstart.py measures the functions), and without its per-statement work.

One connection per warm container (Lambda runs one invocation at a time), opened on first use from
`settings.database_url` with the session defaults crowdify.persistence.database sets. More are opened only while
transactions overlap (the local gateway and tests run functions in threads): at most `database_pool_size` transactions
run at once, as the engine's pool allows, and a further one waits up to CHECKOUT_TIMEOUT_SECONDS for its turn.
With `database_connection_per_transaction` every transaction opens a connection of its own and closes it, as the
engine's NullPool does.

No pre-ping: a kept connection that died while the container was frozen shows when its transaction's BEGIN fails.
Then one fresh connection is opened and BEGIN sent on it instead. That retry is safe because BEGIN is the first
thing a transaction sends: none of the caller's statements had been sent and nothing had been committed (a BEGIN
that reached a dying backend dies with it). A failure after BEGIN is never retried: the block may have sent
statements, and only the caller knows whether running it again is right.

Statements take pg8000's native `:name` parameters. A kept connection prepares each statement text once (a named
prepared statement): afterwards an execute is one round trip, and Postgres neither parses nor re-plans the door's
large check-in statement on every scan. Behind a transaction-mode pooler (`database_behind_pooler`: Supabase's,
RDS Proxy, PgBouncer), which may run the next transaction on another backend, nothing may outlive a transaction on
the connection: statements are unnamed, each sent with its parameters in one round trip (parse, bind, execute, as
libpq's PQexecParams does), and the session defaults are set with SET LOCAL by each BEGIN instead of once per
connection. The connection to the pooler is still kept (docs/architecture.md, "Behind a connection pooler").
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any, NoReturn

import pg8000.native
from pg8000.converters import make_params
from pg8000.core import DESCRIBE, NULL_BYTE, PORTAL, SYNC_MSG, Context, _flush, _write
from pg8000.exceptions import DatabaseError, Error, InterfaceError

from crowdify.config.settings import get_settings
from crowdify.core.errors import DependencyUnavailable, DomainError, InvalidRequest
from crowdify.persistence.database_url import connect_arguments

UNAVAILABLE = "The database is unavailable, try again"
NOT_CONFIGURED = "The database is not configured"
CONNECT_TIMEOUT_SECONDS = 10
# As the engine's pool_timeout: how long a transaction waits while `database_pool_size` others run.
CHECKOUT_TIMEOUT_SECONDS = 10
# A stuck statement must not outlive the Lambda invocation that waits for it. One simple query: one round trip.
SESSION_DEFAULTS = "SET statement_timeout = '8s'; SET TIME ZONE 'UTC'"
# Behind a transaction-mode pooler the same defaults, for this transaction only, sent with its BEGIN.
BEGIN_WITH_DEFAULTS = "BEGIN; SET LOCAL statement_timeout = '8s'; SET LOCAL TIME ZONE 'UTC'"
# SQLSTATE class 22, "data exception" (a NUL character, a number out of range): input no column can hold, so the
# client's to fix. pg8000 raises every server error as DatabaseError; the SQLSTATE tells them apart.
DATA_EXCEPTION_CLASS = "22"
# A statement cancelled by statement_timeout, a deadlock, a serialization failure: the database could not answer
# this time, and the same request may well succeed when retried.
RETRYABLE_SQLSTATES = {"57014", "40P01", "40001"}
# Class 08, connection exception, and the shutdown codes of class 57: the backend is gone.
_CONNECTION_EXCEPTION_CLASS = "08"
_BACKEND_SHUT_DOWN = frozenset({"57P01", "57P02", "57P03"})
# What pg8000 says when the socket failed or was closed (its other InterfaceErrors are programming errors).
_NETWORK_FAILURES = frozenset({"network error", "connection is closed"})
# A prepared statement the server no longer has, or whose plan a schema change broke ("cached plan must not change
# result type"): the connection, with its prepared statements, is not kept.
_PREPARED_STATEMENT_BROKEN = frozenset({"26000", "0A000"})
# The door's and the purchase's statements are a handful of constants; past this, statements run unnamed rather
# than pile up.
MAX_PREPARED_STATEMENTS = 64

_statement_listeners: list[Callable[[str], None]] = []


@lru_cache(maxsize=256)
def _rewritten(statement: str) -> tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]:
    return pg8000.native.to_statement(statement)


@lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names, rename=True)


class Connection:
    """One pg8000 connection. Rows have attribute access (`row.status`), as SQLAlchemy's do."""

    def __init__(self, raw: pg8000.native.Connection, database_url: str, behind_pooler: bool) -> None:
        self._raw = raw
        self.database_url = database_url
        # False once an error may have left the protocol out of step, or the backend is gone: never reused then.
        self.usable = True
        self.behind_pooler = behind_pooler
        self._prepared: dict[str, pg8000.native.PreparedStatement] = {}

    def execute(self, statement: str, parameters: Mapping[str, Any] | None = None) -> list[Any]:
        """Run one statement in the connection's transaction; its rows (none for a statement without a result)."""
        for listener in _statement_listeners:
            listener(statement)
        try:
            rows, columns = self._send(statement, parameters or {})
        except DatabaseError as error:
            # The server refused the statement; pg8000 has read up to ReadyForQuery, so the protocol is in step.
            broken = is_connection_failure(error) or sqlstate(error) in _PREPARED_STATEMENT_BROKEN
            self.usable = self.usable and not broken
            raise
        except BaseException:
            # A network failure or an interrupted read: what is left on the socket is unknown.
            self.usable = False
            raise
        if rows is None:
            return []
        row_type = _row_type(tuple(column["name"] for column in columns))
        return [row_type._make(row) for row in rows]

    def _send(self, statement: str, parameters: Mapping[str, Any]) -> tuple[list[list[Any]] | None, Any]:
        prepared = self._prepared.get(statement)
        if prepared is None and not self.behind_pooler and len(self._prepared) < MAX_PREPARED_STATEMENTS:
            prepared = self._prepared[statement] = self._raw.prepare(statement)
        if prepared is not None:
            return prepared.run(**parameters), prepared.cols
        text, values_of = _rewritten(statement)
        context = _execute_unnamed(self._raw, text, values_of(parameters))
        return context.rows, context.columns

    def first(self, statement: str, parameters: Mapping[str, Any] | None = None) -> Any | None:
        rows = self.execute(statement, parameters)
        return rows[0] if rows else None

    def one(self, statement: str, parameters: Mapping[str, Any] | None = None) -> Any:
        rows = self.execute(statement, parameters)
        if len(rows) != 1:
            raise LookupError(f"expected one row, got {len(rows)}")
        return rows[0]

    def scalars(self, statement: str, parameters: Mapping[str, Any] | None = None) -> list[Any]:
        return [row[0] for row in self.execute(statement, parameters)]

    def begin(self) -> None:
        self._control(BEGIN_WITH_DEFAULTS if self.behind_pooler else "BEGIN")

    def commit(self) -> None:
        self._control("COMMIT")

    def rollback(self) -> None:
        self._control("ROLLBACK")

    def _control(self, command: str) -> None:
        # A simple query: one round trip (pg8000's extended protocol takes three for a statement).
        try:
            self._raw.execute_simple(command)
        except BaseException:
            self.usable = False
            raise

    def close(self) -> None:
        self.usable = False
        with suppress(InterfaceError, OSError):  # already gone
            self._raw.close()


def _execute_unnamed(raw: pg8000.native.Connection, statement: str, values: tuple[Any, ...]) -> Context:
    """`statement` as an unnamed statement in one round trip: Parse, Bind, Describe (the portal), Execute and Sync
    sent together. pg8000's own `execute_unnamed` waits for the server after Parse and after Describe (three round
    trips); the parameters go as text either way, so the server's answer to Describe Portal is all it needs."""
    context = Context(statement)
    raw.send_PARSE(NULL_BYTE, statement)
    raw.send_BIND(NULL_BYTE, make_params(raw.py_types, values))
    raw._send_message(DESCRIBE, PORTAL + NULL_BYTE)
    raw.send_EXECUTE()
    _write(raw._sock, SYNC_MSG)
    _flush(raw._sock)
    raw.handle_messages(context)
    return context


def open_connection(database_url: str, behind_pooler: bool = False) -> Connection:
    """A new connection: DependencyUnavailable when the database cannot be reached or refuses it.

    A direct connection gets the session defaults and prepares its statements; one `behind_pooler` gets neither:
    on a backend the pooler shares, session state would outlive the transaction (its BEGIN sets the defaults).
    """
    arguments = connect_arguments(database_url)
    arguments.setdefault("timeout", CONNECT_TIMEOUT_SECONDS)
    try:
        raw = pg8000.native.Connection(**arguments)
    except (Error, OSError) as error:
        raise DependencyUnavailable(UNAVAILABLE) from error
    connection = Connection(raw, database_url, behind_pooler)
    if not behind_pooler:
        try:
            raw.execute_simple(SESSION_DEFAULTS)
        except (Error, OSError) as error:
            connection.close()
            raise DependencyUnavailable(UNAVAILABLE) from error
    return connection


_kept: list[Connection] = []
_kept_lock = threading.Lock()
_turns = threading.Condition()
_running = 0


@contextmanager
def _turn() -> Iterator[None]:
    """One of the `database_pool_size` transactions that may run at once in this process."""
    global _running
    limit = get_settings().database_pool_size
    with _turns:
        if not _turns.wait_for(lambda: _running < limit, timeout=CHECKOUT_TIMEOUT_SECONDS):
            raise DependencyUnavailable(UNAVAILABLE)
        _running += 1
    try:
        yield
    finally:
        with _turns:
            _running -= 1
            _turns.notify()


def _open_from_settings() -> Connection:
    settings = get_settings()
    if not settings.database_url:
        raise DependencyUnavailable(NOT_CONFIGURED)
    return open_connection(settings.database_url, settings.database_behind_pooler)


def _checkout() -> tuple[Connection, bool]:
    """A kept connection to the configured database (True: reused), or a new one."""
    settings = get_settings()
    stale = []
    reused = None
    with _kept_lock:
        while _kept and reused is None:
            candidate = _kept.pop()
            if candidate.database_url == settings.database_url:
                reused = candidate
            else:
                stale.append(candidate)  # settings now name another database (tests, the local stack)
    for connection in stale:
        connection.close()
    if reused is not None:
        return reused, True
    return _open_from_settings(), False


def _release(connection: Connection) -> None:
    settings = get_settings()
    kept = connection.usable and not settings.database_connection_per_transaction
    if kept and connection.database_url == settings.database_url:
        with _kept_lock:
            if len(_kept) < settings.database_pool_size:
                _kept.append(connection)
                return
    connection.close()


def _begun() -> Connection:
    connection, reused = _checkout()
    try:
        connection.begin()
        return connection
    except Exception as error:
        connection.close()
        if not reused:
            raise DependencyUnavailable(UNAVAILABLE) from error
    # The kept connection died while idle. Nothing of this transaction was sent (see the module's docstring): one
    # fresh connection, and BEGIN again.
    connection = _open_from_settings()
    try:
        connection.begin()
    except Exception as error:
        connection.close()
        raise DependencyUnavailable(UNAVAILABLE) from error
    return connection


@contextmanager
def transaction() -> Iterator[Connection]:
    """A connection in one transaction: committed when the block ends, rolled back when it raises.

    Database errors a client can act on leave as domain errors: the connection lost → DependencyUnavailable (503),
    a value no column can hold → InvalidRequest (422). A COMMIT that fails with the connection is a 503 too: the
    client retries, and the door's retries are answered from the first attempt's log row (its nonce).
    """
    with _turn():
        connection = _begun()
        try:
            yield connection
            connection.commit()
        except BaseException as error:
            if connection.usable:
                # A failed ROLLBACK marks the connection unusable (closed below); the error to report is the first.
                with suppress(Exception):
                    connection.rollback()
            _raise_as_domain_error(error)
        finally:
            _release(connection)


def _raise_as_domain_error(error: BaseException) -> NoReturn:
    """Raises the domain error a client can act on for `error` (see `transaction`), or `error` itself: a bug."""
    translated = domain_error_for(error)
    if translated is None:
        raise error
    raise translated from error


def run_alone(statement: str, parameters: Mapping[str, Any] | None = None) -> list[Any]:
    """One statement that is its own transaction, for statements safe to run twice (a read, a write that changes
    nothing the second time): its rows.

    Postgres runs a statement sent outside BEGIN in a transaction of its own, so this costs one round trip where
    `transaction` costs three. A kept connection that died while idle fails the statement itself rather than a
    BEGIN; the statement is then sent once more on a fresh connection, which is why it must be safe to repeat.
    Behind a transaction-mode pooler the session defaults (the statement timeout) exist only inside BEGIN, so there
    this is an ordinary transaction.
    """
    if get_settings().database_behind_pooler:
        with transaction() as connection:
            return connection.execute(statement, parameters)
    with _turn():
        connection, reused = _checkout()
        try:
            try:
                return connection.execute(statement, parameters)
            except BaseException as error:
                if not (reused and is_connection_failure(error)):
                    raise
                connection.close()
                connection = _open_from_settings()
                return connection.execute(statement, parameters)
        except BaseException as error:
            _raise_as_domain_error(error)
        finally:
            _release(connection)


class StatementsAlone:
    """crowdify.persistence.statements.SqlStatements whose every statement is a transaction of its own (`run_alone`):
    for a route whose work is one statement, or statements that need not commit together."""

    def execute(self, statement: str, parameters: Mapping[str, Any] | None = None) -> list[Any]:
        return run_alone(statement, parameters)

    def first(self, statement: str, parameters: Mapping[str, Any] | None = None) -> Any | None:
        rows = run_alone(statement, parameters)
        return rows[0] if rows else None


def close_connections() -> None:
    """Close the kept connections (tests and the local stack point settings at another database)."""
    with _kept_lock:
        closing = list(_kept)
        _kept.clear()
    for connection in closing:
        connection.close()


def sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a server error pg8000 raised ("" for anything else)."""
    details = error.args[0] if isinstance(error, DatabaseError) and error.args else None
    return str(details.get("C", "")) if isinstance(details, dict) else ""


def is_connection_failure(error: BaseException) -> bool:
    if isinstance(error, ConnectionError | TimeoutError):
        # pg8000 wraps most socket failures in InterfaceError, but not a reset met by the first read of an answer.
        return True
    if isinstance(error, InterfaceError):
        return str(error) in _NETWORK_FAILURES or isinstance(error.__cause__, OSError)
    code = sqlstate(error)
    return code.startswith(_CONNECTION_EXCEPTION_CLASS) or code in _BACKEND_SHUT_DOWN


def domain_error_for(error: BaseException) -> DomainError | None:
    """The domain error a pg8000 error means to a client, or None when it is a bug (a 500)."""
    if isinstance(error, DomainError):
        return None
    if is_connection_failure(error):
        return DependencyUnavailable(UNAVAILABLE)
    code = sqlstate(error)
    if code in RETRYABLE_SQLSTATES:
        return DependencyUnavailable(UNAVAILABLE)
    if code.startswith(DATA_EXCEPTION_CLASS):
        return InvalidRequest("A value in the request cannot be stored")
    return None


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The statements sent while the block runs, for benchmarks (BEGIN, COMMIT, ROLLBACK and the session defaults
    are transaction control, not statements)."""
    sent: list[str] = []
    with on_statement(sent.append):
        yield sent


@contextmanager
def on_statement(listener: Callable[[str], None]) -> Iterator[None]:
    """`listener` is called with each statement just before it is sent, while the block runs (benchmarks, and fault
    tests that cut the connection at a chosen step)."""
    _statement_listeners.append(listener)
    try:
        yield
    finally:
        _statement_listeners.remove(listener)
