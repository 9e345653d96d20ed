"""The notify function: paid-order messages from SQS to a PDF on (moto) S3 and one email in the SendGrid emulator."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pypdfium2
import pytest
import zxingcpp
from sqlalchemy import select, text

from crowdify.auth.backend_tokens import DOWNLOAD_TOKEN, decode_backend_token
from crowdify.auth.qr_tokens import keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.domain.order_payments import cancel_tickets, complete_order
from crowdify.domain.outbox import enqueue_paid_order
from crowdify.persistence.database import engine
from crowdify.persistence.models import Order
from crowdify.persistence.sessions import db_session
from local.sendgrid_emulator import SendGridEmulator
from tests.support.identities import Identity
from tests.support.notify import run_notify, sqs_records
from tests.support.orders import create_event, create_pending_order
from tests.support.paid_orders import AwsResources
from tests.support.races import all_at_once
from tests.support.sendgrid import sent_emails

pytestmark = pytest.mark.usefixtures("aws_resources", "sendgrid")


def paid_order(buyer: Identity, attendees: int = 2) -> tuple[uuid.UUID, str]:
    """A completed order and the body of its paid-order message."""
    order = create_pending_order(create_event(), buyer.user_id, attendees=attendees, buyer_email=buyer.email)
    with db_session() as session:
        row = session.scalars(select(Order).where(Order.id == order.id).with_for_update()).one()
        message = complete_order(session, row, payment_id=str(uuid.uuid4().int)[:12], paid_at=datetime.now(UTC))
        body = json.dumps(message.payload)
    return order.id, body


def resend_message(order_id: uuid.UUID) -> str:
    with db_session() as session:
        return json.dumps(enqueue_paid_order(session, order_id, "resend").payload)


def deliveries() -> list[dict[str, Any]]:
    with engine().connect() as connection:
        return [dict(row) for row in connection.execute(text("SELECT * FROM email_deliveries")).mappings()]


def qr_texts(pdf: bytes) -> list[list[str]]:
    """The text of every QR code on each page (the page's text now and then reads as a linear barcode of another
    format)."""
    document = pypdfium2.PdfDocument(pdf)
    qr_code = zxingcpp.BarcodeFormat.QRCode
    return [
        [code.text for code in zxingcpp.read_barcodes(page.render(scale=2).to_pil(), formats=qr_code)]
        for page in document
    ]


def test_a_paid_order_becomes_one_email_with_the_pdf_and_a_download_link(
    buyer: Identity, sendgrid: SendGridEmulator, aws_resources: AwsResources
) -> None:
    order_id, body = paid_order(buyer, attendees=3)

    assert run_notify(*sqs_records(body)) == []

    emails = sent_emails(sendgrid)
    assert len(emails) == 1
    email = emails[0]
    assert email["to"] == [buyer.email]
    assert email["from"] == get_settings().email_from
    assert email["subject"] == "Tus entradas para Concierto de prueba"
    assert len(email["attachments"]) == 1
    attachment = email["attachments"][0]
    assert attachment["type"] == "application/pdf"
    pdf = base64.b64decode(attachment["content"])
    stored = aws_resources.s3.get_object(Bucket=aws_resources.bucket, Key=f"orders/{order_id}/tickets.pdf")
    assert stored["Body"].read() == pdf
    assert stored["ContentType"] == "application/pdf"

    link = f"{get_settings().public_base_url}/api/v1/purchases/{order_id}/tickets.pdf?t="
    assert link in email["text"]
    assert link in email["html"]
    token = re.search(re.escape(link) + r"([\w.-]+)", email["text"]).group(1)
    claims = decode_backend_token(token, get_settings().jwt_secret, DOWNLOAD_TOKEN)
    assert claims["sub"] == str(order_id)

    with engine().connect() as connection:
        order_key = connection.execute(text("SELECT pdf_object_key FROM orders WHERE id = :id"), {"id": order_id})
        assert order_key.scalar_one() == f"orders/{order_id}/tickets.pdf"
        ticket_keys = connection.execute(
            text("SELECT pdf_object_key FROM tickets WHERE order_id = :id"), {"id": order_id}
        )
        assert set(ticket_keys.scalars()) == {f"orders/{order_id}/tickets.pdf"}
    [delivery] = deliveries()
    assert (delivery["status"], delivery["recipient"], delivery["order_id"]) == ("sent", buyer.email, order_id)
    assert delivery["sent_at"] is not None
    assert delivery["provider_message_id"]


def test_every_page_has_one_qr_code_that_verifies_and_names_a_ticket_of_the_order(
    buyer: Identity, sendgrid: SendGridEmulator
) -> None:
    order_id, body = paid_order(buyer, attendees=3)

    assert run_notify(*sqs_records(body)) == []

    pdf = base64.b64decode(sent_emails(sendgrid)[0]["attachments"][0]["content"])
    pages = qr_texts(pdf)
    assert [len(codes) for codes in pages] == [1, 1, 1]
    signer = keyring_from_settings(get_settings())
    verified = [signer.verify(codes[0]) for codes in pages]
    with engine().connect() as connection:
        tickets = connection.execute(
            text("SELECT id, event_id FROM tickets WHERE order_id = :id"), {"id": order_id}
        ).all()
    assert sorted((ticket.ticket_id, ticket.event_id) for ticket in verified) == sorted(
        (row.id, row.event_id) for row in tickets
    )


def test_the_same_message_delivered_three_times_sends_one_email(buyer: Identity, sendgrid: SendGridEmulator) -> None:
    _, body = paid_order(buyer)

    for _ in range(3):
        assert run_notify(*sqs_records(body)) == []

    assert len(sent_emails(sendgrid)) == 1
    assert [delivery["status"] for delivery in deliveries()] == ["sent"]


def test_concurrent_deliveries_of_one_message_send_exactly_once(buyer: Identity, sendgrid: SendGridEmulator) -> None:
    from paid_order_delivery import DeliveryInProgress, PaidOrderMessage, deliver_paid_order

    _, body = paid_order(buyer)
    message = PaidOrderMessage.model_validate_json(body)

    def deliver(_: int) -> str:
        try:
            return deliver_paid_order(message)
        except DeliveryInProgress:
            return "in_progress"

    results = all_at_once(deliver, racers=4)

    assert results.count("sent") == 1
    assert set(results) <= {"sent", "in_progress", "already_sent"}
    assert len(sent_emails(sendgrid)) == 1
    # Those that found it in progress are redelivered by SQS later, and then find it sent.
    assert deliver_paid_order(message) == "already_sent"
    assert len(sent_emails(sendgrid)) == 1


def test_a_resend_is_a_new_message_and_sends_again(buyer: Identity, sendgrid: SendGridEmulator) -> None:
    order_id, body = paid_order(buyer)
    assert run_notify(*sqs_records(body)) == []

    assert run_notify(*sqs_records(resend_message(order_id))) == []

    assert len(sent_emails(sendgrid)) == 2
    assert [delivery["status"] for delivery in deliveries()] == ["sent", "sent"]


def test_sendgrid_failing_fails_that_record_only_and_records_no_delivery(
    buyer: Identity, other_buyer: Identity, sendgrid: SendGridEmulator
) -> None:
    first_order, first_body = paid_order(buyer)
    _, second_body = paid_order(other_buyer)
    sendgrid.set_faults("500", 1)
    records = sqs_records(first_body, second_body)

    failed = run_notify(*records)

    assert failed == [records[0]["messageId"]]
    emails = sent_emails(sendgrid)
    assert [email["to"] for email in emails] == [[other_buyer.email]]
    assert [delivery["recipient"] for delivery in deliveries()] == [other_buyer.email]

    # SQS redelivers the failed record: now it is sent, once.
    assert run_notify(*sqs_records(first_body)) == []
    assert len(sent_emails(sendgrid)) == 2
    assert {delivery["order_id"] for delivery in deliveries()} >= {first_order}


def test_a_batch_whose_every_record_fails_reports_each_record(buyer: Identity, sendgrid: SendGridEmulator) -> None:
    _, body = paid_order(buyer)
    sendgrid.set_faults("500", 5)
    records = sqs_records(body)

    assert run_notify(*records) == [records[0]["messageId"]]
    assert deliveries() == []


def test_s3_failing_fails_the_record_and_sends_nothing(
    buyer: Identity, sendgrid: SendGridEmulator, aws_resources: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crowdify.config.settings import reset_settings

    _, body = paid_order(buyer)
    monkeypatch.setenv("TICKETS_BUCKET", "no-such-bucket")
    reset_settings()
    records = sqs_records(body)

    assert run_notify(*records) == [records[0]["messageId"]]
    assert sent_emails(sendgrid) == []
    assert deliveries() == []

    monkeypatch.setenv("TICKETS_BUCKET", aws_resources.bucket)
    reset_settings()
    assert run_notify(*sqs_records(body)) == []
    assert len(sent_emails(sendgrid)) == 1


def test_a_message_that_is_not_a_paid_order_message_fails_alone(buyer: Identity, sendgrid: SendGridEmulator) -> None:
    _, body = paid_order(buyer)
    records = sqs_records("{not json", body)

    assert run_notify(*records) == [records[0]["messageId"]]
    assert len(sent_emails(sendgrid)) == 1


def test_cancelled_tickets_are_left_out_and_a_refunded_order_is_not_emailed(
    buyer: Identity, sendgrid: SendGridEmulator
) -> None:
    order_id, body = paid_order(buyer, attendees=3)
    with db_session() as session:
        order = session.get(Order, order_id)
        first_ticket = session.scalars(
            text("SELECT id FROM tickets WHERE order_id = :id LIMIT 1"), {"id": order_id}
        ).one()
        cancel_tickets(session, order, [first_ticket])

    assert run_notify(*sqs_records(body)) == []
    pdf = base64.b64decode(sent_emails(sendgrid)[0]["attachments"][0]["content"])
    assert len(qr_texts(pdf)) == 2

    with engine().begin() as connection:
        connection.execute(text("UPDATE orders SET status = 'refunded' WHERE id = :id"), {"id": order_id})
    assert run_notify(*sqs_records(resend_message(order_id))) == []
    assert len(sent_emails(sendgrid)) == 1
    assert sorted(delivery["status"] for delivery in deliveries()) == ["sent", "skipped"]


def test_english_texts(buyer: Identity, sendgrid: SendGridEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from crowdify.config.settings import reset_settings

    monkeypatch.setenv("EMAIL_LANGUAGE", "en")
    reset_settings()
    _, body = paid_order(buyer)

    assert run_notify(*sqs_records(body)) == []

    email = sent_emails(sendgrid)[0]
    assert email["subject"] == "Your tickets for Concierto de prueba"
    assert "Thank you for your purchase!" in email["text"]
