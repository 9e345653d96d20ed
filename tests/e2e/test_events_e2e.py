"""The README's first steps over HTTP: an admin token from `make token`, an event created, seen in the public list,
changed and cancelled with the old client's request shapes."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.journeys import bearer, publish_event
from tests.support.stack import token_for

pytestmark = pytest.mark.e2e


def test_an_admin_publishes_an_event_the_public_sees(local_stack: dict[str, Any]) -> None:
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    event = publish_event(gateway, admin, name="Festival del README", allow_children=True, category="musica")

    listed = requests.get(f"{gateway}/api/v1/events", params={"search": "README"}, timeout=10)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()] == [event["id"]]

    detail = requests.get(f"{gateway}/api/v1/events/{event['id']}", timeout=10).json()
    assert detail["capacity_available"] == 50 and len(detail["ticket_types"]) == 2

    changed = requests.put(
        f"{gateway}/api/v1/events/{event['id']}", json={"price": 15000.0}, headers=bearer(admin), timeout=10
    )
    assert changed.status_code == 200 and changed.json()["price"] == 15000

    refused = requests.delete(
        f"{gateway}/api/v1/events/{event['id']}", headers=bearer(token_for(local_stack, "coordinator")), timeout=10
    )
    assert refused.status_code == 403 and refused.json()["detail"]

    cancelled = requests.put(
        f"{gateway}/api/v1/events/{event['id']}", json={"status": "cancelled"}, headers=bearer(admin), timeout=10
    )
    assert cancelled.status_code == 200
    assert requests.get(f"{gateway}/api/v1/events", params={"search": "README"}, timeout=10).json() == []
