"""ORM sessions over the shared engine, for the functions that use the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from crowdify.persistence.database import domain_errors, engine


@contextmanager
def db_session() -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls back when it raises.

    Database errors a client can act on leave as domain errors (crowdify.persistence.database.domain_errors).
    """
    with domain_errors():
        session = Session(engine(), expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
