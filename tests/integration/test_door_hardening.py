"""The door's second round: a nonce reused for another ticket, offline scans claiming impossible times, tickets of
a cancelled event. Through the handlers, against real Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from crowdify.persistence.database import engine
from tests.support.api_gateway import HttpResponse, call
from tests.support.devices import issue_device
from tests.support.identities import Identity
from tests.support.races import all_at_once
from tests.support.tickets import checkin_rows, issue_tickets, ticket_row

VALIDATE = "/api/v1/tickets/validate"
SYNC = "/api/v1/tickets/sync"
BUNDLE = "/api/v1/events/{event_id}/scanner-bundle"


def validate(token: str, qr_signature: str, **fields: Any) -> HttpResponse:
    return call("post_tickets_validate", "POST", VALIDATE, body={"qr_signature": qr_signature, **fields}, token=token)


def offline_scan(qr_signature: str, scanned_at: datetime, nonce: str | None = None) -> dict[str, str]:
    return {"qr_signature": qr_signature, "scanned_at": scanned_at.isoformat(), "nonce": nonce or uuid.uuid4().hex}


def sync(token: str, scans: list[dict[str, str]]) -> HttpResponse:
    return call("post_tickets_sync", "POST", SYNC, body={"scans": scans}, token=token)


def cancel_event(event_id: uuid.UUID) -> None:
    with engine().begin() as connection:
        connection.execute(text("UPDATE events SET status = 'cancelled' WHERE id = :id"), {"id": event_id})


def test_a_nonce_reused_with_another_ticket_is_refused_and_never_answers_for_the_first(scanner: Identity) -> None:
    issued = issue_tickets(2)
    first, second = issued.tickets
    assert validate(scanner.token, first.qr_signature, nonce="scan-1").json()["status"] == "accepted"

    reused = validate(scanner.token, second.qr_signature, nonce="scan-1")

    assert reused.status == 409, reused.body
    assert reused.json() == {
        "detail": "Este nonce ya se usó para escanear otro ticket: genera uno nuevo para cada escaneo"
    }
    assert first.holder_name not in reused.body and str(first.id) not in reused.body
    assert ticket_row(second.id)["status"] == "issued"
    retry = validate(scanner.token, first.qr_signature, nonce="scan-1")
    assert retry.json()["status"] == "accepted", "a true retry still finds its first answer"
    assert validate(scanner.token, second.qr_signature, nonce="scan-2").json()["status"] == "accepted"
    assert len(checkin_rows()) == 2


def race_one_nonce(scanner: Identity) -> None:
    first, second = issue_tickets(2).tickets
    nonce = uuid.uuid4().hex
    racing = (first, second)
    scanned = all_at_once(lambda index: validate(scanner.token, racing[index].qr_signature, nonce=nonce), racers=2)
    answers: dict[uuid.UUID, HttpResponse] = {ticket.id: answer for ticket, answer in zip(racing, scanned, strict=True)}

    assert sorted(answer.status for answer in answers.values()) == [200, 409]
    winner = next(ticket for ticket in (first, second) if answers[ticket.id].status == 200)
    loser = second if winner is first else first
    assert answers[winner.id].json()["status"] == "accepted"
    assert winner.holder_name not in answers[loser.id].body
    assert (ticket_row(winner.id)["status"], ticket_row(loser.id)["status"]) == ("used", "issued")


def test_one_nonce_raced_with_two_tickets_checks_in_one_and_refuses_the_other(scanner: Identity) -> None:
    for _ in range(5):
        race_one_nonce(scanner)


def test_a_sync_refuses_a_reused_nonce_alone_and_applies_the_rest(coordinator: Identity) -> None:
    issued = issue_tickets(3)
    device = issue_device(coordinator, issued.event_id)
    now = datetime.now(UTC)
    first = sync(device.token, [offline_scan(issued.tickets[0].qr_signature, now, nonce="n-1")])
    assert first.json()["results"][0]["status"] == "accepted"

    answer = sync(
        device.token,
        [
            offline_scan(issued.tickets[1].qr_signature, now, nonce="n-1"),
            offline_scan(issued.tickets[2].qr_signature, now, nonce="n-2"),
        ],
    )

    assert answer.status == 200, answer.body
    results = answer.json()["results"]
    assert [result["status"] for result in results] == ["nonce_reused", "accepted"]
    assert results[0]["attendee_name"] is None and results[0]["ticket_id"] is None
    assert answer.json()["summary"]["nonce_reused"] == 1
    assert ticket_row(issued.tickets[1].id)["status"] == "issued"


def test_an_offline_scan_must_claim_a_time_within_the_admission_window(coordinator: Identity) -> None:
    issued = issue_tickets(5)  # the event starts in an hour
    device = issue_device(coordinator, issued.event_id)
    now = datetime.now(UTC)
    claimed = [
        datetime(1970, 1, 1, tzinfo=UTC),
        now + timedelta(hours=1),  # after the sync that brings it
        now - timedelta(hours=12),  # before the doors could have opened (12 hours before the start)
        now - timedelta(hours=10),
        now + timedelta(minutes=2),  # a phone clock a little fast
    ]
    scans = [offline_scan(ticket.qr_signature, moment) for ticket, moment in zip(issued.tickets, claimed, strict=True)]

    answer = sync(device.token, scans)

    assert answer.status == 200, answer.body
    statuses = [result["status"] for result in answer.json()["results"]]
    assert statuses == ["invalid_scan_time"] * 3 + ["accepted"] * 2
    assert answer.json()["results"][0]["message"] == (
        "La hora del escaneo está fuera del horario del evento o es posterior a la sincronización"
    )
    assert answer.json()["summary"]["invalid_scan_time"] == 3
    assert [ticket_row(ticket.id)["status"] for ticket in issued.tickets] == ["issued"] * 3 + ["used"] * 2
    log = checkin_rows()
    assert [entry["result"] for entry in log] == statuses
    assert [entry["device_time"] for entry in log] == claimed, "the time the device claimed, as it claimed it"
    assert all(abs(entry["recorded_at"] - now) < timedelta(minutes=1) for entry in log), "and when it reached us"
    assert ticket_row(issued.tickets[4].id)["used_at"] <= log[4]["recorded_at"]


def test_the_bundle_states_the_admission_window_and_the_event_status(scanner: Identity) -> None:
    from checkin import ADMISSION_MARGIN

    issued = issue_tickets(1)
    with engine().connect() as connection:
        starts_at = connection.execute(
            text("SELECT starts_at FROM events WHERE id = :id"), {"id": issued.event_id}
        ).scalar_one()
    path = {"event_id": str(issued.event_id)}

    bundle = call("get_event_scanner_bundle", "GET", BUNDLE, path, token=scanner.token).json()

    assert datetime.fromisoformat(bundle["admission_opens_at"]) == starts_at - ADMISSION_MARGIN
    assert datetime.fromisoformat(bundle["admission_closes_at"]) == starts_at + ADMISSION_MARGIN
    assert bundle["event"]["status"] == "published"
    cancel_event(issued.event_id)
    assert (
        call("get_event_scanner_bundle", "GET", BUNDLE, path, token=scanner.token).json()["event"]["status"]
        == "cancelled"
    )


def test_tickets_of_a_cancelled_event_admit_no_one_online_or_offline(scanner: Identity, coordinator: Identity) -> None:
    issued = issue_tickets(2)
    device = issue_device(coordinator, issued.event_id)
    cancel_event(issued.event_id)

    online = validate(scanner.token, issued.tickets[0].qr_signature)
    offline = sync(device.token, [offline_scan(issued.tickets[1].qr_signature, datetime.now(UTC))])

    assert online.status == 200
    assert (online.json()["valid"], online.json()["status"]) == (False, "event_cancelled")
    assert online.json()["message"] == "Evento cancelado: el ticket no permite el acceso"
    assert offline.json()["results"][0]["status"] == "event_cancelled"
    assert offline.json()["summary"]["event_cancelled"] == 1
    assert [ticket_row(ticket.id)["status"] for ticket in issued.tickets] == ["issued", "issued"]
    assert [entry["result"] for entry in checkin_rows()] == ["event_cancelled", "event_cancelled"]
