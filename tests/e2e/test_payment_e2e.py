"""A purchase through the local stack over HTTP: checkout, Approve on the MercadoPago emulator, the signed webhook,
SQS, notify, and the email with the PDF whose QR codes verify — within the 10 s DESIGN.md promises."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
import pypdfium2
import pytest
import requests
import zxingcpp

from crowdify.qr_tokens import QrSigner
from tests.support.stack import token_for

pytestmark = pytest.mark.e2e

EMAIL_DEADLINE_SECONDS = 10


def test_an_approved_checkout_becomes_an_email_with_verifiable_tickets(local_stack: dict[str, Any]) -> None:
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    buyer_email = f"buyer-{time.time_ns()}@example.test"
    buyer = token_for(local_stack, "user", email=buyer_email)
    buyer_id = jwt.decode(buyer, options={"verify_signature": False})["sub"]
    created = requests.post(
        f"{gateway}/api/v1/events",
        json={
            "name": "Noche de prueba e2e",
            "location_text": "Teatro Caupolicán",
            "starts_at": "2031-03-01T21:00:00",
            "capacity_total": 50,
            "price": 12000,
        },
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    purchase = requests.post(
        f"{gateway}/api/v1/purchases",
        json={
            "user_id": buyer_id,
            "event_id": event_id,
            "attendees": [
                {"name": "Ana Pérez", "document_type": "RUT", "document_number": "11.111.111-1"},
                {"name": "Luis Soto", "document_type": "RUT", "document_number": "22.222.222-2"},
            ],
        },
        headers={"Authorization": f"Bearer {buyer}"},
        timeout=15,
    )
    assert purchase.status_code == 200, purchase.text
    order_id = purchase.json()["order_id"]

    approved = requests.post(purchase.json()["payment_link"], data={"status": "approved"}, timeout=10)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    approved_at = time.monotonic()

    email = _wait_for_email(local_stack["sendgrid"], buyer_email, approved_at + EMAIL_DEADLINE_SECONDS)

    assert f"/api/v1/purchases/{order_id}/tickets.pdf?t=" in email["text"]
    [attachment] = email["attachments"]
    pdf = base64.b64decode(attachment["content"])
    signer = QrSigner(local_stack["secrets"]["QR_SECRET"])
    verified = []
    for page in pypdfium2.PdfDocument(pdf):
        [code] = zxingcpp.read_barcodes(page.render(scale=2).to_pil())
        verified.append(signer.verify(code.text))
    assert len(verified) == 2
    assert {ticket.event_id for ticket in verified} == {uuid.UUID(event_id)}
    status = requests.get(
        f"{gateway}/api/v1/purchases/{order_id}/status", headers={"Authorization": f"Bearer {buyer}"}, timeout=10
    )
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "completed"
    tickets = requests.get(
        f"{gateway}/api/v1/tickets/user/{buyer_id}", headers={"Authorization": f"Bearer {buyer}"}, timeout=10
    )
    assert tickets.status_code == 200, tickets.text
    assert sorted(ticket["id"] for ticket in tickets.json()) == sorted(str(ticket.ticket_id) for ticket in verified)


def _wait_for_email(sendgrid_url: str, recipient: str, deadline: float) -> dict[str, Any]:
    while True:
        messages = requests.get(f"{sendgrid_url}/outbox", timeout=5).json()
        for message in messages:
            if recipient in message["to"]:
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no email to {recipient} within {EMAIL_DEADLINE_SECONDS} s of the approval")
        time.sleep(0.2)
