"""What an operator's dashboard reads: the CloudWatch EMF lines a purchase, a payment notification and a door scan
print (one JSON object per line with an `_aws` key, as Lambda's log agent takes them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api_gateway import call
from tests.support.identities import Identity
from tests.support.orders import create_event as create_order_event
from tests.support.orders import create_pending_order
from tests.support.paid_orders import create_payment, post_notification
from tests.support.purchases import buy, create_event, purchase_body
from tests.support.tickets import issue_tickets


def metrics_printed(output: str) -> list[tuple[str, float, dict[str, str]]]:
    """(metric name, value, dimensions) for every EMF line in `output`."""
    found = []
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document: dict[str, Any] = json.loads(line)
        for metric_set in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for group in metric_set["Dimensions"] for name in group}
            dimensions.pop("service", None)
            for metric in metric_set["Metrics"]:
                found += [(metric["Name"], value, dimensions) for value in document[metric["Name"]]]
    return found


def test_a_purchase_refused_as_sold_out_is_counted(
    checkout: Any, admin: Identity, buyer: Identity, other_buyer: Identity, capsys: pytest.CaptureFixture[str]
) -> None:
    event = create_event(admin, capacity_total=1)
    assert buy(buyer, purchase_body(buyer, event["id"])).status == 200
    capsys.readouterr()

    assert buy(other_buyer, purchase_body(other_buyer, event["id"])).status == 409

    assert metrics_printed(capsys.readouterr().out) == [("HoldsRefused", 1.0, {"reason": "sold_out"})]


def test_a_payment_notification_that_completes_an_order_counts_the_payment_the_tickets_and_the_revenue(
    buyer: Identity, mercadopago: Any, aws_resources: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    order = create_pending_order(create_order_event(), buyer.user_id, attendees=3)
    payment_id = create_payment(mercadopago, order.id, order.total)
    capsys.readouterr()

    assert post_notification(payment_id).json()["action"] == "completed"

    printed = metrics_printed(capsys.readouterr().out)
    assert ("Payments", 1.0, {"outcome": "applied"}) in printed
    assert ("TicketsSold", 3.0, {"currency": "CLP"}) in printed
    assert ("Revenue", float(order.total), {"currency": "CLP"}) in printed
    assert len(printed) == 3

    capsys.readouterr()
    post_notification(payment_id)  # a redelivery changes nothing, and counts nothing
    assert metrics_printed(capsys.readouterr().out) == []


def test_door_scans_are_counted_by_verdict(scanner: Identity, capsys: pytest.CaptureFixture[str]) -> None:
    ticket = issue_tickets(1).tickets[0]
    capsys.readouterr()

    for _attempt in range(2):
        body = {"qr_signature": ticket.qr_signature, "event_id": str(ticket.event_id)}
        assert (
            call("post_tickets_validate", "POST", "/api/v1/tickets/validate", body=body, token=scanner.token).status
            == 200
        )

    assert metrics_printed(capsys.readouterr().out) == [
        ("CheckIns", 1.0, {"verdict": "accepted"}),
        ("CheckIns", 1.0, {"verdict": "already_used"}),
    ]
