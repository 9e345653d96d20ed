"""Signed-in callers for tests: a user row with a role and a backend token naming it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from crowdify.auth.backend_tokens import issue_user_token
from crowdify.config.settings import get_settings
from crowdify.persistence.database import engine


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    email: str
    role: str
    token: str


def create_identity(role: str, email: str | None = None) -> Identity:
    user_id = uuid.uuid4()
    email = email or f"{role}-{user_id.hex[:8]}@example.test"
    with engine().begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, email, role) VALUES (:id, :email, :role)"),
            {"id": user_id, "email": email, "role": role},
        )
    return Identity(user_id, email, role, issue_user_token(str(user_id), get_settings().jwt_secret))


@pytest.fixture
def admin(db: str) -> Identity:
    return create_identity("admin")


@pytest.fixture
def coordinator(db: str) -> Identity:
    return create_identity("coordinator")


@pytest.fixture
def scanner(db: str) -> Identity:
    return create_identity("scanner")


@pytest.fixture
def buyer(db: str) -> Identity:
    return create_identity("user")


@pytest.fixture
def other_buyer(db: str) -> Identity:
    return create_identity("user")
