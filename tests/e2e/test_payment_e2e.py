"""A purchase through the local stack over HTTP: checkout, Approve on the MercadoPago emulator, the signed webhook,
SQS, notify, and the email with the PDF whose QR codes verify — within the 10 s the local stack promises."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from crowdify.auth.qr_tokens import QrSigner
from tests.support.journeys import (
    approve,
    bearer,
    buy,
    publish_event,
    qr_codes_in_attachment,
    user_id_of,
    wait_for_email,
)
from tests.support.stack import token_for

pytestmark = pytest.mark.e2e


def test_an_approved_checkout_becomes_an_email_with_verifiable_tickets(local_stack: dict[str, Any]) -> None:
    gateway = local_stack["gateway"]
    event_id = publish_event(gateway, token_for(local_stack, "admin"))["id"]
    buyer_email = f"buyer-{time.time_ns()}@example.test"
    buyer = token_for(local_stack, "user", email=buyer_email)
    purchase = buy(gateway, buyer, event_id, ["Ana Pérez", "Luis Soto"])

    email = wait_for_email(local_stack["sendgrid"], buyer_email, approve(purchase))

    assert f"/api/v1/purchases/{purchase.order_id}/tickets.pdf?t=" in email["text"]
    signer = QrSigner(local_stack["secrets"]["QR_SECRET"])
    verified = [signer.verify(code) for code in qr_codes_in_attachment(email)]
    assert len(verified) == 2
    assert {ticket.event_id for ticket in verified} == {uuid.UUID(event_id)}
    status = requests.get(f"{gateway}/api/v1/purchases/{purchase.order_id}/status", headers=bearer(buyer), timeout=10)
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "completed"
    tickets = requests.get(f"{gateway}/api/v1/tickets/user/{user_id_of(buyer)}", headers=bearer(buyer), timeout=10)
    assert tickets.status_code == 200, tickets.text
    assert sorted(ticket["id"] for ticket in tickets.json()) == sorted(str(ticket.ticket_id) for ticket in verified)


def test_a_free_order_becomes_an_email_without_any_checkout(local_stack: dict[str, Any]) -> None:
    gateway = local_stack["gateway"]
    event_id = publish_event(gateway, token_for(local_stack, "admin"), name="Charla abierta", price=0)["id"]
    buyer_email = f"free-{time.time_ns()}@example.test"
    bought_at = time.monotonic()

    purchase = buy(gateway, token_for(local_stack, "user", email=buyer_email), event_id, ["Ana Pérez"])

    assert purchase.payment_link.endswith(f"/purchase/success?order_id={purchase.order_id}")
    email = wait_for_email(local_stack["sendgrid"], buyer_email, bought_at)
    [code] = qr_codes_in_attachment(email)
    assert QrSigner(local_stack["secrets"]["QR_SECRET"]).verify(code).event_id == uuid.UUID(event_id)
