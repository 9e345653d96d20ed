"""POST /api/v1/tickets/validate through the handler, against real Postgres: verdicts, the log, who may scan."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event

from crowdify.auth.qr_tokens import QrSigner, generate_qr_secret, keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.persistence.database import engine
from crowdify.persistence.pg_connection import statements_sent
from tests.support.api_gateway import HttpResponse, call
from tests.support.devices import expire_device_now, issue_device
from tests.support.identities import Identity, create_identity
from tests.support.tickets import checkin_rows, create_event, issue_tickets, ticket_row

VALIDATE = "/api/v1/tickets/validate"
OLD_RESPONSE_FIELDS = {"valid", "ticket_id", "event_id", "attendee_name", "message"}


def validate(token: str | None, qr_signature: str, **fields: Any) -> HttpResponse:
    body = {"qr_signature": qr_signature, "inspector_id": "puerta-norte", **fields}
    return call("post_tickets_validate", "POST", VALIDATE, body=body, token=token)


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """Statements sent to Postgres (not BEGIN/COMMIT/ROLLBACK, which go through other hooks, nor pings), by the door's
    pg8000 connection and, should anything reach it, the SQLAlchemy engine."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sqlalchemy_event.listen(engine(), "before_cursor_execute", record)
    try:
        with statements_sent() as sent:
            yield statements
            statements.extend(sent)
    finally:
        sqlalchemy_event.remove(engine(), "before_cursor_execute", record)


def flip_one_character(token: str, position: int) -> str:
    replacement = "A" if token[position] != "A" else "B"
    return token[:position] + replacement + token[position + 1 :]


def test_accepted_then_already_used_naming_the_first_check_in(scanner: Identity) -> None:
    issued = issue_tickets(1)
    ticket = issued.tickets[0]

    first = validate(scanner.token, ticket.qr_signature, event_id=str(ticket.event_id))
    assert first.status == 200
    body = first.json()
    assert body["valid"] is True
    assert body["status"] == "accepted"
    assert body["ticket_id"] == str(ticket.id)
    assert body["event_id"] == str(ticket.event_id)
    assert body["attendee_name"] == ticket.holder_name
    assert body["ticket_type"] == issued.ticket_type_name
    assert body["message"] == "Ticket válido. Acceso permitido"
    row = ticket_row(ticket.id)
    assert row["status"] == "used"
    assert row["used_by_user_id"] == scanner.user_id
    assert row["used_by_device_id"] is None
    assert row["used_at"] is not None and row["validated_at"] is not None

    again = validate(scanner.token, ticket.qr_signature)
    assert again.status == 200
    second = again.json()
    assert second["valid"] is False
    assert second["status"] == "already_used"
    assert second["first_checked_in_by"] == str(scanner.user_id)
    assert second["first_checked_in_at"] is not None
    assert second["first_checked_in_at"] == body["checked_in_at"]

    log = checkin_rows(ticket.id)
    assert [entry["result"] for entry in log] == ["accepted", "already_used"]
    assert all(entry["user_id"] == scanner.user_id and entry["actor_id"] == scanner.user_id for entry in log)
    assert all(entry["inspector_id"] == "puerta-norte" and entry["offline"] is False for entry in log)


def test_the_design_test_vector_key_signs_codes_the_door_accepts(scanner: Identity) -> None:
    # The tests run with the QR test vector's seed: the door accepts what that key signs, and lists its kid.
    signer = keyring_from_settings(get_settings())
    assert signer.current_key_id == "56475aa7"
    ticket = issue_tickets(1).tickets[0]
    assert ticket.qr_signature == signer.sign_ticket(ticket.id, ticket.event_id)
    assert len(ticket.qr_signature) == 137
    assert validate(scanner.token, ticket.qr_signature).json()["status"] == "accepted"


