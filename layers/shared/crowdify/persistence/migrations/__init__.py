"""Alembic migrations, run programmatically (the local stack, the tests and the deploy-time migration function)."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS_DIRECTORY = Path(__file__).parent


def alembic_config(
    database_url: str,
):  # -> alembic.config.Config; alembic is imported only where migrations run
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")
