"""A waiting-list offer's email: the personal code, its seats and its deadline, sent once per offer message
(crowdify.domain.waiting_list writes the message in the transaction that makes the offer).

Exactly-once as for tickets (paid_order_delivery), with the claim kept on the entry itself: the entry is claimed in
a committed transaction only while it is `offered` with this message's id and not yet emailed; the email is sent
outside any transaction; the entry is then marked emailed, or its claim dropped when the send failed. A message of
an offer that is no longer the entry's current one (withdrawn, expired, replaced) sends nothing.
"""

from __future__ import annotations

import html
import logging
import uuid
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from sqlalchemy import text
from ticket_email import language_of

from crowdify.adapters.sendgrid_client import send_mail
from crowdify.config.settings import Settings, get_settings
from crowdify.observability import business_metrics
from crowdify.persistence.database import transaction

logger = logging.getLogger(__name__)

OfferResult = Literal["sent", "already_sent", "skipped"]

_CLAIM = text(
    """
    UPDATE waiting_list_entries w SET offer_email_claimed_at = clock_timestamp()
      FROM events e, users u, vouchers v, ticket_types tt
     WHERE w.id = :entry_id AND w.offer_message_id = :message_id AND w.status = 'offered'
       AND w.offer_emailed_at IS NULL
       AND (w.offer_email_claimed_at IS NULL
            OR w.offer_email_claimed_at < now() - make_interval(secs => :lease_seconds))
       AND e.id = w.event_id AND u.id = w.user_id AND v.id = w.offer_voucher_id AND tt.id = w.offer_ticket_type_id
    RETURNING w.offer_email_claimed_at AS claim, w.event_id, w.offer_seats, w.offer_expires_at, u.email AS recipient,
              e.name AS event_name, e.timezone, tt.name AS ticket_type_name, v.code
    """
)
_STATE = text("SELECT offer_message_id, offer_emailed_at FROM waiting_list_entries WHERE id = :entry_id")
_RELEASE = text(
    "UPDATE waiting_list_entries SET offer_email_claimed_at = NULL WHERE id = :entry_id "
    "AND offer_message_id = :message_id AND offer_email_claimed_at = :claim"
)
_MARK_SENT = text(
    "UPDATE waiting_list_entries SET offer_emailed_at = now() WHERE id = :entry_id "
    "AND offer_message_id = :message_id AND offer_email_claimed_at = :claim"
)

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "subject": "Hay entradas para ti: {event_name}",
        "summary": "Se liberaron {seats} entrada(s) «{ticket_type}» para {event_name} y son tuyas hasta el {deadline}.",
        "code": "Tu código personal",
        "buy": "Compra con tu código aquí",
        "after": "Si no compras antes de esa hora, las entradas pasan a la siguiente persona en la lista.",
    },
    "en": {
        "subject": "Tickets for you: {event_name}",
        "summary": "{seats} '{ticket_type}' ticket(s) for {event_name} came back and are yours until {deadline}.",
        "code": "Your personal code",
        "buy": "Buy with your code here",
        "after": "If you do not buy by then, the tickets go to the next person on the list.",
    },
}


class OfferMessage(BaseModel):
    """The body of a waiting-list offer message (crowdify.domain.waiting_list)."""

    message_id: uuid.UUID
    kind: Literal["waiting_list_offer"]
    entry_id: uuid.UUID


class OfferEmailInProgress(Exception):
    """Another delivery of the same offer holds a live claim: retry later (it will then be sent)."""


def deliver_offer(message: OfferMessage) -> OfferResult:
    """Email the offer once for this message. Raises on anything that should be retried."""
    settings = get_settings()
    keys = {"entry_id": message.entry_id, "message_id": message.message_id}
    with transaction() as connection:
        offer = connection.execute(_CLAIM, keys | {"lease_seconds": settings.email_claim_lease_seconds}).first()
        if offer is None:
            state = connection.execute(_STATE, {"entry_id": message.entry_id}).first()
    if offer is None:
        if state is None or state.offer_message_id != message.message_id:
            logger.warning("waiting-list offer message of an offer no longer current", extra={"entry_id": str(keys)})
            return "skipped"
        if state.offer_emailed_at is not None:
            return "already_sent"
        raise OfferEmailInProgress(f"offer message {message.message_id} is being delivered by another attempt")
    try:
        send_mail(settings, _mail(settings, offer))
    except BaseException:
        business_metrics.email_delivered(sent=False)
        with transaction() as connection:
            connection.execute(_RELEASE, keys | {"claim": offer.claim})
        raise
    business_metrics.email_delivered(sent=True)
    with transaction() as connection:
        connection.execute(_MARK_SENT, keys | {"claim": offer.claim})
    return "sent"


def _mail(settings: Settings, offer: Any) -> Any:
    from sendgrid.helpers.mail import Mail

    language = language_of(settings)
    texts = TEXTS[language]
    link = f"{settings.frontend_base_url.rstrip('/')}/events/{offer.event_id}?voucher={offer.code}"
    summary = texts["summary"].format(
        seats=offer.offer_seats,
        ticket_type=offer.ticket_type_name,
        event_name=offer.event_name,
        deadline=_local_time(offer.offer_expires_at, offer.timezone, language),
    )
    text_body = "\n\n".join([summary, f"{texts['code']}: {offer.code}", f"{texts['buy']}: {link}", texts["after"]])
    html_body = (
        f"<p>{html.escape(summary)}</p>"
        f"<p>{html.escape(texts['code'])}: <strong>{html.escape(offer.code)}</strong></p>"
        f'<p><a href="{html.escape(link, quote=True)}">{html.escape(texts["buy"])}</a></p>'
        f"<p>{html.escape(texts['after'])}</p>"
    )
    return Mail(
        from_email=(settings.email_from, settings.email_from_name),
        to_emails=offer.recipient,
        subject=texts["subject"].format(event_name=offer.event_name),
        plain_text_content=text_body,
        html_content=html_body,
    )


def _local_time(moment: datetime, timezone_name: str, language: str) -> str:
    try:
        local = moment.astimezone(ZoneInfo(timezone_name))
    except (ZoneInfoNotFoundError, ValueError):
        local = moment
    if language == "es":
        return f"{local:%d/%m/%Y} a las {local:%H:%M} h"
    return f"{local:%Y-%m-%d} at {local:%H:%M}"