def test_old_client_request_gets_the_old_response_shape(scanner: Identity) -> None:
    ticket = issue_tickets(1).tickets[0]
    # Exactly what the old client sends: no nonce, inspector_id as free text, event_id as a string.
    body = {"qr_signature": ticket.qr_signature, "inspector_id": "inspector-7", "event_id": str(ticket.event_id)}
    response = call("post_tickets_validate", "POST", VALIDATE, body=body, token=scanner.token)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert set(answer) >= OLD_RESPONSE_FIELDS
    assert isinstance(answer["valid"], bool) and isinstance(answer["message"], str)
    assert answer["valid"] is True


def test_old_client_blank_event_id_means_no_event_selected(scanner: Identity) -> None:
    ticket = issue_tickets(1).tickets[0]
    assert validate(scanner.token, ticket.qr_signature, event_id="").json()["status"] == "accepted"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda code: flip_one_character(code, 60), id="one-character-flipped"),
        pytest.param(lambda code: flip_one_character(code, 136), id="last-character-flipped"),
        pytest.param(lambda code: code[:-1], id="truncated"),
        pytest.param(lambda code: code[:80], id="cut-in-half"),
        pytest.param(lambda code: code.replace("CT1", "CT2", 1), id="wrong-prefix"),
        pytest.param(lambda code: code + "A", id="one-character-added"),
        pytest.param(lambda code: "", id="empty"),
    ],
)
def test_tampered_codes_are_invalid_without_any_database_work(scanner: Identity, tamper: Any) -> None:
    ticket = issue_tickets(1).tickets[0]
    tampered = tamper(ticket.qr_signature)
    assert tampered != ticket.qr_signature
    with counted_statements() as statements:
        response = validate(scanner.token, tampered)
    assert response.status == 200
    answer = response.json()
    assert answer["status"] == "invalid"
    assert answer["valid"] is False
    assert answer["ticket_id"] is None and answer["attendee_name"] is None
    assert statements == []
    assert ticket_row(ticket.id)["status"] == "issued"
    assert checkin_rows() == []


def test_code_signed_by_another_key_is_invalid(scanner: Identity) -> None:
    ticket = issue_tickets(1).tickets[0]
    foreign = QrSigner(generate_qr_secret()).sign_ticket(ticket.id, ticket.event_id)
    with counted_statements() as statements:
        answer = validate(scanner.token, foreign).json()
    assert answer["status"] == "invalid"
    assert statements == []
    assert ticket_row(ticket.id)["status"] == "issued"


def test_signature_of_another_events_ticket_does_not_fit_this_ticket(scanner: Identity) -> None:
    # Splice: this ticket's id and event with the signature of another event's ticket.
    mine = issue_tickets(1).tickets[0]
    other = issue_tickets(1).tickets[0]
    payload_of = lambda code: base64.urlsafe_b64decode(code[3:] + "==")  # noqa: E731
    spliced_payload = payload_of(mine.qr_signature)[:36] + payload_of(other.qr_signature)[36:]
    spliced = "CT1" + base64.urlsafe_b64encode(spliced_payload).rstrip(b"=").decode()
    answer = validate(scanner.token, spliced).json()
    assert answer["status"] == "invalid"
    assert ticket_row(mine.id)["status"] == "issued"
    assert ticket_row(other.id)["status"] == "issued"


def test_another_events_ticket_is_wrong_event_when_the_scanner_names_its_event(scanner: Identity) -> None:
    here = issue_tickets(1)
    elsewhere = issue_tickets(1).tickets[0]
    answer = validate(scanner.token, elsewhere.qr_signature, event_id=str(here.event_id)).json()
    assert answer["status"] == "wrong_event"
    assert answer["valid"] is False
    assert answer["message"] == "El ticket no corresponde a este evento"
    assert answer["attendee_name"] is None
    assert ticket_row(elsewhere.id)["status"] == "issued"
    assert [entry["result"] for entry in checkin_rows(elsewhere.id)] == ["wrong_event"]


