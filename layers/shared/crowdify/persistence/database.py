"""Postgres access through SQLAlchemy Core and pg8000: one engine per warm container, made on first use.

Only Core lives here (the ORM's sessions are in crowdify.persistence.sessions). The door (validate) and the usual
purchase use neither: they talk to Postgres through pg8000 alone (crowdify.persistence.pg_connection).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.pool import NullPool

from crowdify.config.settings import get_settings
from crowdify.core.errors import DependencyUnavailable, DomainError
from crowdify.persistence import pg_connection
from crowdify.persistence.database_url import connect_arguments

_engine: Engine | None = None


def driver_url_and_arguments(database_url: str) -> tuple[str, dict[str, Any]]:
    """An engine's URL and connect arguments for the plain `postgresql://…?sslmode=…` URL that hosts hand out: the
    URL is read once, by crowdify.persistence.database_url, as the door's connections read it; the engine only names
    pg8000."""
    return "postgresql+pg8000://", connect_arguments(database_url)


def remember_placeholder_rewrites() -> None:
    """Make pg8000 rewrite each statement's placeholders once, not on every execute.

    pg8000 turns `%s` into `$1…` with a Python loop over every character of the statement, on every call: for the
    door's long check-in statement that loop cost more CPU per scan than the rest of the query path (bench/scan.py
    measures a scan). For the positional styles SQLAlchemy uses, the result depends on the text alone.
    """
    import pg8000.legacy

    original = pg8000.legacy.convert_paramstyle
    if getattr(original, "remembers_rewrites", False):
        return

    @lru_cache(maxsize=2048)
    def rewritten(style: str, query: str) -> str:
        return original(style, query, ())[0]

    def convert_paramstyle(style: str, query: str, args: Any) -> tuple[str, Any]:
        if style in ("format", "numeric", "qmark"):
            return rewritten(style, query), args
        return original(style, query, args)

    convert_paramstyle.remembers_rewrites = True  # type: ignore[attr-defined]
    pg8000.legacy.convert_paramstyle = convert_paramstyle


def _commit_in_one_round_trip(dbapi_connection: Any) -> None:
    # pg8000 sends COMMIT through the extended protocol (parse, describe, execute: three round trips); as a simple
    # query it takes one. Every transaction ends here, so this is two round trips off every request.
    dbapi_connection.execute_simple("commit")


def _begin_with_defaults(dbapi_connection: Any) -> None:
    # Behind a transaction-mode pooler the session defaults hold for one transaction, so every BEGIN sets them. pg8000
    # would send its own BEGIN before the first statement (one round trip); this one takes its place. A pool's
    # pre-ping may have begun the transaction already: then only the defaults.
    if dbapi_connection._in_transaction:
        dbapi_connection.execute_simple(pg_connection.BEGIN_WITH_DEFAULTS.removeprefix("BEGIN; "))
    else:
        dbapi_connection.execute_simple(pg_connection.BEGIN_WITH_DEFAULTS)


def build_engine(
    database_url: str, pool_size: int = 1, behind_pooler: bool = False, connection_per_transaction: bool = False
) -> Engine:
    """An engine for `database_url`. Behind a transaction-mode pooler its connections carry no session state (pg8000's
    DB-API statements are unnamed); with `connection_per_transaction` it keeps none (NullPool)."""
    remember_placeholder_rewrites()
    url, connect_args = driver_url_and_arguments(database_url)
    connect_args.setdefault("timeout", pg_connection.CONNECT_TIMEOUT_SECONDS)
    if connection_per_transaction:
        built = create_engine(url, connect_args=connect_args, poolclass=NullPool)
    else:
        built = create_engine(
            url,
            connect_args=connect_args,
            pool_size=pool_size,
            max_overflow=0,
            pool_pre_ping=True,
            pool_timeout=pg_connection.CHECKOUT_TIMEOUT_SECONDS,
        )
    if behind_pooler:
        built.dialect.do_begin = _begin_with_defaults  # type: ignore[method-assign]
    else:
        event.listen(built, "connect", _set_session_defaults)
    built.dialect.do_commit = _commit_in_one_round_trip  # type: ignore[method-assign]
    return built


def _set_session_defaults(dbapi_connection: Any, _record: Any) -> None:
    # The door's session defaults, in one round trip (outside any transaction, so they hold for the session).
    dbapi_connection.execute_simple(pg_connection.SESSION_DEFAULTS)


def engine() -> Engine:
    global _engine
    if _engine is None:
        settings = get_settings()
        if not settings.database_url:
            raise DependencyUnavailable(pg_connection.NOT_CONFIGURED)
        _engine = build_engine(
            settings.database_url,
            settings.database_pool_size,
            settings.database_behind_pooler,
            settings.database_connection_per_transaction,
        )
    return _engine


def dispose_engine() -> None:
    """Drop the engine and the door's kept connections (tests and the local stack point settings at another
    database)."""
    global _engine
    if _engine is not None:
        _engine.dispose()
    _engine = None
    pg_connection.close_connections()


@contextmanager
def transaction() -> Iterator[Connection]:
    """A Core connection in one transaction: committed on success, rolled back on any error.

    Database errors a client can act on leave as domain errors (see `domain_errors`).
    """
    with domain_errors(), engine().begin() as connection:
        yield connection


@contextmanager
def domain_errors() -> Iterator[None]:
    """Database errors leave the block as the domain errors they mean to a client, so the API layer maps them
    without importing SQLAlchemy: the connection lost → DependencyUnavailable (503), a value no column can hold
    (SQLSTATE class 22) → InvalidRequest (422). Anything else is a bug and leaves as it is (500)."""
    try:
        yield
    except Exception as error:
        translated = _domain_error_for(error)
        if translated is None:
            raise
        raise translated from error


def _domain_error_for(error: Exception) -> DomainError | None:
    """The same translation as crowdify.persistence.pg_connection's, for what SQLAlchemy raises around pg8000's
    errors."""
    # A failed connect, a connection SQLAlchemy found dead, or no pooled connection free within the pool's timeout.
    if isinstance(error, exc.OperationalError | exc.TimeoutError) or (
        isinstance(error, exc.DBAPIError) and error.connection_invalidated
    ):
        return DependencyUnavailable(pg_connection.UNAVAILABLE)
    # SQLAlchemy passes on what is not a DB-API error as it is: pg8000's bare socket errors among them.
    return pg_connection.domain_error_for(error.orig if isinstance(error, exc.DBAPIError) else error)


class CoreStatements:
    """Plain SQL with `:name` parameters in a Core connection's transaction: what crowdify.auth.users and
    crowdify.auth.callers take, as they take a crowdify.persistence.pg_connection.Connection on the door's path."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def execute(self, statement: str, parameters: Mapping[str, Any] | None = None) -> None:
        self.connection.execute(text(statement), dict(parameters or {}))

    def first(self, statement: str, parameters: Mapping[str, Any] | None = None) -> Any | None:
        return self.connection.execute(text(statement), dict(parameters or {})).first()


@contextmanager
def statements_transaction() -> Iterator[CoreStatements]:
    with transaction() as connection:
        yield CoreStatements(connection)
