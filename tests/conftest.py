"""Test-wide set-up: a fresh, migrated Postgres database per run, the functions' environment, and moto.

Every AWS call in the tests goes to moto; it is imported and its environment set before any handler module is
imported, so no test can reach real AWS.

`pytest --pooler=pgbouncer` runs the same tests with the functions behind a transaction-mode PgBouncer of the run's
own (tests/support/pgbouncer.py), configured as production's functions are behind Supabase's pooler or RDS Proxy.
A test about connections kept across transactions says so with `@pytest.mark.kept_connections(reason)`; through
the pooler it is skipped with that reason, in the run's summary.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pgbouncer import POOLER_ENVIRONMENT, PgBouncer, PoolerUnavailable, pgbouncer_binary

REPOSITORY = Path(__file__).resolve().parent.parent
for function_folder in sorted((REPOSITORY / "functions").iterdir()):
    # Lambda puts a function's CodeUri on the path; module names are unique across folders so all can coexist.
    if function_folder.is_dir() and str(function_folder) not in sys.path:
        sys.path.insert(0, str(function_folder))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "crowdify-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "CrowdifyTests",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
import moto  # noqa: E402,F401  (imported before any handler: see the module docstring)

pytest_plugins = [
    "tests.support.mercadopago",
    "tests.support.sendgrid",
    "tests.support.identities",
    "tests.support.purchases",
    "tests.support.paid_orders",
    "tests.support.faults",
    "tests.support.browser",
]

TEST_JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
TEST_SUPABASE_JWT_SECRET = "test-supabase-jwt-secret-long-enough-for-hs256"
TEST_SUPABASE_URL = "https://project-ref.supabase.co"
# The QR test vector's seed (bytes 0..31), so tokens in tests are reproducible.
TEST_QR_SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

FUNCTION_ENVIRONMENT = {
    "JWT_SECRET": TEST_JWT_SECRET,
    "SUPABASE_JWT_SECRET": TEST_SUPABASE_JWT_SECRET,
    "SUPABASE_URL": TEST_SUPABASE_URL,
    "QR_SECRET": TEST_QR_SECRET,
    "CORS_ORIGINS": "http://localhost:5173",
    "PUBLIC_BASE_URL": "http://127.0.0.1:3000",
    "DATABASE_POOL_SIZE": "4",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pooler",
        choices=("none", "pgbouncer"),
        default="none",
        help="pgbouncer: the functions reach the test database through a transaction-mode PgBouncer of the run's own",
    )


def through_pooler(config: pytest.Config) -> bool:
    return config.getoption("pooler") == "pgbouncer"


def pytest_configure(config: pytest.Config) -> None:
    if through_pooler(config):
        try:
            pgbouncer_binary()
        except PoolerUnavailable as error:
            raise pytest.UsageError(str(error)) from error


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not through_pooler(config):
        return
    for item in items:
        marker = item.get_closest_marker("kept_connections")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            if not reason:
                raise pytest.UsageError(f"{item.nodeid}: kept_connections needs a reason")
            item.add_marker(pytest.mark.skip(reason=f"about kept connections, not run through a pooler: {reason}"))


@pytest.fixture(scope="session")
def pooler(request: pytest.FixtureRequest) -> Iterator[PgBouncer | None]:
    """The run's PgBouncer in front of the test server with `--pooler=pgbouncer`, else None."""
    if not through_pooler(request.config):
        yield None
        return
    from local.postgres import test_server_url

    bouncer = PgBouncer(test_server_url()).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="session")
def database_url(pooler: PgBouncer | None) -> Iterator[str]:
    """A database of this run's own on the test server, migrated with Alembic, dropped at the end; reached through
    the run's pooler when there is one (migrations and DROP DATABASE go to the server itself)."""
    from crowdify.persistence.migrations import upgrade_to_head
    from local.postgres import create_database, drop_database, test_server_url

    server_url = test_server_url()
    name = f"crowdify_test_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    upgrade_to_head(url)
    yield url if pooler is None else pooler.url_for(url)
    from crowdify.persistence.database import dispose_engine

    dispose_engine()
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def function_environment(database_url: str, pooler: PgBouncer | None) -> Iterator[dict[str, str]]:
    from crowdify.config.settings import reset_settings
    from crowdify.persistence.database import dispose_engine

    environment = {**FUNCTION_ENVIRONMENT, "DATABASE_URL": database_url}
    if pooler is not None:
        environment.update(POOLER_ENVIRONMENT)
    previous = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    reset_settings()
    dispose_engine()
    yield environment
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reset_settings()
    dispose_engine()


_TABLES_TO_EMPTY = (
    "checkins, email_deliveries, outbox_messages, refunds, payments, tickets, attendees, order_items, orders, "
    "event_services, ticket_types, events, scanner_devices, audit_log"
)


@pytest.fixture
def db(function_environment: dict[str, str]) -> Iterator[str]:
    """The run's database, emptied of domain rows after each test (the default organiser stays)."""
    yield function_environment["DATABASE_URL"]
    from sqlalchemy import text

    from crowdify.persistence.database import engine

    with engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {_TABLES_TO_EMPTY} CASCADE"))
        connection.execute(text("UPDATE organizers SET user_id = NULL"))
        connection.execute(text("DELETE FROM users"))
