"""The migrations create exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from crowdify.persistence.database import driver_url_and_arguments
from crowdify.persistence.migrations import alembic_config, upgrade_to_head
from crowdify.persistence.models import Base
from local.postgres import create_database, drop_database, test_server_url


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    url, connect_args = driver_url_and_arguments(database_url)
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"


def test_migrations_downgrade_and_upgrade_again() -> None:
    server_url = test_server_url()
    name = f"crowdify_migrations_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, name)
    try:
        upgrade_to_head(database_url)
        command.downgrade(alembic_config(database_url), "base")
        upgrade_to_head(database_url)
        url, connect_args = driver_url_and_arguments(database_url)
        engine = create_engine(url, connect_args=connect_args)
        with engine.connect() as connection:
            default_organisers = connection.execute(
                text("SELECT count(*) FROM organizers WHERE is_default")
            ).scalar_one()
        engine.dispose()
        assert default_organisers == 1
    finally:
        drop_database(server_url, name)
