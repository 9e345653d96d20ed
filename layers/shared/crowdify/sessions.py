"""ORM sessions over the shared engine, for the functions that use the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc
from sqlalchemy.orm import Session

from crowdify.database import engine, is_connection_failure
from crowdify.errors import DependencyUnavailable


@contextmanager
def db_session() -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls back when it raises."""
    session = Session(engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except (exc.OperationalError, exc.InterfaceError) as error:
        session.rollback()
        if error.connection_invalidated or is_connection_failure(error):
            raise DependencyUnavailable("The database is unavailable, try again") from error
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