def test_cancelled_ticket_is_refused_and_logged(scanner: Identity) -> None:
    ticket = issue_tickets(1, status="cancelled").tickets[0]
    answer = validate(scanner.token, ticket.qr_signature).json()
    assert answer["status"] == "cancelled"
    assert answer["valid"] is False
    assert answer["message"] == "Ticket cancelado"
    assert ticket_row(ticket.id)["status"] == "cancelled"
    assert [entry["result"] for entry in checkin_rows(ticket.id)] == ["cancelled"]


def test_validly_signed_code_of_a_ticket_that_does_not_exist_is_invalid(scanner: Identity) -> None:
    event_id, _ = create_event()
    ghost_ticket_id = uuid.uuid4()
    code = keyring_from_settings(get_settings()).sign_ticket(ghost_ticket_id, event_id)
    answer = validate(scanner.token, code).json()
    assert answer["status"] == "invalid"
    assert answer["valid"] is False
    assert answer["attendee_name"] is None
    log = checkin_rows(ghost_ticket_id)
    assert [entry["result"] for entry in log] == ["invalid"]


def test_nonce_retry_returns_the_first_answer_and_logs_once(scanner: Identity) -> None:
    ticket = issue_tickets(1).tickets[0]
    first = validate(scanner.token, ticket.qr_signature, nonce="scan-0001").json()
    retry = validate(scanner.token, ticket.qr_signature, nonce="scan-0001").json()
    assert first["status"] == "accepted"
    assert retry == first
    # A new scan (new nonce) of the same ticket is a second entry attempt.
    rescan = validate(scanner.token, ticket.qr_signature, nonce="scan-0002").json()
    assert rescan["status"] == "already_used"
    log = checkin_rows(ticket.id)
    assert [(entry["result"], entry["nonce"]) for entry in log] == [
        ("accepted", "scan-0001"),
        ("already_used", "scan-0002"),
    ]
    assert log[0]["response"]["status"] == "accepted"


def test_a_nonce_belongs_to_its_scanner(scanner: Identity) -> None:
    ticket = issue_tickets(1).tickets[0]
    other_scanner = create_identity("scanner")
    assert validate(scanner.token, ticket.qr_signature, nonce="n-1").json()["status"] == "accepted"
    # Another scanner's nonce of the same spelling is its own scan, not a retry of ours.
    assert validate(other_scanner.token, ticket.qr_signature, nonce="n-1").json()["status"] == "already_used"


@pytest.mark.parametrize("role", ["scanner", "coordinator", "admin"])
def test_staff_users_check_in_at_any_event(db: str, role: str) -> None:
    staff = create_identity(role)
    for _ in range(2):
        ticket = issue_tickets(1).tickets[0]
        answer = validate(staff.token, ticket.qr_signature, event_id=str(ticket.event_id)).json()
        assert answer["status"] == "accepted"


def test_a_user_cannot_validate(buyer: Identity) -> None:
    ticket = issue_tickets(1, owner_id=buyer.user_id).tickets[0]
    response = validate(buyer.token, ticket.qr_signature)
    assert response.status == 403
    assert response.json()["detail"]
    assert ticket_row(ticket.id)["status"] == "issued"
    assert checkin_rows() == []


def test_anonymous_and_badly_signed_callers_are_401(db: str) -> None:
    ticket = issue_tickets(1).tickets[0]
    assert validate(None, ticket.qr_signature).status == 401
    assert validate("not-a-jwt", ticket.qr_signature).status == 401
    assert ticket_row(ticket.id)["status"] == "issued"
    assert checkin_rows() == []


def test_first_seen_supabase_scanner_is_created_from_app_metadata(db: str) -> None:
    from tests.integration.test_authentication import supabase_token

    user_id = uuid.uuid4()
    ticket = issue_tickets(1).tickets[0]
    token = supabase_token(user_id, app_metadata={"role": "scanner"}, user_metadata={"role": "admin"})
    assert validate(token, ticket.qr_signature).json()["status"] == "accepted"
    assert ticket_row(ticket.id)["used_by_user_id"] == user_id
    newcomer = supabase_token(uuid.uuid4(), user_metadata={"role": "scanner"})
    assert validate(newcomer, issue_tickets(1).tickets[0].qr_signature).status == 403


