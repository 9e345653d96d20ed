"""Benchmarks measure a Postgres that keeps its promises: fsync, synchronous_commit and full_page_writes on, as
every host runs it. The embedded Postgres of `make run` (and of the tests when nothing answers on 5432) turns all
three off for speed; a figure measured there would flatter every write, so the benchmarks refuse it."""

from __future__ import annotations

DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


class NotDurable(RuntimeError):
    pass


def durability_settings(server_url: str) -> dict[str, str]:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from crowdify.persistence.database import driver_url_and_arguments

    url, connect_arguments = driver_url_and_arguments(server_url)
    engine = create_engine(url, connect_args=connect_arguments, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {name: connection.exec_driver_sql(f"SHOW {name}").scalar_one() for name in DURABILITY_SETTINGS}
    finally:
        engine.dispose()


def require_durable(server_url: str) -> dict[str, str]:
    """The three settings, all `on`; raises NotDurable (naming what is off) otherwise."""
    settings = durability_settings(server_url)
    off = [name for name, value in settings.items() if value != "on"]
    if off:
        raise NotDurable(
            f"REFUSING TO BENCHMARK: the Postgres at hand runs with {', '.join(off)} off, so its writes are not "
            "durable and every figure would be flattered. Point DATABASE_URL at a server with fsync, "
            "synchronous_commit and full_page_writes on (the embedded Postgres of `make run` has all three off)."
        )
    return settings
