"""notify: milliseconds per ticket page (PDF + QR) and per paid order of 1, 10 and 100 tickets, end to end through
`send_tickets.lambda_handler` (database claim and load, PDF, moto S3 over HTTP, the SendGrid emulator over HTTP).

The page figure renders one 100-page PDF (the cost that grows with tickets); the order figures are medians of a few
orders each, one SQS record per invocation, after one warm-up order. Target: ≤ 20 ms per ticket page.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench._paid_orders_environment import create_buyer, paid_orders_environment
from tests.support.api_gateway import LambdaContext

ORDER_SIZES = (1, 10, 100)
REPETITIONS = {1: 7, 10: 5, 100: 3}
PAGES_FOR_PAGE_FIGURE = 100
TARGET_MS_PER_PAGE = 20.0


def run() -> dict[str, Any]:
    with paid_orders_environment():
        from queue_send_tickets import lambda_handler

        from tests.support.orders import create_event

        event = create_event(capacity=10_000)
        buyer_id = create_buyer()
        page_ms = _pdf_ms_per_page()
        lambda_handler(
            _sqs_event(_paid_order_message(event, buyer_id, 1)), LambdaContext(function_name="bench-notify")
        )  # warm-up
        orders: dict[str, Any] = {}
        for size in ORDER_SIZES:
            timings = []
            for _ in range(REPETITIONS[size]):
                body = _paid_order_message(event, buyer_id, size)
                started = time.perf_counter()
                answer = lambda_handler(_sqs_event(body), LambdaContext(function_name="bench-notify"))
                timings.append((time.perf_counter() - started) * 1000)
                if answer["batchItemFailures"]:
                    raise RuntimeError(f"notify failed a record: {answer}")
            median = statistics.median(timings)
            orders[f"{size}_tickets"] = {"ms_per_order": round(median, 1), "ms_per_page": round(median / size, 2)}
    return {
        "pdf_ms_per_page": round(page_ms, 2),
        "orders": orders,
        "target_ms_per_page": TARGET_MS_PER_PAGE,
        "meets_target": orders["100_tickets"]["ms_per_page"] <= TARGET_MS_PER_PAGE,
    }


def _pdf_ms_per_page() -> float:
    from ticket_pdf import TicketPage, render_tickets_pdf

    from crowdify.auth.qr_tokens import QrSigner
    from crowdify.config.settings import get_settings

    signer = QrSigner(get_settings().qr_secret)
    event_id = uuid.uuid4()
    pages = []
    for number in range(PAGES_FOR_PAGE_FIGURE):
        ticket_id = uuid.uuid4()
        pages.append(
            TicketPage(
                event_name="Festival de Invierno",
                starts_at=datetime(2031, 7, 1, 23, 0, tzinfo=UTC),
                timezone_name="America/Santiago",
                venue="Parque O'Higgins, Santiago",
                ticket_type_name="General",
                holder_name=f"Asistente {number} Pérez",
                order_id=uuid.uuid4(),
                ticket_id=ticket_id,
                qr_signature=signer.sign_ticket(ticket_id, event_id),
            )
        )
    render_tickets_pdf(pages[:2])
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        render_tickets_pdf(pages)
        timings.append((time.perf_counter() - started) * 1000 / PAGES_FOR_PAGE_FIGURE)
    return statistics.median(timings)


def _paid_order_message(event: Any, buyer_id: uuid.UUID, attendees: int) -> str:
    from sqlalchemy import select

    from crowdify.domain.order_payments import complete_order
    from crowdify.persistence.models import Order
    from crowdify.persistence.sessions import db_session
    from tests.support.orders import create_pending_order

    pending = create_pending_order(event, buyer_id, attendees=attendees, buyer_email="buyer@example.test")
    with db_session() as session:
        order = session.scalars(select(Order).where(Order.id == pending.id).with_for_update()).one()
        message = complete_order(session, order, payment_id=None, paid_at=datetime.now(UTC))
        return json.dumps(message.payload)


def _sqs_event(body: str) -> dict[str, Any]:
    from tests.support.notify import sqs_record

    return {"Records": [sqs_record(body)]}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