def test_device_checks_in_only_at_its_events(coordinator: Identity) -> None:
    here = issue_tickets(2)
    elsewhere = issue_tickets(1).tickets[0]
    device = issue_device(coordinator, here.event_id)

    accepted = validate(device.token, here.tickets[0].qr_signature).json()
    assert accepted["status"] == "accepted"
    assert ticket_row(here.tickets[0].id)["used_by_device_id"] == device.id

    refused = validate(device.token, elsewhere.qr_signature).json()
    assert refused["status"] == "wrong_event"
    assert ticket_row(elsewhere.id)["status"] == "issued"

    again = validate(device.token, here.tickets[0].qr_signature).json()
    assert again["status"] == "already_used"
    assert again["first_checked_in_by"] == str(device.id)
    log = checkin_rows()
    assert [(entry["result"], entry["device_id"]) for entry in log] == [
        ("accepted", device.id),
        ("wrong_event", device.id),
        ("already_used", device.id),
    ]
    assert all(entry["user_id"] is None for entry in log)


def test_revoked_device_is_refused_at_once(coordinator: Identity) -> None:
    issued = issue_tickets(2)
    device = issue_device(coordinator, issued.event_id)
    assert validate(device.token, issued.tickets[0].qr_signature).json()["status"] == "accepted"
    revoked = call(
        "delete_admin_scanner_device",
        "DELETE",
        "/api/v1/admin/scanner-devices/{device_id}",
        {"device_id": str(device.id)},
        token=coordinator.token,
    )
    assert revoked.status == 200
    response = validate(device.token, issued.tickets[1].qr_signature)
    assert response.status == 401
    assert response.headers.get("www-authenticate") == "Bearer"
    assert ticket_row(issued.tickets[1].id)["status"] == "issued"
    assert len(checkin_rows()) == 1


def test_expired_device_is_refused(coordinator: Identity) -> None:
    issued = issue_tickets(1)
    device = issue_device(coordinator, issued.event_id)
    expire_device_now(device)
    assert validate(device.token, issued.tickets[0].qr_signature).status == 401
    assert ticket_row(issued.tickets[0].id)["status"] == "issued"
    assert checkin_rows() == []


def test_device_token_for_a_device_that_does_not_exist_is_refused(db: str) -> None:
    from crowdify.auth.backend_tokens import issue_device_token

    issued = issue_tickets(1)
    forged_device = issue_device_token(str(uuid.uuid4()), [str(issued.event_id)], get_settings().jwt_secret, 600)
    assert validate(forged_device, issued.tickets[0].qr_signature).status == 401
    assert ticket_row(issued.tickets[0].id)["status"] == "issued"


def test_a_scan_is_one_statement_for_a_device_and_for_a_known_user(coordinator: Identity, scanner: Identity) -> None:
    issued = issue_tickets(4)
    device = issue_device(coordinator, issued.event_id)
    for token, ticket in [(device.token, issued.tickets[0]), (scanner.token, issued.tickets[1])]:
        with counted_statements() as statements:
            assert validate(token, ticket.qr_signature, nonce=f"n-{ticket.id}").json()["status"] == "accepted"
        assert len(statements) == 1, statements
        with counted_statements() as statements:
            assert validate(token, ticket.qr_signature).json()["status"] == "already_used"
        assert len(statements) == 1, statements


def test_validation_errors_are_422_in_the_old_shape(scanner: Identity) -> None:
    response = call("post_tickets_validate", "POST", VALIDATE, body={"inspector_id": "x"}, token=scanner.token)
    assert response.status == 422
    detail = response.json()["detail"]
    assert any(item["loc"][-1] == "qr_signature" for item in detail)
    response = call(
        "post_tickets_validate", "POST", VALIDATE, body={"qr_signature": "x", "event_id": "nope"}, token=scanner.token
    )
    assert response.status == 422
