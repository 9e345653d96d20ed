"""webhook: latency (p50/p99) and SQL statements per MercadoPago notification, through the real
`mercadopago_webhook.lambda_handler` with signed API Gateway v2 events.

Two paths: the first approval of a pending order (payment lookup on the MercadoPago emulator over HTTP, one
transaction that completes the order and issues two tickets, the outbox message published to moto SQS over HTTP),
and a redelivery of the same notification (lookup, lock, nothing to do). The emulator and moto run in this
process, so their CPU is inside the latency: an upper bound of what the function itself costs.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

from bench._paid_orders_environment import (
    MERCADOPAGO_ACCESS_TOKEN,
    MERCADOPAGO_WEBHOOK_SECRET,
    StatementCounter,
    create_buyer,
    paid_orders_environment,
)
from tests.support.api_gateway import LambdaContext

NOTIFICATIONS = 80
ATTENDEES_PER_ORDER = 2


def run() -> dict[str, Any]:
    with paid_orders_environment() as environment:
        from post_purchases_webhook import lambda_handler

        from tests.support.orders import create_event, create_pending_order

        event = create_event(capacity=100_000)
        buyer_id = create_buyer()
        payment_ids = []
        for _ in range(NOTIFICATIONS + 1):
            order = create_pending_order(event, buyer_id, attendees=ATTENDEES_PER_ORDER)
            payment_ids.append(_create_payment(environment.mercadopago, order.id, order.total))
        counter = StatementCounter()
        _notify(lambda_handler, payment_ids[0])  # warm-up: imports, connections, clients

        results = {}
        for path, expected in (("first_approval", "completed"), ("redelivery", "already_applied")):
            latencies = []
            statements = []
            for payment_id in payment_ids[1:]:
                before = counter.count
                started = time.perf_counter()
                answer = _notify(lambda_handler, payment_id)
                latencies.append((time.perf_counter() - started) * 1000)
                statements.append(counter.count - before)
                action = json.loads(answer["body"]).get("action")
                if answer["statusCode"] != 200 or action != expected:
                    raise RuntimeError(f"unexpected webhook answer on the {path} path: {answer}")
            results[path] = {
                "p50_ms": round(statistics.median(latencies), 1),
                "p99_ms": round(_percentile(latencies, 99), 1),
                "statements_per_notification": round(statistics.mean(statements), 2),
            }
    return {**results, "notifications_per_path": NOTIFICATIONS}


def _notify(handler: Any, payment_id: str) -> dict[str, Any]:
    from crowdify.auth.webhook_signature import sign
    from tests.support.api_gateway import build_event

    request_id = str(uuid.uuid4())
    timestamp = str(int(time.time() * 1000))
    signature = sign(MERCADOPAGO_WEBHOOK_SECRET, payment_id, request_id, timestamp)
    event = build_event(
        "POST",
        "/api/v1/purchases/webhook",
        query={"source_news": "webhooks", "data.id": payment_id, "type": "payment"},
        body={"action": "payment.created", "api_version": "v1", "data": {"id": payment_id}, "type": "payment"},
        headers={"x-signature": f"ts={timestamp},v1={signature}", "x-request-id": request_id},
    )
    return handler(event, LambdaContext(function_name="bench-webhook"))


def _create_payment(emulator: Any, order_id: uuid.UUID, amount: Any) -> str:
    import urllib.request

    request = urllib.request.Request(
        f"{emulator.url}/_emulator/payments",
        data=json.dumps(
            {
                "external_reference": str(order_id),
                "transaction_amount": str(amount),
                "currency_id": "CLP",
                "notify": False,
            }
        ).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {MERCADOPAGO_ACCESS_TOKEN}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return str(json.loads(answer.read())["id"])


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
