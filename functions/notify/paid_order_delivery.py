"""Deliver a paid order's tickets once per outbox message: PDF, S3, one email (docs/architecture.md, "The shape").

Exactly-once sending is kept by the `email_deliveries` row of the message id, in three short transactions with no
lock held across a network call:

1. claim: load the order and insert the row as `sending` with a fresh claim token, committed before anything is
   sent. A concurrent delivery of the same message finds the row and fails (SQS redelivers it later, when it finds
   the row `sent`); a redelivery after a success finds `sent` and does nothing.
2. render, store on S3, send through SendGrid — outside any transaction.
3. mark the row `sent` and record the PDF's key on the order and its tickets; on any failure in step 2 the claim is
   deleted instead, so the redelivery starts over and nothing claims an email that was never sent.

A claim older than the lease (the attempt crashed between steps 1 and 3) may be taken over. The one case that can
still send twice is a crash after SendGrid accepted the email and before step 3 committed: SendGrid takes no
idempotency key, so no design on our side can close that window, only keep it to one UPDATE.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Row, text
from ticket_email import TicketEmail, language_of, send_ticket_email
from ticket_pdf import TicketPage, render_tickets_pdf
from ticket_storage import store_tickets_pdf

from crowdify.auth.backend_tokens import issue_download_token
from crowdify.config.settings import Settings, get_settings
from crowdify.core.statuses import ORDERS_WITH_VALID_TICKETS
from crowdify.observability import business_metrics
from crowdify.persistence.database import transaction

logger = logging.getLogger(__name__)

DeliveryResult = Literal["sent", "already_sent", "skipped"]
MINIMUM_LINK_LIFETIME = timedelta(days=30)
# The link keeps working until a little after the event, whenever that is.
LINK_LIFETIME_AFTER_EVENT = timedelta(days=2)

_LOAD_ORDER = text(
    """
    SELECT o.id AS order_id, o.status AS order_status, coalesce(o.buyer_email, u.email) AS recipient,
           e.name AS event_name, e.starts_at, e.timezone, e.location_text,
           t.id AS ticket_id, t.holder_first_name, t.holder_last_name, t.is_child, t.qr_signature,
           tt.name AS ticket_type_name
      FROM orders o
      JOIN events e ON e.id = o.event_id
      JOIN users u ON u.id = o.user_id
      LEFT JOIN tickets t ON t.order_id = o.id AND t.status <> 'cancelled'
      LEFT JOIN ticket_types tt ON tt.id = t.ticket_type_id
      LEFT JOIN attendees a ON a.id = t.attendee_id
     WHERE o.id = :order_id
     ORDER BY a.position, t.id
    """
)
_CLAIM = text(
    """
    INSERT INTO email_deliveries (message_id, order_id, recipient, status, claim_token, claimed_at)
    VALUES (:message_id, :order_id, :recipient, 'sending', :claim_token, now())
    ON CONFLICT (message_id) DO UPDATE
       SET claim_token = EXCLUDED.claim_token, claimed_at = now(), recipient = EXCLUDED.recipient
     WHERE email_deliveries.status = 'sending'
       AND email_deliveries.claimed_at < now() - make_interval(secs => :lease_seconds)
    RETURNING message_id
    """
)
_SKIP = text(
    """
    INSERT INTO email_deliveries (message_id, order_id, recipient, status)
    VALUES (:message_id, :order_id, :recipient, 'skipped')
    ON CONFLICT (message_id) DO NOTHING
    """
)
_STATUS = text("SELECT status FROM email_deliveries WHERE message_id = :message_id")
_RELEASE = text(
    "DELETE FROM email_deliveries WHERE message_id = :message_id AND claim_token = :claim_token AND status = 'sending'"
)
_MARK_SENT = text(
    """
    UPDATE email_deliveries
       SET status = 'sent', sent_at = now(), provider_message_id = :provider_message_id, claim_token = NULL
     WHERE message_id = :message_id AND claim_token = :claim_token
    """
)
_RECORD_ORDER_PDF = text("UPDATE orders SET pdf_object_key = :key WHERE id = :order_id")
_RECORD_TICKETS_PDF = text("UPDATE tickets SET pdf_object_key = :key WHERE id = ANY(:ticket_ids)")


class PaidOrderMessage(BaseModel):
    """The body of a paid-order message (crowdify.domain.outbox.enqueue_paid_order)."""

    message_id: uuid.UUID
    order_id: uuid.UUID
    reason: str = "paid"


class DeliveryInProgress(Exception):
    """Another delivery of the same message holds a live claim: retry later (it will then be `sent`)."""


@dataclass(frozen=True)
class _Claim:
    token: uuid.UUID
    recipient: str
    pages: list[TicketPage]


def deliver_paid_order(message: PaidOrderMessage) -> DeliveryResult:
    """Email the order's live tickets once for this message. Raises on anything that should be retried."""
    settings = get_settings()
    claim = _claim(message, settings)
    if not isinstance(claim, _Claim):
        return claim
    try:
        pdf = render_tickets_pdf(claim.pages, language_of(settings))
        key = store_tickets_pdf(message.order_id, pdf)
        first_page = claim.pages[0]
        provider_message_id = send_ticket_email(
            settings,
            TicketEmail(
                recipient=claim.recipient,
                order_id=str(message.order_id),
                event_name=first_page.event_name,
                starts_at=first_page.starts_at,
                timezone_name=first_page.timezone_name,
                venue=first_page.venue,
                ticket_count=len(claim.pages),
                download_url=_download_url(settings, message.order_id, first_page.starts_at),
                pdf=pdf,
            ),
        )
    except BaseException:
        business_metrics.email_delivered(sent=False)
        with transaction() as connection:
            connection.execute(_RELEASE, {"message_id": message.message_id, "claim_token": claim.token})
        raise
    business_metrics.email_delivered(sent=True)
    with transaction() as connection:
        marked = connection.execute(
            _MARK_SENT,
            {
                "message_id": message.message_id,
                "claim_token": claim.token,
                "provider_message_id": provider_message_id,
            },
        ).rowcount
        connection.execute(_RECORD_ORDER_PDF, {"key": key, "order_id": message.order_id})
        connection.execute(
            _RECORD_TICKETS_PDF, {"key": key, "ticket_ids": [uuid.UUID(str(page.ticket_id)) for page in claim.pages]}
        )
    if not marked:
        logger.error(
            "a ticket email's claim was taken over while it was sent", extra={"message_id": str(message.message_id)}
        )
    return "sent"


