"""GET /api/v1/tickets/{ticket_id}: the ticket with its event, for its owner and the door staff; 404 for others."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api_gateway import HttpResponse, call
from tests.support.devices import issue_device
from tests.support.identities import Identity, create_identity
from tests.support.tickets import issue_tickets

TICKET = "/api/v1/tickets/{ticket_id}"
DESIGN_FIELDS = {
    "id",
    "order_item_id",
    "event_id",
    "holder_first_name",
    "holder_last_name",
    "holder_document_type",
    "holder_document_number",
    "is_child",
    "qr_signature",
    "pdf_object_key",
    "status",
    "issued_at",
    "validated_at",
    "used_at",
    "created_at",
    "updated_at",
    "event",
}


def get_ticket(token: str | None, ticket_id: uuid.UUID | str) -> HttpResponse:
    return call("get_ticket", "GET", TICKET, {"ticket_id": str(ticket_id)}, token=token)


def test_owner_reads_their_ticket_with_its_event(buyer: Identity) -> None:
    issued = issue_tickets(2, owner_id=buyer.user_id)
    ticket = issued.tickets[1]
    response = get_ticket(buyer.token, ticket.id)
    assert response.status == 200
    body = response.json()
    assert set(body) >= DESIGN_FIELDS
    assert body["id"] == str(ticket.id)
    assert body["event_id"] == str(ticket.event_id)
    assert body["qr_signature"] == ticket.qr_signature
    assert f"{body['holder_first_name']} {body['holder_last_name']}" == ticket.holder_name
    assert body["holder_document_type"] == "RUT"
    assert body["status"] == "issued"
    assert body["is_child"] is False
    assert body["validated_at"] is None and body["used_at"] is None
    assert body["ticket_type"] == "General"
    assert set(body["event"]) == {"id", "name", "starts_at", "location_text"}
    assert body["event"]["id"] == str(ticket.event_id)
    assert body["event"]["name"] == "Concierto"


@pytest.mark.parametrize("role", ["scanner", "coordinator", "admin"])
def test_staff_read_any_ticket(buyer: Identity, role: str) -> None:
    ticket = issue_tickets(1, owner_id=buyer.user_id).tickets[0]
    assert get_ticket(create_identity(role).token, ticket.id).status == 200


def test_others_get_404_as_for_a_ticket_that_does_not_exist(buyer: Identity, other_buyer: Identity) -> None:
    ticket = issue_tickets(1, owner_id=buyer.user_id).tickets[0]
    not_mine = get_ticket(other_buyer.token, ticket.id)
    missing = get_ticket(other_buyer.token, uuid.uuid4())
    assert not_mine.status == missing.status == 404
    assert not_mine.json() == missing.json() == {"detail": "Ticket not found"}
    assert get_ticket(other_buyer.token, "not-a-uuid").status == 404
    assert get_ticket(None, ticket.id).status == 401


def test_device_reads_only_tickets_of_its_events(coordinator: Identity) -> None:
    here = issue_tickets(1)
    elsewhere = issue_tickets(1)
    device = issue_device(coordinator, here.event_id)
    assert get_ticket(device.token, here.tickets[0].id).status == 200
    assert get_ticket(device.token, elsewhere.tickets[0].id).status == 404


def test_a_used_ticket_shows_when(scanner: Identity, buyer: Identity) -> None:
    ticket = issue_tickets(1, owner_id=buyer.user_id).tickets[0]
    call(
        "post_tickets_validate",
        "POST",
        "/api/v1/tickets/validate",
        body={"qr_signature": ticket.qr_signature},
        token=scanner.token,
    )
    body = get_ticket(buyer.token, ticket.id).json()
    assert body["status"] == "used"
    assert body["used_at"] is not None and body["validated_at"] is not None
