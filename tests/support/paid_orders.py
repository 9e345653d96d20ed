"""Fixtures for the paid-order path: moto SQS and S3 as the template declares them, MercadoPago and SendGrid
settings pointed at the emulators, and a signed MercadoPago notification to post to the webhook."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from crowdify.adapters import paid_orders_queue, tickets_bucket
from crowdify.adapters.mercadopago_client import payments
from crowdify.auth.webhook_signature import sign
from crowdify.config.settings import reset_settings
from local.mercadopago_emulator import MercadoPagoEmulator
from local.sendgrid_emulator import SendGridEmulator
from tests.support.api_gateway import HttpResponse, call
from tests.support.mercadopago import MERCADOPAGO_TEST_ACCESS_TOKEN, MERCADOPAGO_TEST_WEBHOOK_SECRET
from tests.support.sendgrid import SENDGRID_TEST_API_KEY

WEBHOOK = "/api/v1/purchases/webhook"
TICKETS_BUCKET = "crowdify-tickets-test"


@dataclass
class AwsResources:
    sqs: Any
    s3: Any
    queue_url: str
    dead_letter_queue_url: str
    bucket: str

    def received_messages(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """Every message on the paid-orders queue (received and deleted), bodies parsed."""
        bodies: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
            messages = answer.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            wait_seconds = 0


def _reset_aws_clients() -> None:
    paid_orders_queue.reset_client()
    tickets_bucket.reset_client()


@pytest.fixture
def aws_resources(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsResources]:
    """moto (in process): the paid-orders queue with its dead-letter queue, and the private tickets bucket."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        dead_letter_url = sqs.create_queue(QueueName="crowdify-paid-orders-dlq")["QueueUrl"]
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queue_url = sqs.create_queue(
            QueueName="crowdify-paid-orders",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": "5"})},
        )["QueueUrl"]
        s3.create_bucket(Bucket=TICKETS_BUCKET)
        monkeypatch.setenv("PAID_ORDERS_QUEUE_URL", queue_url)
        monkeypatch.setenv("TICKETS_BUCKET", TICKETS_BUCKET)
        reset_settings()
        _reset_aws_clients()
        yield AwsResources(sqs, s3, queue_url, dead_letter_url, TICKETS_BUCKET)
        monkeypatch.undo()
        reset_settings()
        _reset_aws_clients()


@pytest.fixture
def mercadopago(
    db: str, mercadopago_emulator: MercadoPagoEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MercadoPagoEmulator]:
    """The functions' MercadoPago is the emulator, with the test webhook secret."""
    monkeypatch.setenv("MERCADOPAGO_API_BASE_URL", mercadopago_emulator.url)
    monkeypatch.setenv("MERCADOPAGO_ACCESS_TOKEN", MERCADOPAGO_TEST_ACCESS_TOKEN)
    monkeypatch.setenv("MERCADOPAGO_WEBHOOK_SECRET", MERCADOPAGO_TEST_WEBHOOK_SECRET)
    monkeypatch.setenv("MERCADOPAGO_TIMEOUT_SECONDS", "2")
    reset_settings()
    payments.cache_clear()
    yield mercadopago_emulator
    monkeypatch.undo()
    reset_settings()
    payments.cache_clear()


@pytest.fixture
def sendgrid(
    db: str, sendgrid_emulator: SendGridEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SendGridEmulator]:
    """The functions' SendGrid is the emulator."""
    monkeypatch.setenv("SENDGRID_API_BASE_URL", sendgrid_emulator.url)
    monkeypatch.setenv("SENDGRID_API_KEY", SENDGRID_TEST_API_KEY)
    monkeypatch.setenv("SENDGRID_TIMEOUT_SECONDS", "3")
    reset_settings()
    yield sendgrid_emulator
    monkeypatch.undo()
    reset_settings()


def signature_headers(
    data_id: str, secret: str = MERCADOPAGO_TEST_WEBHOOK_SECRET, signed_data_id: str | None = None
) -> dict[str, str]:
    """x-signature and x-request-id as MercadoPago sends them (signed for `signed_data_id` when given)."""
    request_id = str(uuid.uuid4())
    timestamp = str(int(time.time() * 1000))
    signed = data_id if signed_data_id is None else signed_data_id
    return {
        "x-signature": f"ts={timestamp},v1={sign(secret, signed, request_id, timestamp)}",
        "x-request-id": request_id,
    }


def post_notification(payment_id: str, headers: dict[str, str] | None = None, topic: str = "payment") -> HttpResponse:
    """POST the webhook like MercadoPago: data.id and type in the query string and the body; signed by default."""
    return call(
        "post_purchases_webhook",
        "POST",
        WEBHOOK,
        query={"source_news": "webhooks", "data.id": payment_id, "type": topic},
        body={"action": "payment.updated", "api_version": "v1", "data": {"id": payment_id}, "type": topic},
        headers=signature_headers(payment_id) if headers is None else headers,
    )


def create_payment(
    emulator: MercadoPagoEmulator,
    order_id: uuid.UUID | str,
    amount: Any,
    *,
    status: str = "approved",
    currency: str = "CLP",
) -> str:
    """A payment in the emulator for that order (no webhook sent: tests post it themselves); returns its id."""
    from tests.support.mercadopago import emulator_call

    answer_status, payment = emulator_call(
        emulator,
        "POST",
        "/_emulator/payments",
        {
            "external_reference": str(order_id),
            "transaction_amount": str(amount),
            "currency_id": currency,
            "status": status,
            "notify": False,
        },
    )
    assert answer_status == 201, payment
    return str(payment["id"])


def update_payment(emulator: MercadoPagoEmulator, payment_id: str, status: str) -> dict[str, Any]:
    from tests.support.mercadopago import emulator_call

    answer_status, payment = emulator_call(
        emulator, "POST", f"/_emulator/payments/{payment_id}", {"status": status, "notify": False}
    )
    assert answer_status == 200, payment
    return payment


def fetch_payment(emulator: MercadoPagoEmulator, payment_id: str) -> dict[str, Any]:
    """The payment as MercadoPago's API shows it (refunds included)."""
    from tests.support.mercadopago import emulator_call

    answer_status, payment = emulator_call(
        emulator,
        "GET",
        f"/v1/payments/{payment_id}",
        headers={"Authorization": f"Bearer {MERCADOPAGO_TEST_ACCESS_TOKEN}"},
    )
    assert answer_status == 200, payment
    return payment
