"""The dashboards on a known data set: every figure checked exactly (tests/support/admin_data.py says why each is)."""

from __future__ import annotations

import pytest

from tests.support.admin_data import KnownData, build_known_data
from tests.support.api_gateway import call
from tests.support.identities import Identity


@pytest.fixture
def known(db: str) -> KnownData:
    return build_known_data()


def test_dashboard_counts_orders_once_and_never_adds_currencies(admin: Identity, known: KnownData) -> None:
    stats = call("get_admin_stats", "GET", "/api/v1/admin/stats", token=admin.token)
    assert stats.status == 200, stats.body
    body = stats.json()
    assert body["total_events"] == 4
    assert body["active_events"] == 2, "A (upcoming) and B (now); C is over and D is a draft"
    assert body["total_tickets_sold"] == 12
    assert (body["total_revenue"], body["currency"]) == (72000, "CLP")
    assert body["revenue_by_currency"] == {"ARS": 19001.0, "CLP": 72000}
    assert body["by_currency"] == {
        "ARS": {"revenue": 19001.0, "refunded": 0, "orders_paid": 2, "tickets_sold": 4},
        "CLP": {"revenue": 72000, "refunded": 20000, "orders_paid": 3, "tickets_sold": 8},
    }
    assert body["orders_paid"] == 5
    assert body["tickets_checked_in"] == 4
    assert body["tickets_held"] == 3, "A4's 2 General and B3's VIP; A5's hold ran out and A6 expired"
    assert body["period"] is None


def test_dashboard_period_is_read_in_the_installations_zone(admin: Identity, known: KnownData) -> None:
    # 2026-03-10 00:00 in Santiago is 03:00 UTC: A1 (paid 02:30 UTC) falls on the 9th, outside.
    stats = call(
        "get_admin_stats",
        "GET",
        "/api/v1/admin/stats",
        query={"date_from": "2026-03-10T00:00:00"},
        token=admin.token,
    ).json()
    assert stats["by_currency"]["CLP"] == {"revenue": 20000, "refunded": 10000, "orders_paid": 1, "tickets_sold": 2}
    assert stats["by_currency"]["ARS"]["revenue"] == 19001.0
    assert stats["total_tickets_sold"] == 6 and stats["total_revenue"] == 20000
    assert stats["period"]["from_date"] == "2026-03-10T00:00:00-03:00" and stats["period"]["to_date"] is None

    only_january = call(
        "get_admin_stats",
        "GET",
        "/api/v1/admin/stats",
        query={"date_from": "2026-01-01T00:00:00Z", "date_to": "2026-01-31T23:59:59Z"},
        token=admin.token,
    ).json()
    assert only_january["revenue_by_currency"] == {"CLP": 24000}
    assert only_january["total_tickets_sold"] == 3
    backwards = call(
        "get_admin_stats",
        "GET",
        "/api/v1/admin/stats",
        query={"date_from": "2026-02-01T00:00:00Z", "date_to": "2026-01-01T00:00:00Z"},
        token=admin.token,
    )
    assert backwards.status == 422


def test_events_overview_figures(coordinator: Identity, known: KnownData) -> None:
    response = call("get_admin_events", "GET", "/api/v1/admin/events", token=coordinator.token)
    assert response.status == 200, response.body
    events = {event["name"]: event for event in response.json()["events"]}
    assert [event["name"] for event in response.json()["events"]] == ["Borrador", "Concierto", "Feria", "Pasado"]

    concierto = events["Concierto"]
    assert concierto["stats"] == {
        "tickets_sold": 5,
        "tickets_remaining": 93,
        "revenue": 48000,
        "sales_percentage": 5.0,
        "services_stats": [
            {
                "id": str(known.services["A-parking"]),
                "name": "Estacionamiento",
                "service_type": "parking",
                "stock": 10,
                "sold": 1,
                "remaining": 8,
                "held": 1,
            }
        ],
        "tickets_held": 2,
        "tickets_checked_in": 0,
        "tickets_cancelled": 3,
        "orders_paid": 2,
        "refunded": 20000,
        "currency": "CLP",
    }
    assert concierto["capacity_available"] == 93 and concierto["capacity_total"] == 100
    assert concierto["event_services"][0]["stock_available"] == 8
    assert {tt["name"]: tt["price"] for tt in concierto["ticket_types"]} == {"General": 10000, "Niño": 5000}
    assert concierto["organizer"]["org_name"] and concierto["category"] == "musica"

    feria = events["Feria"]["stats"]
    assert (feria["tickets_sold"], feria["tickets_held"], feria["tickets_remaining"]) == (4, 1, 45)
    assert (feria["revenue"], feria["currency"], feria["sales_percentage"]) == (19001.0, "ARS", 8.0)
    assert (feria["tickets_checked_in"], feria["orders_paid"]) == (3, 2)
    assert events["Borrador"]["stats"]["services_stats"] == [] and events["Borrador"]["category"] == "otro"
    pasado = events["Pasado"]["stats"]
    assert (pasado["tickets_sold"], pasado["revenue"], pasado["sales_percentage"], pasado["tickets_checked_in"]) == (
        3,
        24000,
        10.0,
        1,
    )


