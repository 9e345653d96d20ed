"""Users and their roles, in plain SQL so the door path can resolve a caller without SQLAlchemy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from crowdify.core.errors import Conflict
from crowdify.core.statuses import ROLES
from crowdify.persistence.statements import SqlStatements

# One statement whether the user is new or known: the role lookup is on every request's path.
_FIND_OR_CREATE_USER = """
    WITH existing AS (
        SELECT id, email, role FROM users WHERE id = :id
    ), created AS (
        INSERT INTO users (id, email, role)
        SELECT :id, :email, :role WHERE NOT EXISTS (SELECT 1 FROM existing)
        ON CONFLICT DO NOTHING
        RETURNING id, email, role
    )
    SELECT id, email, role, false AS created FROM existing
    UNION ALL
    SELECT id, email, role, true AS created FROM created
"""
_FIND_USER = "SELECT id, email, role, false AS created FROM users WHERE id = :id"

_CLAIM_DEFAULT_ORGANIZER = (
    "UPDATE organizers SET user_id = :user_id, updated_at = now() WHERE is_default AND user_id IS NULL"
)


@dataclass(frozen=True)
class UserRecord:
    id: uuid.UUID
    email: str | None
    role: str


def find_or_create_user(
    connection: SqlStatements, user_id: uuid.UUID, email: str | None, role_for_new_user: str
) -> UserRecord:
    """The user's stored role; a user seen for the first time is created with `role_for_new_user`."""
    role = role_for_new_user if role_for_new_user in ROLES else "user"
    row = connection.first(_FIND_OR_CREATE_USER, {"id": user_id, "email": email, "role": role})
    if row is None:
        # Created concurrently by another request between our read and our insert: it is there now.
        row = connection.first(_FIND_USER, {"id": user_id})
        if row is None:
            # Not created and not there: another account holds this email (e.g. a scanner an admin created before
            # this person's first Supabase sign-in). Linking them silently would hand over its role.
            raise Conflict("An account with this email already exists under another id; ask an admin to link it")
    if row.created and row.role == "admin":
        connection.execute(_CLAIM_DEFAULT_ORGANIZER, {"user_id": row.id})
    return UserRecord(id=row.id, email=row.email, role=row.role)


def set_role_by_email(database_url: str, email: str, role: str) -> str:
    """Create or update an operator by email (for `make token`); returns the user's id."""
    from sqlalchemy import text

    from crowdify.persistence.database import build_engine

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            user_id = connection.execute(
                text(
                    """
                    INSERT INTO users (id, email, role) VALUES (:id, :email, :role)
                    ON CONFLICT (lower(email)) DO UPDATE SET role = excluded.role, updated_at = now()
                    RETURNING id
                    """
                ),
                {"id": uuid.uuid4(), "email": email, "role": role},
            ).scalar_one()
            if role == "admin":
                connection.execute(text(_CLAIM_DEFAULT_ORGANIZER), {"user_id": user_id})
    finally:
        engine.dispose()
    return str(user_id)
