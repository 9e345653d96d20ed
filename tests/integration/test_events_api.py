"""The events service through its handlers, with API Gateway v2 events, against real Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from crowdify.persistence.database import engine
from tests.support.api_gateway import HttpResponse, call
from tests.support.identities import Identity

EVENTS = "/api/v1/events"
EVENT = "/api/v1/events/{event_id}"


def event_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "organizer_id": None,
        "name": "Concierto de Verano",
        "location_text": "Teatro Municipal, Santiago",
        "starts_at": "2027-01-15T20:00:00",
        "ends_at": "2027-01-15T23:00:00",
        "capacity_total": 100,
        "allow_children": True,
        "category": "musica",
        "description": "Una noche de música",
        "price": 15000,
        "services": [{"name": "Estacionamiento", "price": 3000, "stock_total": 20}],
    }
    body.pop("organizer_id")
    body.update(overrides)
    return body


def create(identity: Identity, **overrides: Any) -> HttpResponse:
    return call("post_events", "POST", EVENTS, body=event_body(**overrides), token=identity.token)


def count_rows(table: str) -> int:
    with engine().connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_admin_creates_an_event_that_the_public_lists(admin: Identity) -> None:
    created = create(admin)
    assert created.status == 201, created.body
    event = created.json()
    assert event["name"] == "Concierto de Verano"
    assert event["starts_at"] == "2027-01-15T20:00:00-03:00", "naive times are read in America/Santiago"
    assert event["currency"] == "CLP" and event["timezone"] == "America/Santiago"
    assert event["capacity_available"] == 100 and event["status"] == "published"
    assert event["price"] == 15000 and isinstance(event["price"], int | float)
    adult, child = sorted(event["ticket_types"], key=lambda tt: tt["is_child"])
    assert (adult["is_child"], adult["is_default"], adult["price"]) == (False, True, 15000)
    assert (child["is_child"], child["is_default"], child["price"]) == (True, True, 15000)
    assert event["event_services"][0]["stock_available"] == 20
    assert event["event_services"][0]["price"] == 3000

    listed = call("get_events", "GET", EVENTS)
    assert listed.status == 200
    assert [e["id"] for e in listed.json()] == [event["id"]], "a bare array, as the old client reads it"

    fetched = call("get_event", "GET", EVENT, {"event_id": event["id"]})
    assert fetched.status == 200 and fetched.json()["id"] == event["id"]


def test_organizer_defaults_to_the_installation_organiser(admin: Identity) -> None:
    event = create(admin).json()
    with engine().connect() as connection:
        default_id = connection.execute(text("SELECT id FROM organizers WHERE is_default")).scalar_one()
    assert event["organizer_id"] == str(default_id)


def test_coordinator_may_create_and_update_but_not_delete(coordinator: Identity) -> None:
    event = create(coordinator).json()
    updated = call(
        "put_event", "PUT", EVENT, {"event_id": event["id"]}, body={"name": "Nuevo"}, token=coordinator.token
    )
    assert updated.status == 200 and updated.json()["name"] == "Nuevo"
    deleted = call("delete_event", "DELETE", EVENT, {"event_id": event["id"]}, token=coordinator.token)
    assert deleted.status == 403 and deleted.json() == {"detail": "Not allowed for your role"}


def test_anonymous_and_users_cannot_create(buyer: Identity) -> None:
    anonymous = call("post_events", "POST", EVENTS, body=event_body())
    assert anonymous.status == 401 and "detail" in anonymous.json()
    as_user = create(buyer)
    assert as_user.status == 403
    assert count_rows("events") == 0


def test_drafts_are_hidden_from_the_public_but_not_from_managers(admin: Identity) -> None:
    draft = create(admin, status="draft").json()
    assert call("get_events", "GET", EVENTS).json() == []
    assert call("get_event", "GET", EVENT, {"event_id": draft["id"]}).status == 404
    assert [e["id"] for e in call("get_events", "GET", EVENTS, token=admin.token).json()] == [draft["id"]]
    assert call("get_event", "GET", EVENT, {"event_id": draft["id"]}, token=admin.token).status == 200


def test_filters_category_search_dates_and_paging(admin: Identity) -> None:
    first = create(
        admin, name="Rock 100% en vivo", category="musica", starts_at="2027-02-01T20:00:00", ends_at=None
    ).json()
    second = create(
        admin, name="Feria_del libro", category="cultura", starts_at="2027-03-01T10:00:00", ends_at=None
    ).json()

    def ids(**query: str) -> list[str]:
        response = call("get_events", "GET", EVENTS, query=query)
        assert response.status == 200, response.body
        return [e["id"] for e in response.json()]

    assert ids(category="MUSICA") == [first["id"]]
    assert ids(search="100%") == [first["id"]], "% is a literal, not a wildcard"
    assert ids(search="_") == [second["id"]], "_ is a literal, not a wildcard"
    assert ids(search="'; DROP TABLE events; --") == []
    assert ids(date_from="2027-02-15T00:00:00Z") == [second["id"]]
    assert ids(date_to="2027-02-15T00:00:00Z") == [first["id"]]
    assert ids(limit="1") == [first["id"]]
    assert ids(limit="1", offset="1") == [second["id"]]
    assert call("get_events", "GET", EVENTS, query={"limit": "0"}).status == 422
    assert call("get_events", "GET", EVENTS, query={"limit": "abc"}).status == 422
    assert count_rows("events") == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"capacity_total": -1}, "capacity_total"),
        ({"price": -5}, "price"),
        ({"price": "free"}, "price"),
        ({"name": ""}, "name"),
        ({"starts_at": "not a date"}, "starts_at"),
        ({"currency": "EUR"}, "currency"),
        ({"services": [{"name": "Parking", "price": -1}]}, "services"),
    ],
)
def test_invalid_event_bodies_are_422_in_the_old_services_shape(
    admin: Identity, overrides: dict[str, Any], field: str
) -> None:
    response = create(admin, **overrides)
    assert response.status == 422, response.body
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert all({"loc", "msg", "type"} <= set(item) for item in detail)
    assert any(field in item["loc"] for item in detail)
    assert count_rows("events") == 0


def test_business_rule_violations_are_clear_422s(admin: Identity) -> None:
    ends_first = create(admin, starts_at="2027-01-15T20:00:00", ends_at="2027-01-15T19:00:00")
    assert ends_first.status == 422
    assert ends_first.json() == {"detail": "ends_at must not be before starts_at"}
    bad_zone = create(admin, timezone="Mars/Olympus")
    assert bad_zone.status == 422 and "time zone" in bad_zone.json()["detail"]
    assert count_rows("events") == 0 and count_rows("ticket_types") == 0


def test_malformed_json_and_huge_bodies_are_refused(admin: Identity) -> None:
    malformed = call("post_events", "POST", EVENTS, raw_body="{not json", token=admin.token)
    assert malformed.status == 422 and isinstance(malformed.json()["detail"], list)
    huge = call("post_events", "POST", EVENTS, raw_body="x" * (10 * 1024 * 1024), token=admin.token)
    assert huge.status == 413 and "too large" in huge.json()["detail"]
    assert count_rows("events") == 0


def test_unknown_and_malformed_event_ids_are_404(admin: Identity) -> None:
    for event_id in (str(uuid.uuid4()), "not-a-uuid", "1 OR 1=1"):
        assert call("get_event", "GET", EVENT, {"event_id": event_id}).status == 404
        response = call("put_event", "PUT", EVENT, {"event_id": event_id}, body={"name": "x"}, token=admin.token)
        assert response.status == 404 and response.json() == {"detail": "Event not found"}


def test_capacity_available_is_derived_and_cannot_be_written(admin: Identity) -> None:
    event = create(admin).json()
    response = call(
        "put_event", "PUT", EVENT, {"event_id": event["id"]}, body={"capacity_available": 5}, token=admin.token
    )
    assert response.status == 422 and "derived" in response.json()["detail"]


def test_price_update_changes_the_default_adult_type(admin: Identity) -> None:
    event = create(admin, allow_children=False).json()
    updated = call(
        "put_event", "PUT", EVENT, {"event_id": event["id"]}, body={"price": 20000.5}, token=admin.token
    ).json()
    (adult,) = updated["ticket_types"]
    assert adult["price"] == 20000.5 and updated["price"] == 20000.5


def test_capacity_cannot_drop_below_sold_or_held(admin: Identity) -> None:
    event = create(admin, capacity_total=10).json()
    adult = next(tt for tt in event["ticket_types"] if not tt["is_child"])
    hold_seats(event["id"], adult["id"], quantity=4)
    refused = call("put_event", "PUT", EVENT, {"event_id": event["id"]}, body={"capacity_total": 3}, token=admin.token)
    assert refused.status == 409 and "4 seats" in refused.json()["detail"]
    allowed = call("put_event", "PUT", EVENT, {"event_id": event["id"]}, body={"capacity_total": 4}, token=admin.token)
    assert allowed.status == 200 and allowed.json()["capacity_available"] == 0


def test_cancelling_an_event_and_deleting_one_with_orders(admin: Identity) -> None:
    event = create(admin).json()
    adult = next(tt for tt in event["ticket_types"] if not tt["is_child"])
    hold_seats(event["id"], adult["id"], quantity=1)
    deleted = call("delete_event", "DELETE", EVENT, {"event_id": event["id"]}, token=admin.token)
    assert deleted.status == 409 and "cancel it instead" in deleted.json()["detail"]
    cancelled = call(
        "put_event", "PUT", EVENT, {"event_id": event["id"]}, body={"status": "cancelled"}, token=admin.token
    )
    assert cancelled.status == 200 and cancelled.json()["status"] == "cancelled"
    assert call("get_events", "GET", EVENTS).json() == []
    for change in ({"name": "Otra"}, {"price": 1}, {"services": []}):
        refused = call("put_event", "PUT", EVENT, {"event_id": event["id"]}, body=change, token=admin.token)
        assert refused.status == 409, change
        assert refused.json() == {"detail": "A cancelled event cannot be changed"}


def test_deleting_an_event_without_orders(admin: Identity) -> None:
    event = create(admin).json()
    deleted = call("delete_event", "DELETE", EVENT, {"event_id": event["id"]}, token=admin.token)
    assert deleted.status == 204
    assert count_rows("events") == 0 and count_rows("ticket_types") == 0


def test_ticket_types_can_be_added_and_changed(admin: Identity) -> None:
    event = create(admin, allow_children=False, capacity_total=50).json()
    types_route = "/api/v1/events/{event_id}/ticket-types"
    created = call(
        "post_event_ticket_types",
        "POST",
        types_route,
        {"event_id": event["id"]},
        body={
            "name": "VIP",
            "price": 50000,
            "capacity": 10,
            "max_per_order": 4,
            "sales_start_at": "2027-01-01T00:00:00",
            "sales_end_at": "2027-01-15T18:00:00",
        },
        token=admin.token,
    )
    assert created.status == 201, created.body
    vip = created.json()
    assert vip["capacity_available"] == 10 and vip["sales_end_at"] == "2027-01-15T18:00:00-03:00"

    type_route = "/api/v1/events/{event_id}/ticket-types/{ticket_type_id}"
    ids = {"event_id": event["id"], "ticket_type_id": vip["id"]}
    changed = call("put_event_ticket_type", "PUT", type_route, ids, body={"price": 45000}, token=admin.token)
    assert changed.status == 200 and changed.json()["price"] == 45000

    bad_window = call(
        "put_event_ticket_type", "PUT", type_route, ids, body={"sales_end_at": "2026-12-01T00:00:00"}, token=admin.token
    )
    assert bad_window.status == 422

    child_refused = call(
        "post_event_ticket_types",
        "POST",
        types_route,
        {"event_id": event["id"]},
        body={"name": "Niño", "price": 1, "is_child": True},
        token=admin.token,
    )
    assert child_refused.status == 422 and "children" in child_refused.json()["detail"]

    other_event = create(admin).json()
    wrong_event = call(
        "put_event_ticket_type",
        "PUT",
        type_route,
        {"event_id": other_event["id"], "ticket_type_id": vip["id"]},
        body={"price": 1},
        token=admin.token,
    )
    assert wrong_event.status == 404


def test_money_is_a_json_number_everywhere(admin: Identity) -> None:
    event = create(admin, price=12345.67).json()
    fetched = call("get_event", "GET", EVENT, {"event_id": event["id"]})
    assert '"price":12345.67' in fetched.body


def test_cors_headers_follow_cors_origins(admin: Identity) -> None:
    allowed = call("get_events", "GET", EVENTS, headers={"origin": "http://localhost:5173"})
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:5173"
    foreign = call("get_events", "GET", EVENTS, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


def hold_seats(event_id: str, ticket_type_id: str, quantity: int) -> None:
    """A live hold written directly: the purchase service that normally writes it is tested on its own."""
    with engine().begin() as connection:
        user_id = uuid.uuid4()
        connection.execute(text("INSERT INTO users (id, role) VALUES (:id, 'user')"), {"id": user_id})
        order_id = connection.execute(
            text(
                "INSERT INTO orders (id, user_id, event_id, currency, total, hold_expires_at) "
                "VALUES (gen_random_uuid(), :user_id, :event_id, 'CLP', 0, now() + interval '15 minutes') RETURNING id"
            ),
            {"user_id": user_id, "event_id": event_id},
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO order_items (id, order_id, ticket_type_id, quantity, unit_price) "
                "VALUES (gen_random_uuid(), :order_id, :ticket_type_id, :quantity, 0)"
            ),
            {"order_id": order_id, "ticket_type_id": ticket_type_id, "quantity": quantity},
        )
