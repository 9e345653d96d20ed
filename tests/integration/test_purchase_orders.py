"""After the purchase: order status (role matrix), cancel, the user's tickets and the tickets PDF redirect."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto import mock_aws

from crowdify.auth.backend_tokens import issue_download_token
from crowdify.config.settings import get_settings
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import HttpResponse, call
from tests.support.identities import Identity
from tests.support.purchases import (
    attendee,
    buy,
    complete_with_tickets,
    create_event,
    execute,
    held_seats,
    purchase_body,
    rows,
    scalar,
)

STATUS = "/api/v1/purchases/{order_id}/status"
CANCEL = "/api/v1/purchases/{order_id}/cancel"
USER_TICKETS = "/api/v1/tickets/user/{user_id}"
TICKETS_PDF = "/api/v1/purchases/{order_id}/tickets.pdf"


@pytest.fixture
def order(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity) -> dict[str, Any]:
    event = create_event(admin)
    response = buy(buyer, purchase_body(buyer, event["id"], [attendee("Ana Pérez"), attendee("Luis Rojas Díaz")]))
    assert response.status == 200, response.body
    return {"event": event, **response.json()}


def status_of(order_id: str, token: str | None) -> HttpResponse:
    return call("get_purchase_status", "GET", STATUS, {"order_id": order_id}, token=token)


def test_order_status_role_matrix(
    order: dict[str, Any],
    buyer: Identity,
    other_buyer: Identity,
    coordinator: Identity,
    admin: Identity,
    scanner: Identity,
) -> None:
    owner_view = status_of(order["order_id"], buyer.token)
    assert owner_view.status == 200, owner_view.body
    body = owner_view.json()
    assert body["order_id"] == order["order_id"] and body["status"] == "pending"
    assert body["total"] == 20000 and isinstance(body["total"], int | float)
    assert body["currency"] == "CLP" and body["payment_provider"] == "mercadopago"
    assert body["payment_reference"] is None and body["paid_at"] is None
    assert body["payment_link"] == order["payment_link"]

    assert status_of(order["order_id"], coordinator.token).status == 200
    assert status_of(order["order_id"], admin.token).status == 200
    assert status_of(order["order_id"], other_buyer.token).status == 404
    assert status_of(order["order_id"], scanner.token).status == 404
    assert status_of(order["order_id"], None).status == 401
    assert status_of(str(uuid.uuid4()), buyer.token).status == 404
    assert status_of("not-a-uuid", buyer.token).status == 404


def test_the_owner_cancels_a_pending_order_and_its_seats_come_back(
    order: dict[str, Any], buyer: Identity, other_buyer: Identity
) -> None:
    assert held_seats(order["event"]["id"]) == 2
    assert (
        call("post_purchase_cancel", "POST", CANCEL, {"order_id": order["order_id"]}, token=other_buyer.token).status
        == 404
    )
    assert call("post_purchase_cancel", "POST", CANCEL, {"order_id": order["order_id"]}).status == 401

    cancelled = call("post_purchase_cancel", "POST", CANCEL, {"order_id": order["order_id"]}, token=buyer.token)

    assert cancelled.status == 200 and cancelled.json()["status"] == "cancelled"
    assert held_seats(order["event"]["id"]) == 0
    assert scalar("SELECT seats_claimed FROM events WHERE id = :id", id=order["event"]["id"]) == 0
    assert scalar("SELECT cancelled_at IS NOT NULL FROM orders WHERE id = :id", id=order["order_id"])
    again = call("post_purchase_cancel", "POST", CANCEL, {"order_id": order["order_id"]}, token=buyer.token)
    assert again.status == 409 and "cancelled" in again.json()["detail"]


def test_a_paid_order_cannot_be_cancelled_by_the_buyer(order: dict[str, Any], buyer: Identity) -> None:
    complete_with_tickets(order["order_id"])

    response = call("post_purchase_cancel", "POST", CANCEL, {"order_id": order["order_id"]}, token=buyer.token)

    assert response.status == 409
    assert scalar("SELECT status FROM orders") == "completed"


def test_user_tickets_lists_the_buyers_tickets_with_their_event(
    order: dict[str, Any], buyer: Identity, other_buyer: Identity, admin: Identity
) -> None:
    path = {"user_id": str(buyer.user_id)}
    assert call("get_tickets_user", "GET", USER_TICKETS, path, token=buyer.token).json() == [], (
        "no tickets before payment"
    )
    complete_with_tickets(order["order_id"])

    mine = call("get_tickets_user", "GET", USER_TICKETS, path, token=buyer.token)

    assert mine.status == 200, mine.body
    tickets = mine.json()
    assert isinstance(tickets, list) and len(tickets) == 2
    expected_fields = {
        "id", "order_item_id", "event_id", "holder_first_name", "holder_last_name", "holder_document_type",
        "holder_document_number", "is_child", "qr_signature", "pdf_object_key", "status", "issued_at",
        "validated_at", "used_at", "created_at", "updated_at", "event",
    }  # fmt: skip
    assert expected_fields <= set(tickets[0])
    assert {(t["holder_first_name"], t["holder_last_name"]) for t in tickets} == {
        ("Ana", "Pérez"),
        ("Luis", "Rojas Díaz"),
    }
    assert tickets[0]["status"] == "issued"
    assert tickets[0]["event"] == {
        "id": order["event"]["id"],
        "name": "Festival de Invierno",
        "starts_at": "2030-07-01T20:00:00-04:00",
        "location_text": "Parque O'Higgins",
    }
    assert len(call("get_tickets_user", "GET", USER_TICKETS, path, token=admin.token).json()) == 2
    assert call("get_tickets_user", "GET", USER_TICKETS, path, token=other_buyer.token).status == 404
    assert call("get_tickets_user", "GET", USER_TICKETS, path).status == 401
    other_path = {"user_id": str(other_buyer.user_id)}
    assert call("get_tickets_user", "GET", USER_TICKETS, other_path, token=other_buyer.token).json() == []


@pytest.fixture
def tickets_bucket(monkeypatch: pytest.MonkeyPatch) -> Any:
    from crowdify.adapters import tickets_bucket as tickets_bucket_adapter
    from crowdify.config.settings import reset_settings

    monkeypatch.setenv("TICKETS_BUCKET", "crowdify-test-tickets")
    reset_settings()
    with mock_aws():
        tickets_bucket_adapter.reset_client()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="crowdify-test-tickets")
        yield s3
    tickets_bucket_adapter.reset_client()
    monkeypatch.undo()
    reset_settings()


def pdf(order_id: str, token: str | None = None, query: dict[str, str] | None = None) -> HttpResponse:
    return call("get_purchase_tickets_pdf", "GET", TICKETS_PDF, {"order_id": order_id}, token=token, query=query)


def test_tickets_pdf_redirects_to_a_fresh_presigned_url(
    order: dict[str, Any], buyer: Identity, other_buyer: Identity, tickets_bucket: Any
) -> None:
    key = f"tickets/{order['order_id']}.pdf"
    assert pdf(order["order_id"], buyer.token).status == 404, "no PDF yet"
    tickets_bucket.put_object(Bucket="crowdify-test-tickets", Key=key, Body=b"%PDF-1.7 tickets")
    execute("UPDATE orders SET pdf_object_key = :key WHERE id = :id", key=key, id=order["order_id"])

    redirect = pdf(order["order_id"], buyer.token)

    assert redirect.status == 302, redirect.body
    location = redirect.headers["location"]
    parts = urlsplit(location)
    assert "crowdify-test-tickets" in parts.netloc + parts.path and parts.path.endswith(key)
    assert "X-Amz-Signature" in parse_qs(parts.query)
    assert parse_qs(parts.query)["X-Amz-Expires"] == ["300"]
    assert requests.get(location, timeout=5).content == b"%PDF-1.7 tickets"

    assert pdf(order["order_id"], other_buyer.token).status == 404
    assert pdf(order["order_id"]).status == 401


def test_tickets_pdf_accepts_the_download_token_of_that_order_only(
    order: dict[str, Any], buyer: Identity, tickets_bucket: Any
) -> None:
    execute("UPDATE orders SET pdf_object_key = 'tickets/x.pdf' WHERE id = :id", id=order["order_id"])
    secret = get_settings().jwt_secret

    with_token = pdf(order["order_id"], query={"t": issue_download_token(order["order_id"], secret)})
    other_order = pdf(order["order_id"], query={"t": issue_download_token(str(uuid.uuid4()), secret)})
    forged = pdf(
        order["order_id"],
        query={"t": issue_download_token(order["order_id"], "another-secret-that-is-at-least-32-bytes-long")},
    )
    user_token_as_link = pdf(order["order_id"], query={"t": buyer.token})

    assert with_token.status == 302 and "tickets/x.pdf" in with_token.headers["location"]
    assert other_order.status == 404
    assert forged.status == 401 and user_token_as_link.status == 401


def test_tickets_pdf_is_gone_once_no_ticket_of_the_order_is_valid(
    order: dict[str, Any], buyer: Identity, tickets_bucket: Any
) -> None:
    order_id = order["order_id"]
    complete_with_tickets(order_id)
    execute("UPDATE orders SET pdf_object_key = 'tickets/x.pdf' WHERE id = :id", id=order_id)
    link = {"t": issue_download_token(order_id, get_settings().jwt_secret)}
    first, second = (
        row[0] for row in rows("SELECT id FROM tickets WHERE order_id = :id ORDER BY holder_first_name", id=order_id)
    )
    execute("UPDATE tickets SET status = 'cancelled' WHERE id = :id", id=first)
    execute("UPDATE orders SET status = 'partially_refunded' WHERE id = :id", id=order_id)
    assert pdf(order_id, query=link).status == 302, "one ticket of the order still admits its holder"

    # A full refund cancels the issued tickets; one already used stays `used`, but the order no longer admits.
    execute("UPDATE tickets SET status = 'used', used_at = now() WHERE id = :id", id=second)
    execute("UPDATE orders SET status = 'refunded' WHERE id = :id", id=order_id)
    by_link, by_owner = pdf(order_id, query=link), pdf(order_id, buyer.token)

    assert by_link.status == 410 and by_owner.status == 410, by_link.body
    assert by_link.json()["detail"] == (
        "Estas entradas ya no son válidas: la compra fue reembolsada o anulada, o el evento fue cancelado"
    )
    execute("UPDATE orders SET status = 'charged_back' WHERE id = :id", id=order_id)
    assert pdf(order_id, query=link).status == 410


def test_tickets_pdf_of_a_cancelled_event_is_gone(order: dict[str, Any], tickets_bucket: Any) -> None:
    order_id = order["order_id"]
    complete_with_tickets(order_id)
    execute("UPDATE orders SET pdf_object_key = 'tickets/x.pdf' WHERE id = :id", id=order_id)
    link = {"t": issue_download_token(order_id, get_settings().jwt_secret)}
    assert pdf(order_id, query=link).status == 302

    execute(
        "UPDATE events SET status = 'cancelled' WHERE id = (SELECT event_id FROM orders WHERE id = :id)", id=order_id
    )

    assert pdf(order_id, query=link).status == 410
