"""Users and their roles: who may list them, change them, and the rule that an installation keeps an admin.

The role is read from the `users` table on every request (crowdify.auth.callers), so a change here holds from the next
request on, whatever the user's token says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crowdify.config.settings import get_settings
from crowdify.core.errors import Conflict, InvalidRequest, NotFound
from crowdify.domain.audit import record_change
from crowdify.persistence.models import User
from crowdify.persistence.search_patterns import LIKE_ESCAPE, contains_pattern

ALL_ROLES = "all"
SCANNER_ROLE = "scanner"


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    total: int


def list_users(session: Session, role: str, search: str | None, limit: int, offset: int) -> UserPage:
    """Users with `role` (or every role), matching `search` in email or name, newest first."""
    conditions = []
    if role != ALL_ROLES:
        conditions.append(User.role == role)
    if search and search.strip():
        pattern = contains_pattern(search)
        full_name = func.concat_ws(" ", User.first_name, User.last_name)
        conditions.append(
            or_(User.email.ilike(pattern, escape=LIKE_ESCAPE), full_name.ilike(pattern, escape=LIKE_ESCAPE))
        )
    total = session.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    users = session.scalars(
        select(User).where(*conditions).order_by(User.created_at.desc(), User.id).limit(limit).offset(offset)
    )
    return UserPage(list(users), total)


def _snapshot(user: User) -> dict[str, str | None]:
    return {"role": user.role, "email": user.email, "first_name": user.first_name, "last_name": user.last_name}


def change_role(session: Session, user_id: uuid.UUID, new_role: str, actor_id: uuid.UUID) -> User:
    """Sets a user's role; taking the admin role from the last admin is refused.

    Every admin row is locked first, so two admins demoting each other at the same moment cannot both
    succeed: the second sees the first's commit and finds one admin left.
    """
    admins = list(session.scalars(select(User.id).where(User.role == "admin").with_for_update()))
    user = session.scalars(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None:
        raise NotFound("User not found")
    if user.role == new_role:
        return user
    if user.role == "admin" and admins == [user.id]:
        raise Conflict("This is the last admin: make another user admin first")
    before = _snapshot(user)
    user.role = new_role
    record_change(session, actor_id, "user.role_change", "user", user.id, before, _snapshot(user))
    session.flush()
    return user


def list_scanners(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.role == SCANNER_ROLE).order_by(User.created_at, User.id)))


def promote_to_scanner(
    session: Session, email: str, first_name: str, last_name: str, actor_id: uuid.UUID
) -> User | None:
    """The user with this email becomes a scanner; None when no user has it (`add_scanner` then creates one)."""
    existing = session.scalars(select(User).where(func.lower(User.email) == email.lower()).with_for_update()).first()
    if existing is None:
        return None
    if existing.role in ("coordinator", "admin"):
        raise Conflict(f"{email} is already {existing.role}, which includes scanning")
    before = _snapshot(existing)
    existing.role = SCANNER_ROLE
    existing.first_name = existing.first_name or first_name
    existing.last_name = existing.last_name or last_name
    record_change(session, actor_id, "scanner.promote", "user", existing.id, before, _snapshot(existing))
    session.flush()
    return existing


def new_scanner_id(email: str, password: str, first_name: str, last_name: str) -> uuid.UUID:
    """The id of a new scanner: its Supabase Auth account's when the service-role key is configured (so its token's
    `sub` is this user's id), else a new one. Call it with no transaction open: it may wait on Supabase."""
    settings = get_settings()
    if not settings.supabase_service_role_key:
        return uuid.uuid4()
    if not settings.supabase_url:
        raise InvalidRequest("SUPABASE_URL must be set to create Supabase Auth accounts")
    from crowdify.adapters.supabase_admin import create_account

    return create_account(settings, email, password, first_name, last_name, SCANNER_ROLE).id


def add_scanner(
    session: Session, user_id: uuid.UUID, email: str, first_name: str, last_name: str, actor_id: uuid.UUID
) -> User:
    user = User(id=user_id, email=email, first_name=first_name, last_name=last_name, role=SCANNER_ROLE)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"A user with the email {email} was created at the same moment; try again") from error
    session.refresh(user)
    record_change(session, actor_id, "scanner.create", "user", user.id, None, _snapshot(user))
    return user


def remove_scanner(session: Session, user_id: uuid.UUID, actor_id: uuid.UUID) -> User:
    """The old API's delete: the scanner becomes a plain user; the account itself stays."""
    user = session.scalars(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None or user.role != SCANNER_ROLE:
        raise NotFound("Scanner not found")
    before = _snapshot(user)
    user.role = "user"
    record_change(session, actor_id, "scanner.remove", "user", user.id, before, _snapshot(user))
    session.flush()
    return user
