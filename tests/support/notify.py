"""The notify function as SQS invokes it: records as the queue delivers them, and the ids it reports as failed."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.api_gateway import LambdaContext


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    """One delivery of `body` from the paid-orders queue (pass the same `message_id` for a redelivery)."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"handle-{uuid.uuid4().hex[:8]}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:crowdify-paid-orders",
        "awsRegion": "us-east-1",
    }


def sqs_records(*bodies: str) -> list[dict[str, Any]]:
    return [sqs_record(body) for body in bodies]


def run_notify(*records: dict[str, Any]) -> list[str]:
    """One invocation of the notify function with these records; the message ids it reported as failed."""
    from queue_send_tickets import lambda_handler

    result = lambda_handler({"Records": list(records)}, LambdaContext(function_name="queue_send_tickets"))
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]