def test_events_overview_filters_and_sorts(admin: Identity, known: KnownData) -> None:
    def names(**query: str) -> list[str]:
        response = call("get_admin_events", "GET", "/api/v1/admin/events", query=query, token=admin.token)
        assert response.status == 200, response.body
        return [event["name"] for event in response.json()["events"]]

    assert names(event_status="upcoming", sort="starts_at_asc") == ["Concierto", "Borrador"]
    assert names(event_status="ongoing") == ["Feria"]
    assert names(event_status="past") == ["Pasado"]
    assert names(sort="revenue_desc") == ["Concierto", "Pasado", "Feria", "Borrador"]
    bad = call("get_admin_events", "GET", "/api/v1/admin/events", query={"sort": "price"}, token=admin.token)
    assert bad.status == 422


def test_event_detail_stats(coordinator: Identity, known: KnownData) -> None:
    concierto = call(
        "get_admin_event_stats",
        "GET",
        "/api/v1/admin/events/{event_id}/stats",
        {"event_id": str(known.events["A"])},
        token=coordinator.token,
    )
    assert concierto.status == 200, concierto.body
    body = concierto.json()
    assert body["event"]["stats"]["tickets_sold"] == 5
    by_type = {tt["name"]: tt for tt in body["ticket_types"]}
    assert {key: by_type["General"][key] for key in by_type["General"] if key not in ("id", "name")} == {
        "price": 10000,
        "is_child": False,
        "is_default": True,
        "capacity": None,
        "tickets_sold": 4,
        "tickets_held": 2,
        "tickets_checked_in": 0,
        "tickets_cancelled": 2,
        "remaining": None,
        "gross_sales": 40000,
    }
    assert (by_type["Niño"]["tickets_sold"], by_type["Niño"]["tickets_cancelled"]) == (1, 1)
    assert (by_type["Niño"]["remaining"], by_type["Niño"]["gross_sales"], by_type["Niño"]["capacity"]) == (19, 5000, 20)
    assert body["sales_by_day"] == [
        {"date": "2026-03-09", "orders": 1, "tickets": 3, "revenue": 28000},
        {"date": "2026-03-10", "orders": 1, "tickets": 2, "revenue": 20000},
    ], "days in the event's zone; the refunded and charged-back orders bring nothing"
    assert body["checkins_by_quarter_hour"] == [] and body["offline_double_entries"] == 0

    feria = call(
        "get_admin_event_stats",
        "GET",
        "/api/v1/admin/events/{event_id}/stats",
        {"event_id": str(known.events["B"])},
        token=coordinator.token,
    ).json()
    assert feria["checkins_by_quarter_hour"] == [
        {"starts_at": "2026-03-20T17:00:00-03:00", "checked_in": 2, "offline_double_entries": 1},
        {"starts_at": "2026-03-20T17:15:00-03:00", "checked_in": 1, "offline_double_entries": 1},
    ]
    assert feria["offline_double_entries"] == 2
    vip = next(tt for tt in feria["ticket_types"] if tt["name"] == "VIP")
    assert (vip["tickets_sold"], vip["tickets_held"], vip["remaining"], vip["gross_sales"]) == (2, 1, 2, 14000)
    assert feria["sales_by_day"] == [{"date": "2026-03-20", "orders": 2, "tickets": 4, "revenue": 19001.0}]

    missing = call(
        "get_admin_event_stats",
        "GET",
        "/api/v1/admin/events/{event_id}/stats",
        {"event_id": "00000000-0000-4000-8000-000000000000"},
        token=coordinator.token,
    )
    assert missing.status == 404
