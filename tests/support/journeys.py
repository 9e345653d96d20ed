"""Steps a person takes through the local stack over HTTP: publish an event, buy, approve, read the email."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pypdfium2
import requests
import zxingcpp

EMAIL_DEADLINE_SECONDS = 10


@dataclass(frozen=True)
class Purchase:
    order_id: str
    payment_link: str


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_id_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def publish_event(gateway: str, admin_token: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Noche de prueba e2e",
        "location_text": "Teatro Caupolicán",
        "starts_at": "2031-03-01T21:00:00",
        "capacity_total": 50,
        "price": 12000,
        **fields,
    }
    created = requests.post(f"{gateway}/api/v1/events", json=body, headers=bearer(admin_token), timeout=10)
    assert created.status_code == 201, created.text
    return created.json()


def buy(gateway: str, buyer_token: str, event_id: str, holder_names: list[str]) -> Purchase:
    attendees = [
        {"name": name, "document_type": "RUT", "document_number": f"{index + 11}.111.111-1"}
        for index, name in enumerate(holder_names)
    ]
    body = {"user_id": user_id_of(buyer_token), "event_id": event_id, "attendees": attendees}
    answer = requests.post(f"{gateway}/api/v1/purchases", json=body, headers=bearer(buyer_token), timeout=15)
    assert answer.status_code == 200, answer.text
    return Purchase(answer.json()["order_id"], answer.json()["payment_link"])


def approve(purchase: Purchase) -> float:
    """Clicks Approve on the emulator's checkout page; returns when (monotonic) it was approved."""
    approved = requests.post(purchase.payment_link, data={"status": "approved"}, timeout=10)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    return time.monotonic()


def wait_for_email(sendgrid_url: str, recipient: str, approved_at: float) -> dict[str, Any]:
    deadline = approved_at + EMAIL_DEADLINE_SECONDS
    while True:
        for message in requests.get(f"{sendgrid_url}/outbox", timeout=5).json():
            if recipient in message["to"]:
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no email to {recipient} within {EMAIL_DEADLINE_SECONDS} s of the approval")
        time.sleep(0.2)


def qr_codes_in_attachment(email: dict[str, Any]) -> list[str]:
    """The text of the one QR code on each page of the emailed PDF, read from the rendered page as a camera would."""
    [attachment] = email["attachments"]
    codes = []
    for page in pypdfium2.PdfDocument(base64.b64decode(attachment["content"])):
        # QR codes only (the page's text now and then reads as a linear barcode of some other format), each text once.
        qr_codes = zxingcpp.read_barcodes(page.render(scale=2).to_pil(), formats=zxingcpp.BarcodeFormat.QRCode)
        [code] = {found.text: found for found in qr_codes}.values()
        codes.append(code.text)
    return codes
