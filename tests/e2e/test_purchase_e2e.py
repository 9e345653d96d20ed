"""A purchase through the local stack over HTTP: buyer token, purchase, the checkout page on the emulator."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
import requests

from tests.support.stack import token_for

pytestmark = pytest.mark.e2e


def test_a_buyer_purchases_and_reaches_the_checkout_page(local_stack: dict[str, Any]) -> None:
    gateway = local_stack["gateway"]
    admin = {"Authorization": f"Bearer {token_for(local_stack, 'admin')}"}
    buyer_token = token_for(local_stack, "user", "e2e-buyer@example.test")
    buyer = {"Authorization": f"Bearer {buyer_token}"}
    event = requests.post(
        f"{gateway}/api/v1/events",
        json={"name": "E2E Concierto", "starts_at": "2030-03-01T21:00:00", "capacity_total": 10, "price": 12000},
        headers=admin,
        timeout=30,
    )
    assert event.status_code == 201, event.text
    body = {
        "user_id": jwt.decode(buyer_token, options={"verify_signature": False})["sub"],
        "event_id": event.json()["id"],
        "attendees": [{"name": "Ana Pérez", "document_type": "RUT", "document_number": "11.111.111-1"}],
        "idempotency_key": "e2e-purchase-1",
    }

    purchase = requests.post(f"{gateway}/api/v1/purchases", json=body, headers=buyer, timeout=30)

    assert purchase.status_code == 200, purchase.text
    answer = purchase.json()
    assert answer["status"] == "pending"
    assert answer["payment_link"].startswith(local_stack["mercadopago"])
    page = requests.get(answer["payment_link"], timeout=10)
    assert page.status_code == 200 and "Approve" in page.text and "24000" not in page.text and "12000" in page.text
    status = requests.get(f"{gateway}/api/v1/purchases/{answer['order_id']}/status", headers=buyer, timeout=30)
    assert status.status_code == 200 and status.json()["status"] == "pending" and status.json()["total"] == 12000
    retried = requests.post(f"{gateway}/api/v1/purchases", json=body, headers=buyer, timeout=30)
    assert retried.json() == answer
