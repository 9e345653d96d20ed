"""The waiting room: joining (once, under races), the draw at the opening and the order of later arrivals, the inlet's
rate and limits, the state a visitor polls, and purchases only by admitted buyers, once per admission."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crowdify.auth.backend_tokens import issue_device_token, issue_user_token
from crowdify.config.settings import get_settings
from crowdify.domain.waiting_room_inlet import admit_from_queue
from crowdify.persistence.database import transaction
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import HttpResponse, call
from tests.support.identities import Identity, create_identity
from tests.support.purchases import (
    attendee,
    buy,
    complete_with_tickets,
    create_event,
    execute,
    join_waiting_list,
    purchase_body,
    rows,
    scalar,
    update_event,
)
from tests.support.races import all_at_once, connection_pools_of

QUEUE = "/api/v1/events/{event_id}/queue"


def join(person: Identity, event_id: str) -> HttpResponse:
    return call("post_event_queue", "POST", QUEUE, {"event_id": event_id}, token=person.token)


def queue_status(person: Identity, event_id: str) -> HttpResponse:
    return call("get_event_queue", "GET", QUEUE, {"event_id": event_id}, token=person.token)


def event_with_room(admin: Identity, opens_in: timedelta = timedelta(hours=1), **room: Any) -> dict[str, Any]:
    opens_at = (datetime.now(UTC) + opens_in).isoformat()
    return create_event(
        admin, services=[], allow_children=False, waiting_room={"opens_at": opens_at, **room}, capacity_total=50
    )


def open_room_now(event_id: str) -> None:
    """The opening time moves to now: everyone who has joined joined before it, and a minute's rate is due."""
    execute(
        "UPDATE events SET waiting_room_opens_at = now() - interval '60 seconds' WHERE id = :id",
        id=event_id,
    )
    execute("UPDATE queue_entries SET joined_at = joined_at - interval '61 seconds' WHERE event_id = :id", id=event_id)


def a_minute_later(event_id: str) -> None:
    """The inlet's last admissions move a minute back: its next round may admit a minute's rate."""
    execute("UPDATE waiting_rooms SET admitted_at = now() - interval '60 seconds' WHERE event_id = :id", id=event_id)


def inlet_round(event_id: str, max_in_flight: int = 2000) -> Any:
    with transaction() as connection:
        return admit_from_queue(connection, uuid.UUID(event_id), max_in_flight)


def places(event_id: str) -> dict[uuid.UUID, int | None]:
    return {
        row.user_id: row.place
        for row in rows("SELECT user_id, place FROM queue_entries WHERE event_id = :e", e=event_id)
    }


def test_joining_puts_a_visitor_in_line_once_and_the_status_is_a_cacheable_read(
    admin: Identity, buyer: Identity
) -> None:
    event = event_with_room(admin)
    assert event["waiting_room"]["admissions_per_minute"] == 600

    first = join(buyer, event["id"])
    assert first.status == 201, first.body
    body = first.json()
    assert body["state"] == "waiting" and body["position"] is None and body["ahead"] is None
    # The room opens in an hour: the page may ask again in half a minute.
    assert body["poll_after_seconds"] == 30
    assert first.headers["cache-control"] == "no-store"

    again = join(buyer, event["id"])
    assert again.status == 200 and again.json()["joined_at"] == body["joined_at"]

    polled = queue_status(buyer, event["id"])
    assert polled.status == 200 and polled.json()["state"] == "waiting"
    assert polled.headers["cache-control"] == "public, max-age=2"
    assert polled.headers["vary"] == "Authorization"
    assert scalar("SELECT count(*) FROM queue_entries WHERE event_id = :e", e=event["id"]) == 1


def test_a_visitor_who_never_joined_is_told_so(admin: Identity, buyer: Identity) -> None:
    event = event_with_room(admin)
    assert queue_status(buyer, event["id"]).json()["state"] == "not_joined"


