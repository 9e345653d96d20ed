"""crowdify.persistence.database changes two things inside its libraries; each test here fails when the library changes
under the patch, so an upgrade cannot silently turn it into dead code (or worse, half of one)."""

from __future__ import annotations

import pg8000.legacy
from sqlalchemy import text

from crowdify.persistence import database


def test_pg8000_still_rewrites_placeholders_through_the_function_we_remember(db: str) -> None:
    engine = database.build_engine(db)
    try:
        patched = pg8000.legacy.convert_paramstyle
        assert patched.remembers_rewrites, "remember_placeholder_rewrites did not replace pg8000's function"
        cache = _remembered(patched)
        before = cache.cache_info()
        statement = "SELECT CAST(:value AS integer) + 1 AS pinned_statement"
        with engine.connect() as connection:
            for value in (1, 2, 3):
                assert connection.execute(text(statement), {"value": value}).scalar() == value + 1
        after = cache.cache_info()
        # pg8000 looked the module-level name up on every execute: one rewrite made, then remembered.
        assert after.misses - before.misses >= 1
        assert after.hits - before.hits >= 2
    finally:
        engine.dispose()


def test_sqlalchemy_still_commits_through_the_dialects_do_commit(db: str) -> None:
    engine = database.build_engine(db)
    commits: list[bool] = []
    one_round_trip = engine.dialect.do_commit

    def counted(dbapi_connection: object) -> None:
        # pg8000 still offers the simple-query execute the patch sends COMMIT with.
        commits.append(callable(getattr(dbapi_connection, "execute_simple", None)))
        one_round_trip(dbapi_connection)

    engine.dialect.do_commit = counted  # type: ignore[method-assign]
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TEMP TABLE IF NOT EXISTS pinned (id int)"))
        assert commits == [True], "SQLAlchemy no longer ends a transaction through dialect.do_commit"
    finally:
        engine.dispose()


def _remembered(patched: object) -> object:
    """The lru_cache the patch keeps its rewrites in (a closure variable of the replacement function)."""
    for cell in patched.__closure__ or ():  # type: ignore[attr-defined]
        if hasattr(cell.cell_contents, "cache_info"):
            return cell.cell_contents
    raise AssertionError("the placeholder patch keeps no cache")
