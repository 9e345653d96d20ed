"""At the door, over HTTP on the local stack: the QR code read from the emailed PDF checks in once, then never."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.support.journeys import approve, bearer, buy, publish_event, qr_codes_in_attachment, wait_for_email
from tests.support.stack import token_for

pytestmark = pytest.mark.e2e


def validate(gateway: str, token: str, qr_signature: str, event_id: str) -> dict[str, Any]:
    answer = requests.post(
        f"{gateway}/api/v1/tickets/validate",
        json={"qr_signature": qr_signature, "inspector_id": "puerta-norte", "event_id": event_id},
        headers=bearer(token),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_emailed_ticket_checks_in_exactly_once(local_stack: dict[str, Any]) -> None:
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    event_id = publish_event(gateway, admin, name="Puerta e2e")["id"]
    buyer_email = f"door-{time.time_ns()}@example.test"
    purchase = buy(gateway, token_for(local_stack, "user", email=buyer_email), event_id, ["Ana Pérez"])
    [qr_signature] = qr_codes_in_attachment(wait_for_email(local_stack["sendgrid"], buyer_email, approve(purchase)))

    device = requests.post(
        f"{gateway}/api/v1/admin/scanner-devices",
        json={"name": "Puerta norte", "event_ids": [event_id]},
        headers=bearer(admin),
        timeout=10,
    )
    assert device.status_code == 201, device.text

    first = validate(gateway, device.json()["token"], qr_signature, event_id)
    assert (first["valid"], first["status"], first["attendee_name"]) == (True, "accepted", "Ana Pérez")
    again = validate(gateway, token_for(local_stack, "scanner"), qr_signature, event_id)
    assert (again["valid"], again["status"]) == (False, "already_used")
    assert again["ticket_id"] == first["ticket_id"]
