"""The CloudWatch dashboard in template.yaml is valid JSON and charts every business metric and every alarm."""

from __future__ import annotations

import json
import re
from pathlib import Path

from local.sam_template import load_template

REPOSITORY = Path(__file__).resolve().parents[2]
BUSINESS_METRICS = REPOSITORY / "layers" / "shared" / "crowdify" / "observability" / "business_metrics.py"


def dashboard() -> dict:
    template = load_template(REPOSITORY / "template.yaml")
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    substituted = body["Fn::Sub"] if isinstance(body, dict) else body
    # CloudFormation fills ${…}; any stand-in keeps the JSON's shape.
    return json.loads(re.sub(r"\$\{[^}]+\}", "placeholder", substituted))


def test_the_dashboard_charts_every_metric_the_functions_print() -> None:
    emitted = set(re.findall(r'_emit\(\s*"(\w+)"', BUSINESS_METRICS.read_text()))
    emitted |= set(re.findall(r'"(Emails\w+)"', BUSINESS_METRICS.read_text()))
    charted = json.dumps(dashboard())
    assert emitted, "no metric names found in business_metrics.py"
    assert [name for name in sorted(emitted) if name not in charted] == []


def test_the_dashboard_shows_every_alarm() -> None:
    template = load_template(REPOSITORY / "template.yaml")
    alarms = {name for name, resource in template["Resources"].items() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert {name for name in alarms if f"${{{name}.Arn}}" not in body} == set()
    assert any(widget["type"] == "alarm" for widget in dashboard()["widgets"])