def _claim(message: PaidOrderMessage, settings: Settings) -> _Claim | DeliveryResult:
    with transaction() as connection:
        rows = connection.execute(_LOAD_ORDER, {"order_id": message.order_id}).all()
        if not rows:
            # No such order: nothing will ever be sent for this message, and retrying cannot change that.
            logger.error("paid-order message for an unknown order", extra={"order_id": str(message.order_id)})
            return "skipped"
        head = rows[0]
        pages = [_page(row) for row in rows if row.ticket_id is not None]
        if head.order_status not in ORDERS_WITH_VALID_TICKETS or not pages or not head.recipient:
            return _skip(connection, message, head.recipient, head.order_status, len(pages))
        token = uuid.uuid4()
        claimed = connection.execute(
            _CLAIM,
            {
                "message_id": message.message_id,
                "order_id": message.order_id,
                "recipient": head.recipient,
                "claim_token": token,
                "lease_seconds": settings.email_claim_lease_seconds,
            },
        ).first()
        if claimed is None:
            status = connection.execute(_STATUS, {"message_id": message.message_id}).scalar_one()
            if status == "sending":
                raise DeliveryInProgress(f"message {message.message_id} is being delivered by another attempt")
            return "already_sent"
    return _Claim(token, head.recipient, pages)


def _skip(
    connection: Connection, message: PaidOrderMessage, recipient: str | None, order_status: str, ticket_count: int
) -> DeliveryResult:
    connection.execute(_SKIP, {"message_id": message.message_id, "order_id": message.order_id, "recipient": recipient})
    logger.warning(
        "paid-order message not emailed",
        extra={
            "message_id": str(message.message_id),
            "order_status": order_status,
            "live_tickets": ticket_count,
            "has_recipient": bool(recipient),
        },
    )
    return "skipped"


def _page(row: Row[Any]) -> TicketPage:
    return TicketPage(
        event_name=row.event_name,
        starts_at=row.starts_at,
        timezone_name=row.timezone,
        venue=row.location_text,
        ticket_type_name=row.ticket_type_name,
        holder_name=f"{row.holder_first_name} {row.holder_last_name}".strip(),
        order_id=row.order_id,
        ticket_id=row.ticket_id,
        qr_signature=row.qr_signature,
        is_child=row.is_child,
    )


def _download_url(settings: Settings, order_id: uuid.UUID, starts_at: datetime) -> str:
    lifetime = max(MINIMUM_LINK_LIFETIME, starts_at + LINK_LIFETIME_AFTER_EVENT - datetime.now(UTC))
    token = issue_download_token(str(order_id), settings.jwt_secret, int(lifetime.total_seconds()))
    return f"{settings.public_base_url.rstrip('/')}/api/v1/purchases/{order_id}/tickets.pdf?t={token}"
