"""The business metrics print CloudWatch EMF lines: one JSON object per fact, with its namespace and dimension."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from crowdify.observability import business_metrics


def emf_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_tickets_sold_prints_a_count_and_the_revenue_per_currency(capsys: pytest.CaptureFixture[str]) -> None:
    business_metrics.tickets_sold(3, Decimal("45000.00"), "CLP")
    lines = emf_lines(capsys.readouterr().out)
    assert [line.get("TicketsSold", line.get("Revenue")) for line in lines] == [[3.0], [45000.0]]
    for line in lines:
        metric_set = line["_aws"]["CloudWatchMetrics"][0]
        assert metric_set["Namespace"] == "CrowdifyTests"
        assert ["currency"] in [sorted(set(dimensions) - {"service"}) for dimensions in metric_set["Dimensions"]]
        assert line["currency"] == "CLP"


def test_only_settled_payments_that_matter_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("completed", "amount_mismatch", "duplicate_payment", "recorded", "stale"):
        business_metrics.payment_settled(action)
    lines = emf_lines(capsys.readouterr().out)
    assert [line["outcome"] for line in lines] == ["applied", "mismatched", "refunded"]
