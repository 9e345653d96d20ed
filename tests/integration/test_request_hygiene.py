"""Inputs the fuzzer found turning into 500s, each now a clear 4xx (the shared API layer, not per route)."""

from __future__ import annotations

from sqlalchemy import text

from crowdify.persistence.database import engine
from tests.support.api_gateway import call
from tests.support.identities import Identity

EVENTS = "/api/v1/events"
EVENT_BODY = '{"name": "E", "starts_at": "2027-01-01T20:00:00", "capacity_total": 1}'


def events_count() -> int:
    with engine().connect() as connection:
        return connection.execute(text("SELECT count(*) FROM events")).scalar_one()


def test_a_body_that_is_not_json_is_415(admin: Identity) -> None:
    for content_type in ("text/plain", "multipart/form-data", "application/x-www-form-urlencoded"):
        response = call(
            "post_events",
            "POST",
            EVENTS,
            raw_body=EVENT_BODY,
            headers={"content-type": content_type},
            token=admin.token,
        )
        assert response.status == 415, (content_type, response.body)
        assert response.json() == {"detail": "Send the body as application/json"}
    assert events_count() == 0


def test_json_with_a_charset_or_no_content_type_is_accepted(admin: Identity) -> None:
    charset = call(
        "post_events",
        "POST",
        EVENTS,
        raw_body=EVENT_BODY,
        headers={"content-type": "application/json; charset=utf-8"},
        token=admin.token,
    )
    assert charset.status == 201, charset.body


def test_a_body_that_is_not_utf8_is_422(admin: Identity) -> None:
    response = call("post_events", "POST", EVENTS, raw_body=b"\xff\xfe{\x00", token=admin.token)
    assert response.status == 422 and response.json() == {"detail": "The body is not UTF-8 JSON"}


def test_a_nul_character_postgres_cannot_store_is_422(admin: Identity) -> None:
    response = call("get_events", "GET", EVENTS, query={"search": "rock\x00roll"})
    assert response.status == 422 and response.json() == {"detail": "A value in the request cannot be stored"}
    created = call("post_events", "POST", EVENTS, raw_body=EVENT_BODY.replace('"E"', '"E\\u0000"'), token=admin.token)
    assert created.status == 422
    assert events_count() == 0


def test_an_address_mail_providers_refuse_is_422(admin: Identity) -> None:
    response = call(
        "post_notifications_test_email",
        "POST",
        "/api/v1/notifications/test-email",
        query={"to_email": "(@0"},
        token=admin.token,
    )
    assert response.status == 422 and isinstance(response.json()["detail"], list)
