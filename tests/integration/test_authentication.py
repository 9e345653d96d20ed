"""Authentication end to end through a handler: roles come from the users table, never from what users edit."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from sqlalchemy import text

from crowdify.persistence.database import engine
from tests.conftest import TEST_SUPABASE_JWT_SECRET, TEST_SUPABASE_URL
from tests.support.api_gateway import call

EVENTS = "/api/v1/events"
EVENT_BODY = {"name": "Evento", "starts_at": "2027-05-01T20:00:00", "capacity_total": 10, "price": 1000}


def supabase_token(user_id: uuid.UUID, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": f"{TEST_SUPABASE_URL}/auth/v1",
        "aud": "authenticated",
        "sub": str(user_id),
        "email": f"{user_id.hex[:8]}@example.test",
        "iat": now,
        "exp": now + 600,
        "role": "authenticated",
        **claims,
    }
    return jwt.encode(payload, TEST_SUPABASE_JWT_SECRET, algorithm="HS256")


def stored_role(user_id: uuid.UUID) -> str | None:
    with engine().connect() as connection:
        return connection.execute(text("SELECT role FROM users WHERE id = :id"), {"id": user_id}).scalar()


def test_first_seen_user_is_created_as_user_even_if_user_metadata_says_admin(db: str) -> None:
    user_id = uuid.uuid4()
    token = supabase_token(user_id, user_metadata={"role": "admin"}, app_metadata={"provider": "email"})
    response = call("post_events", "POST", EVENTS, body=EVENT_BODY, token=token)
    assert response.status == 403
    assert stored_role(user_id) == "user"


def test_first_seen_user_takes_the_role_in_app_metadata(db: str) -> None:
    user_id = uuid.uuid4()
    token = supabase_token(user_id, app_metadata={"role": "coordinator"})
    assert call("post_events", "POST", EVENTS, body=EVENT_BODY, token=token).status == 201
    assert stored_role(user_id) == "coordinator"


def test_the_database_role_wins_over_the_token_from_the_next_request_on(db: str) -> None:
    user_id = uuid.uuid4()
    token = supabase_token(user_id, app_metadata={"role": "admin"})
    assert call("post_events", "POST", EVENTS, body=EVENT_BODY, token=token).status == 201
    with engine().begin() as connection:
        connection.execute(text("UPDATE users SET role = 'user' WHERE id = :id"), {"id": user_id})
    assert call("post_events", "POST", EVENTS, body=EVENT_BODY, token=token).status == 403


def test_first_admin_becomes_the_default_organisers_user(db: str) -> None:
    user_id = uuid.uuid4()
    call("get_events", "GET", EVENTS, token=supabase_token(user_id, app_metadata={"role": "admin"}))
    with engine().connect() as connection:
        owner = connection.execute(text("SELECT user_id FROM organizers WHERE is_default")).scalar()
    assert owner == user_id


def test_bad_tokens_are_401_with_a_json_detail(db: str) -> None:
    expired = supabase_token(uuid.uuid4(), exp=int(time.time()) - 10)
    for token in (expired, "not-a-jwt", supabase_token(uuid.uuid4(), aud="anon")):
        response = call("post_events", "POST", EVENTS, body=EVENT_BODY, token=token)
        assert response.status == 401
        assert isinstance(response.json()["detail"], str)
        assert response.headers.get("www-authenticate") == "Bearer"
    with engine().connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_a_bad_token_on_a_public_route_is_still_refused(db: str) -> None:
    response = call("get_events", "GET", EVENTS, token="garbage")
    assert response.status == 401


def test_a_token_whose_email_belongs_to_another_account_is_a_clear_409(db: str) -> None:
    with engine().begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, email, role) VALUES (:id, 'door@example.test', 'scanner')"),
            {"id": uuid.uuid4()},
        )
    token = supabase_token(uuid.uuid4(), email="door@example.test")
    response = call("get_events", "GET", EVENTS, token=token)
    assert response.status == 409 and "another id" in response.json()["detail"]
    with engine().connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