def test_concurrent_joins_of_one_person_keep_one_place(
    admin: Identity, buyer: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = event_with_room(admin)
    with connection_pools_of(8, monkeypatch):
        answers = all_at_once(lambda _: join(buyer, event["id"]), racers=8)
    assert sorted(answer.status for answer in answers) == [200] * 7 + [201]
    assert len({answer.json()["joined_at"] for answer in answers}) == 1
    assert scalar("SELECT count(*) FROM queue_entries WHERE event_id = :e", e=event["id"]) == 1


def test_concurrent_joins_of_many_people_each_get_one_entry(admin: Identity, monkeypatch: pytest.MonkeyPatch) -> None:
    event = event_with_room(admin)
    people = [create_identity("user") for _ in range(12)]
    with connection_pools_of(12, monkeypatch):
        answers = all_at_once(lambda index: join(people[index], event["id"]), racers=12)
    assert [answer.status for answer in answers] == [201] * 12
    assert scalar("SELECT count(*) FROM queue_entries WHERE event_id = :e", e=event["id"]) == 12


def test_the_opening_draws_everyone_before_it_at_random_and_later_arrivals_follow_in_order(admin: Identity) -> None:
    event = event_with_room(admin, admissions_per_minute=1)
    early = [create_identity("user") for _ in range(30)]
    for person in early:
        assert join(person, event["id"]).status == 201
    open_room_now(event["id"])
    late = [create_identity("user") for _ in range(3)]
    for person in late:
        assert join(person, event["id"]).status == 201
        # Joins a transaction apart: arrival order is the order of joined_at.
        execute("SELECT pg_sleep(0.01)")

    served = inlet_round(event["id"])
    assert served.drawn == 30 and served.placed == 33

    placed = places(event["id"])
    early_places = [placed[person.user_id] for person in early]
    assert sorted(early_places) == list(range(1, 31))
    # A shuffle: the joining order survives one draw in 30! (never, in practice).
    assert early_places != sorted(early_places)
    assert [placed[person.user_id] for person in late] == [31, 32, 33]

    seen = queue_status(late[1], event["id"]).json()
    # The rate (1 a minute) let the first place in: 30 people are ahead of place 32.
    assert seen["state"] == "waiting" and seen["position"] == 32 and seen["ahead"] == 30
    assert seen["estimated_wait_seconds"] == 30 * 60
    assert seen["poll_after_seconds"] == 30


def test_the_inlet_admits_in_place_order_at_the_rate_and_places_stay_dense(admin: Identity) -> None:
    event = event_with_room(admin, admissions_per_minute=5)
    people = [create_identity("user") for _ in range(9)]
    for person in people:
        join(person, event["id"])
    open_room_now(event["id"])

    assert inlet_round(event["id"]).admitted == 5
    # No time has passed since: the rate gives nobody more.
    assert inlet_round(event["id"]).admitted == 0
    placed = places(event["id"])
    admitted = {
        row.user_id
        for row in rows(
            "SELECT user_id FROM queue_entries WHERE event_id = :e AND admitted_at IS NOT NULL", e=event["id"]
        )
    }
    assert {placed[user] for user in admitted} == {1, 2, 3, 4, 5}

    by_place = {place: person for person in people if (place := placed[person.user_id]) is not None}
    first = queue_status(by_place[1], event["id"]).json()
    assert first["state"] == "admitted" and first["admitted_until"] is not None
    seventh = queue_status(by_place[7], event["id"]).json()
    assert seventh["state"] == "waiting" and seventh["ahead"] == 1
    # Next but one, 12 seconds away at 5 a minute: asking every 2 seconds.
    assert seventh["estimated_wait_seconds"] == 12 and seventh["poll_after_seconds"] == 2


def test_the_inlet_keeps_admissions_under_the_in_flight_limit_and_the_seats_left(admin: Identity) -> None:
    event = event_with_room(admin, admissions_per_minute=1000)
    execute("UPDATE events SET capacity_total = 4 WHERE id = :id", id=event["id"])
    people = [create_identity("user") for _ in range(10)]
    for person in people:
        join(person, event["id"])
    open_room_now(event["id"])

    assert inlet_round(event["id"], max_in_flight=3).admitted == 3
    a_minute_later(event["id"])
    # Four seats, three admissions still able to buy: one more.
    assert inlet_round(event["id"], max_in_flight=100).admitted == 1
    a_minute_later(event["id"])
    assert inlet_round(event["id"], max_in_flight=100).admitted == 0


def admitted_buyer(admin: Identity, buyer: Identity, **event_fields: Any) -> dict[str, Any]:
    """An open room's event in which `buyer` (alone in line) is admitted."""
    event = event_with_room(admin, **event_fields)
    assert join(buyer, event["id"]).status == 201
    open_room_now(event["id"])
    assert inlet_round(event["id"]).admitted == 1
    return event


def test_only_an_admitted_buyer_may_buy_and_only_once(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event = admitted_buyer(admin, buyer)

    stranger = buy(other_buyer, purchase_body(other_buyer, event["id"]))
    assert stranger.status == 403 and "join the queue" in stranger.json()["detail"]
    assert join(other_buyer, event["id"]).status == 201
    waiting = buy(other_buyer, purchase_body(other_buyer, event["id"]))
    assert waiting.status == 403

    bought = buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": "room-1"})
    assert bought.status == 200, bought.body
    # The same request again is the same order, not a second use of the admission.
    replayed = buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": "room-1"})
    assert replayed.status == 200 and replayed.json()["order_id"] == bought.json()["order_id"]

    second = buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": "room-2"})
    assert second.status == 403 and "already used" in second.json()["detail"]
    seen = queue_status(buyer, event["id"]).json()
    assert seen["state"] == "closed" and seen["reason"] == "admission_used"
    used_by = scalar(
        "SELECT order_id FROM queue_entries WHERE user_id = :u AND event_id = :e", u=buyer.user_id, e=event["id"]
    )
    assert str(used_by) == bought.json()["order_id"]

    # Joining again goes to the back of the line.
    back = join(buyer, event["id"])
    assert back.status == 201 and back.json()["state"] == "waiting" and back.json()["position"] is None


def test_an_admission_buys_once_when_purchases_race(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = admitted_buyer(admin, buyer)
    with connection_pools_of(6, monkeypatch):
        answers = all_at_once(
            lambda index: buy(buyer, purchase_body(buyer, event["id"]), headers={"Idempotency-Key": f"race-{index}"}),
            racers=6,
        )
    assert sorted(answer.status for answer in answers) == [200] + [403] * 5
    assert scalar("SELECT count(*) FROM orders WHERE event_id = :e", e=event["id"]) == 1


def test_an_expired_admission_buys_nothing(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity) -> None:
    event = admitted_buyer(admin, buyer)
    execute("UPDATE queue_entries SET admitted_until = now() - interval '1 second' WHERE event_id = :e", e=event["id"])
    refused = buy(buyer, purchase_body(buyer, event["id"]))
    assert refused.status == 403 and "expired" in refused.json()["detail"]
    seen = queue_status(buyer, event["id"]).json()
    assert seen["state"] == "closed" and seen["reason"] == "admission_expired"
    assert scalar("SELECT count(*) FROM orders WHERE event_id = :e", e=event["id"]) == 0


def test_a_sold_out_room_tells_everyone_waiting_and_offers_the_waiting_list(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event = admitted_buyer(admin, buyer)
    execute("UPDATE events SET capacity_total = 1 WHERE id = :id", id=event["id"])
    bought = buy(buyer, purchase_body(buyer, event["id"]))
    assert bought.status == 200, bought.body
    complete_with_tickets(bought.json()["order_id"])
    assert join(other_buyer, event["id"]).status == 201

    assert inlet_round(event["id"]).sold_out
    seen = queue_status(other_buyer, event["id"]).json()
    assert seen["state"] == "sold_out"
    assert seen["waiting_list_url"] == f"/api/v1/events/{event['id']}/waiting-list"
    listed = join_waiting_list(other_buyer, event["id"], seats=1)
    assert listed.status == 201, listed.body


def test_a_room_that_was_sold_out_reopens_when_seats_come_back(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = event_with_room(admin)
    join(buyer, event["id"])
    open_room_now(event["id"])
    execute("UPDATE events SET capacity_total = 0 WHERE id = :id", id=event["id"])
    assert inlet_round(event["id"]).sold_out
    execute("UPDATE events SET capacity_total = 5 WHERE id = :id", id=event["id"])
    a_minute_later(event["id"])
    served = inlet_round(event["id"])
    assert not served.sold_out and served.admitted == 1


def test_events_without_a_room_refuse_the_queue_and_sell_as_before(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, services=[])
    assert event["waiting_room"] is None
    refused = join(buyer, event["id"])
    assert refused.status == 409 and "no waiting room" in refused.json()["detail"]
    assert queue_status(buyer, event["id"]).status == 409
    assert buy(buyer, purchase_body(buyer, event["id"])).status == 200
    missing = join(buyer, str(uuid.uuid4()))
    assert missing.status == 404


def test_an_organiser_turns_the_room_on_and_off(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, services=[])
    opens_at = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    updated = update_event(
        admin,
        event["id"],
        {"waiting_room": {"opens_at": opens_at, "admissions_per_minute": 120, "admission_minutes": 5}},
    )
    assert updated.status == 200, updated.body
    assert updated.json()["waiting_room"]["admission_minutes"] == 5
    assert buy(buyer, purchase_body(buyer, event["id"], [attendee()])).status == 403

    kept = update_event(admin, event["id"], {"name": "Otro"})
    assert kept.json()["waiting_room"] is not None
    off = update_event(admin, event["id"], {"waiting_room": None})
    assert off.json()["waiting_room"] is None
    assert buy(buyer, purchase_body(buyer, event["id"])).status == 200


def test_bad_room_settings_are_a_422(admin: Identity) -> None:
    created = call(
        "post_events",
        "POST",
        "/api/v1/events",
        body={
            "name": "X",
            "starts_at": "2030-07-01T20:00:00",
            "capacity_total": 10,
            "waiting_room": {"opens_at": "2030-06-01T10:00:00", "admissions_per_minute": 0},
        },
        token=admin.token,
    )
    assert created.status == 422
    assert "admissions_per_minute" in created.body


def test_joining_needs_a_signed_in_caller(admin: Identity) -> None:
    event = event_with_room(admin)
    anonymous = call("post_event_queue", "POST", QUEUE, {"event_id": event["id"]})
    assert anonymous.status == 401
    assert call("get_event_queue", "GET", QUEUE, {"event_id": "not-a-uuid"}).status == 401


def test_a_person_whose_first_request_is_the_join_is_created_and_in_line(admin: Identity) -> None:
    event = event_with_room(admin)
    newcomer = uuid.uuid4()
    token = issue_user_token(str(newcomer), get_settings().jwt_secret)
    joined = call("post_event_queue", "POST", QUEUE, {"event_id": event["id"]}, token=token)
    assert joined.status == 201, joined.body
    assert scalar("SELECT role FROM users WHERE id = :id", id=newcomer) == "user"
    assert scalar("SELECT count(*) FROM queue_entries WHERE user_id = :id", id=newcomer) == 1


def test_a_scanner_device_cannot_join_or_poll(admin: Identity) -> None:
    event = event_with_room(admin)
    device = issue_device_token(str(uuid.uuid4()), [event["id"]], get_settings().jwt_secret, 3600)
    assert call("post_event_queue", "POST", QUEUE, {"event_id": event["id"]}, token=device).status == 403
    assert call("get_event_queue", "GET", QUEUE, {"event_id": event["id"]}, token=device).status == 403
