"""GET /ready per dependency, and the admin's test email through the SendGrid emulator."""

from __future__ import annotations

import json
import urllib.request

import pytest

from crowdify.config.settings import reset_settings
from local.sendgrid_emulator import SendGridEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity
from tests.support.paid_orders import AwsResources


def test_ready_reports_each_dependency(aws_resources: AwsResources, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = call("get_ready", "GET", "/ready")
    assert answer.status == 200, answer.body
    assert answer.json() == {"status": "ready", "checks": {"database": "ok", "queue": "ok", "bucket": "ok"}}

    aws_resources.s3.delete_bucket(Bucket=aws_resources.bucket)
    no_bucket = call("get_ready", "GET", "/ready")
    assert no_bucket.status == 503
    assert no_bucket.json()["checks"] == {"database": "ok", "queue": "ok", "bucket": "unavailable"}

    monkeypatch.setenv("PAID_ORDERS_QUEUE_URL", "")
    reset_settings()
    assert call("get_ready", "GET", "/ready").json()["checks"]["queue"] == "not_configured"


def test_ready_reports_the_database_down(aws_resources: AwsResources, monkeypatch: pytest.MonkeyPatch) -> None:
    from crowdify.persistence.database import dispose_engine

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    reset_settings()
    dispose_engine()
    try:
        answer = call("get_ready", "GET", "/ready")
    finally:
        monkeypatch.undo()
        reset_settings()
        dispose_engine()
    assert answer.status == 503
    assert answer.json()["checks"]["database"] == "unavailable"


def outbox(sendgrid: SendGridEmulator) -> list[dict]:
    with urllib.request.urlopen(f"{sendgrid.url}/outbox", timeout=5) as answer:
        return json.loads(answer.read())


def test_admin_sends_a_test_email(admin: Identity, sendgrid: SendGridEmulator) -> None:
    sent = call(
        "post_notifications_test_email",
        "POST",
        "/api/v1/notifications/test-email",
        query={"to_email": "ops@example.test"},
        token=admin.token,
    )
    assert sent.status == 200, sent.body
    [message] = outbox(sendgrid)
    assert message["to"] == ["ops@example.test"] and "prueba" in message["subject"]
    assert sent.json()["message_id"]

    sendgrid.set_faults("500", 1)
    down = call(
        "post_notifications_test_email",
        "POST",
        "/api/v1/notifications/test-email",
        query={"to_email": "ops@example.test"},
        token=admin.token,
    )
    assert down.status == 503 and len(outbox(sendgrid)) == 1
    missing = call("post_notifications_test_email", "POST", "/api/v1/notifications/test-email", token=admin.token)
    assert missing.status == 422
