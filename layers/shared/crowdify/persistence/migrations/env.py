"""Alembic environment: online migrations over the shared engine's URL handling (pg8000, sslmode)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from crowdify.persistence.database import driver_url_and_arguments
from crowdify.persistence.models import Base

config = context.config
url, connect_args = driver_url_and_arguments(config.attributes["database_url"])
connectable = create_engine(url, connect_args=connect_args, poolclass=pool.NullPool)

with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
