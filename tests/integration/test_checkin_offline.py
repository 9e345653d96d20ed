"""Offline scanning: the scanner bundle (with its ETag) and the sync of offline scans, first applied wins."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from crowdify.auth.qr_tokens import QrSigner, generate_qr_secret, keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.persistence.database import engine
from tests.support.api_gateway import HttpResponse, call
from tests.support.devices import expire_device_now, issue_device
from tests.support.identities import Identity
from tests.support.tickets import checkin_rows, issue_tickets, ticket_row

BUNDLE = "/api/v1/events/{event_id}/scanner-bundle"
SYNC = "/api/v1/tickets/sync"
VALIDATE = "/api/v1/tickets/validate"


def bundle(token: str | None, event_id: uuid.UUID, **options: Any) -> HttpResponse:
    return call("get_event_scanner_bundle", "GET", BUNDLE, {"event_id": str(event_id)}, token=token, **options)


def offline_scan(qr_signature: str, minutes_ago: int = 5, nonce: str | None = None) -> dict[str, str]:
    scanned_at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"qr_signature": qr_signature, "scanned_at": scanned_at.isoformat(), "nonce": nonce or uuid.uuid4().hex}


def sync(token: str | None, scans: list[dict[str, str]], **fields: Any) -> HttpResponse:
    return call("post_tickets_sync", "POST", SYNC, body={"scans": scans, **fields}, token=token)


def test_bundle_lists_keys_event_types_and_cancelled_tickets(scanner: Identity) -> None:
    issued = issue_tickets(3)
    cancelled = issue_tickets(1, event_id=issued.event_id, ticket_type_id=issued.ticket_type_id, status="cancelled")
    response = bundle(scanner.token, issued.event_id)
    assert response.status == 200
    content = response.json()
    assert content["token_prefix"] == "CT1"
    assert content["public_keys"] == [{"kid": "56475aa7", "public_key": "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"}]
    assert content["public_keys"] == keyring_from_settings(get_settings()).accepted_public_keys()
    assert content["event"]["id"] == str(issued.event_id)
    assert content["event"]["starts_at"].endswith(("-03:00", "-04:00"))  # shown in the event's zone
    assert content["ticket_types"] == [{"id": str(issued.ticket_type_id), "name": "General", "is_child": False}]
    assert content["cancelled_ticket_ids"] == [str(cancelled.tickets[0].id)]
    assert content["used_ticket_ids"] is None
    assert response.headers["etag"].startswith('"')


def test_bundle_etag_gives_304_until_something_changes(scanner: Identity) -> None:
    issued = issue_tickets(2)
    first = bundle(scanner.token, issued.event_id)
    tag = first.headers["etag"]
    unchanged = bundle(scanner.token, issued.event_id, headers={"If-None-Match": tag})
    assert unchanged.status == 304
    assert unchanged.body == ""
    assert unchanged.headers["etag"] == tag

    with engine().begin() as connection:
        connection.execute(
            text("UPDATE tickets SET status = 'cancelled', cancelled_at = now() WHERE id = :id"),
            {"id": issued.tickets[0].id},
        )
    changed = bundle(scanner.token, issued.event_id, headers={"If-None-Match": tag})
    assert changed.status == 200
    assert changed.headers["etag"] != tag
    assert changed.json()["cancelled_ticket_ids"] == [str(issued.tickets[0].id)]


def check_in_online(token: str, qr_signature: str) -> None:
    answer = call("post_tickets_validate", "POST", VALIDATE, body={"qr_signature": qr_signature}, token=token)
    assert answer.status == 200, answer.body


def test_bundle_with_used_tickets_on_request(scanner: Identity) -> None:
    issued = issue_tickets(2)
    check_in_online(scanner.token, issued.tickets[1].qr_signature)
    plain = bundle(scanner.token, issued.event_id)
    with_used = bundle(scanner.token, issued.event_id, query={"include_used": "true"})
    assert with_used.json()["used_ticket_ids"] == [str(issued.tickets[1].id)]
    assert with_used.headers["etag"] != plain.headers["etag"]


def test_bundle_with_every_ticket_on_request(scanner: Identity) -> None:
    issued = issue_tickets(2)
    cancelled = issue_tickets(1, event_id=issued.event_id, ticket_type_id=issued.ticket_type_id, status="cancelled")
    check_in_online(scanner.token, issued.tickets[1].qr_signature)
    assert bundle(scanner.token, issued.event_id).json()["tickets"] is None
    tickets = bundle(scanner.token, issued.event_id, query={"include_tickets": "true"}).json()["tickets"]
    expected = {
        str(issued.tickets[0].id): ("Asistente0 Pérez González", "issued"),
        str(issued.tickets[1].id): ("Asistente1 Pérez González", "used"),
        str(cancelled.tickets[0].id): ("Asistente0 Pérez González", "cancelled"),
    }
    assert [ticket["id"] for ticket in tickets] == sorted(expected)
    for ticket in tickets:
        assert (ticket["attendee_name"], ticket["status"]) == expected[ticket["id"]]
        assert ticket["ticket_type_id"] == str(issued.ticket_type_id)
        assert (ticket["used_at"] is not None) == (ticket["status"] == "used")


def test_bundle_access(coordinator: Identity, buyer: Identity) -> None:
    issued = issue_tickets(1)
    other_event = issue_tickets(1).event_id
    device = issue_device(coordinator, issued.event_id)
    assert bundle(device.token, issued.event_id).status == 200
    assert bundle(device.token, other_event).status == 403
    assert bundle(coordinator.token, other_event).status == 200
    assert bundle(buyer.token, issued.event_id).status == 403
    assert bundle(None, issued.event_id).status == 401
    assert bundle(coordinator.token, uuid.uuid4()).status == 404
    assert bundle(coordinator.token, "not-a-uuid").status == 404  # type: ignore[arg-type]
    expire_device_now(device)
    assert bundle(device.token, issued.event_id).status == 401


def test_sync_applies_in_arrival_order_and_logs_device_time(coordinator: Identity) -> None:
    issued = issue_tickets(3)
    foreign_event_ticket = issue_tickets(1).tickets[0]
    cancelled = issue_tickets(1, event_id=issued.event_id, ticket_type_id=issued.ticket_type_id, status="cancelled")
    device = issue_device(coordinator, issued.event_id)
    forged = QrSigner(generate_qr_secret()).sign_ticket(issued.tickets[2].id, issued.event_id)
    scans = [
        offline_scan(issued.tickets[0].qr_signature, minutes_ago=30),
        offline_scan(issued.tickets[1].qr_signature, minutes_ago=29),
        offline_scan(issued.tickets[0].qr_signature, minutes_ago=28),  # the same guest's ticket shown twice
        offline_scan(forged, minutes_ago=27),
        offline_scan(foreign_event_ticket.qr_signature, minutes_ago=26),
        offline_scan(cancelled.tickets[0].qr_signature, minutes_ago=25),
    ]
    response = sync(device.token, scans)
    assert response.status == 200
    answer = response.json()
    statuses = [result["status"] for result in answer["results"]]
    assert statuses == ["accepted", "accepted", "already_used", "invalid", "wrong_event", "cancelled"]
    assert [result["nonce"] for result in answer["results"]] == [scan["nonce"] for scan in scans]
    double = answer["results"][2]
    assert double["offline_conflict"] is True
    assert double["first_checked_in_by"] == str(device.id)
    assert datetime.fromisoformat(double["first_checked_in_at"]) == datetime.fromisoformat(scans[0]["scanned_at"])
    assert answer["summary"] == {
        "accepted": 2,
        "already_used": 1,
        "invalid": 1,
        "wrong_event": 1,
        "cancelled": 1,
        "event_cancelled": 0,
        "invalid_scan_time": 0,
        "nonce_reused": 0,
        "offline_conflicts": 1,
    }
    # The ticket's use is dated by the device's clock: when the guest came in, not when the phone got signal.
    assert ticket_row(issued.tickets[0].id)["used_at"] == datetime.fromisoformat(scans[0]["scanned_at"])
    log = checkin_rows()
    assert len(log) == len(scans)
    assert all(entry["offline"] is True and entry["device_id"] == device.id for entry in log)
    assert [entry["device_time"] for entry in log] == [datetime.fromisoformat(scan["scanned_at"]) for scan in scans]
    assert [entry["result"] for entry in log] == statuses


def test_offline_double_entries_from_two_devices_are_flagged_and_countable(coordinator: Identity) -> None:
    issued = issue_tickets(2)
    north = issue_device(coordinator, issued.event_id, name="Puerta norte")
    south = issue_device(coordinator, issued.event_id, name="Puerta sur")
    shared_ticket = issued.tickets[0].qr_signature
    # Both doors let the same ticket in while offline; north syncs first.
    north_answer = sync(north.token, [offline_scan(shared_ticket, minutes_ago=10)]).json()
    south_answer = sync(
        south.token, [offline_scan(shared_ticket, minutes_ago=12), offline_scan(issued.tickets[1].qr_signature)]
    ).json()

    assert north_answer["results"][0]["status"] == "accepted"
    assert north_answer["results"][0]["offline_conflict"] is False
    south_first = south_answer["results"][0]
    assert south_first["status"] == "already_used"
    assert south_first["offline_conflict"] is True
    assert south_first["first_checked_in_by"] == str(north.id)
    assert south_answer["results"][1]["status"] == "accepted"
    assert ticket_row(issued.tickets[0].id)["used_by_device_id"] == north.id

    # What the event's stats count: one simple query.
    with engine().connect() as connection:
        double_entries = connection.execute(
            text("SELECT count(*) FROM checkins WHERE event_id = :event_id AND offline AND result = 'already_used'"),
            {"event_id": issued.event_id},
        ).scalar_one()
    assert double_entries == 1


def test_resending_a_batch_answers_as_the_first_time(coordinator: Identity) -> None:
    issued = issue_tickets(2)
    device = issue_device(coordinator, issued.event_id)
    scans = [offline_scan(ticket.qr_signature) for ticket in issued.tickets] + [offline_scan("garbage")]
    first = sync(device.token, scans).json()
    resent = sync(device.token, scans).json()
    assert resent == first
    assert [result["status"] for result in first["results"]] == ["accepted", "accepted", "invalid"]
    assert len(checkin_rows()) == 3


def test_online_and_offline_scans_of_one_ticket(coordinator: Identity, scanner: Identity) -> None:
    issued = issue_tickets(1)
    device = issue_device(coordinator, issued.event_id)
    online = call(
        "post_tickets_validate",
        "POST",
        VALIDATE,
        body={"qr_signature": issued.tickets[0].qr_signature},
        token=scanner.token,
    ).json()
    assert online["status"] == "accepted"
    offline = sync(device.token, [offline_scan(issued.tickets[0].qr_signature)]).json()["results"][0]
    assert offline["status"] == "already_used"
    assert offline["offline_conflict"] is True
    assert offline["first_checked_in_by"] == str(scanner.user_id)


def test_sync_with_event_named_refuses_other_events(scanner: Identity) -> None:
    here = issue_tickets(1)
    elsewhere = issue_tickets(1).tickets[0]
    answer = sync(
        scanner.token,
        [offline_scan(here.tickets[0].qr_signature), offline_scan(elsewhere.qr_signature)],
        event_id=str(here.event_id),
    ).json()
    assert [result["status"] for result in answer["results"]] == ["accepted", "wrong_event"]


def test_sync_access_and_limits(coordinator: Identity, buyer: Identity) -> None:
    issued = issue_tickets(1)
    device = issue_device(coordinator, issued.event_id)
    scan = offline_scan(issued.tickets[0].qr_signature)
    assert sync(None, [scan]).status == 401
    assert sync(buyer.token, [scan]).status == 403
    expire_device_now(device)
    assert sync(device.token, [scan]).status == 401
    assert ticket_row(issued.tickets[0].id)["status"] == "issued"
    assert sync(coordinator.token, []).status == 422
    assert sync(coordinator.token, [offline_scan("x") for _ in range(501)]).status == 422
    assert sync(coordinator.token, [{"qr_signature": "x", "scanned_at": "yesterday", "nonce": "n"}]).status == 422
    assert checkin_rows() == []


def test_a_full_batch_of_500(coordinator: Identity) -> None:
    issued = issue_tickets(250)
    device = issue_device(coordinator, issued.event_id)
    scans = [offline_scan(ticket.qr_signature) for _ in range(2) for ticket in issued.tickets]
    answer = sync(device.token, scans)
    assert answer.status == 200
    counts = Counter(result["status"] for result in answer.json()["results"])
    assert counts == {"accepted": 250, "already_used": 250}
    assert len(checkin_rows()) == 500
