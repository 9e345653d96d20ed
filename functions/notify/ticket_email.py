"""The ticket email, in Spanish or English, sent through the SendGrid SDK with the PDF attached."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crowdify.adapters.sendgrid_client import send_mail
from crowdify.config.settings import Settings

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "subject": "Tus entradas para {event_name}",
        "greeting": "¡Gracias por tu compra!",
        "summary": "Adjuntamos {ticket_count} entrada(s) para {event_name}, el {event_date}{venue}.",
        "venue": " en {venue}",
        "instructions": "Presenta el código QR de cada entrada en el acceso. Cada código vale para un solo ingreso.",
        "download": "También puedes descargar tus entradas aquí",
        "order": "Pedido",
    },
    "en": {
        "subject": "Your tickets for {event_name}",
        "greeting": "Thank you for your purchase!",
        "summary": "Attached are {ticket_count} ticket(s) for {event_name} on {event_date}{venue}.",
        "venue": " at {venue}",
        "instructions": "Show each ticket's QR code at the entrance. Each code admits one person once.",
        "download": "You can also download your tickets here",
        "order": "Order",
    },
}


@dataclass(frozen=True)
class TicketEmail:
    recipient: str
    order_id: str
    event_name: str
    starts_at: datetime
    timezone_name: str
    venue: str | None
    ticket_count: int
    download_url: str
    pdf: bytes


def language_of(settings: Settings) -> str:
    primary = settings.email_language.split("-")[0].split("_")[0].lower()
    return primary if primary in TEXTS else "es"


def send_ticket_email(settings: Settings, email: TicketEmail) -> str | None:
    """Send the email; returns SendGrid's message id. Any refusal or failure → DependencyUnavailable."""
    return send_mail(settings, _mail(settings, email))


def _mail(settings: Settings, email: TicketEmail) -> Any:
    from sendgrid.helpers.mail import Attachment, Disposition, FileContent, FileName, FileType, Mail

    language = language_of(settings)
    texts = TEXTS[language]
    event_date = _local_date(email, language)
    subject = (settings.email_subject or texts["subject"]).replace("{event_name}", email.event_name)
    if settings.sendgrid_template_id:
        mail = Mail(from_email=(settings.email_from, settings.email_from_name), to_emails=email.recipient)
        mail.subject = subject
        mail.template_id = settings.sendgrid_template_id
        mail.dynamic_template_data = {
            "language": language,
            "event_name": email.event_name,
            "event_date": event_date,
            "venue": email.venue,
            "ticket_count": email.ticket_count,
            "order_id": email.order_id,
            "download_url": email.download_url,
        }
    else:
        text_body, html_body = _bodies(texts, email, event_date)
        mail = Mail(
            from_email=(settings.email_from, settings.email_from_name),
            to_emails=email.recipient,
            subject=subject,
            plain_text_content=text_body,
            html_content=html_body,
        )
    mail.attachment = Attachment(
        FileContent(base64.b64encode(email.pdf).decode("ascii")),
        FileName(f"crowdify-{email.order_id}.pdf"),
        FileType("application/pdf"),
        Disposition("attachment"),
    )
    return mail


def _bodies(texts: dict[str, str], email: TicketEmail, event_date: str) -> tuple[str, str]:
    venue = texts["venue"].format(venue=email.venue) if email.venue else ""
    summary = texts["summary"].format(
        ticket_count=email.ticket_count, event_name=email.event_name, event_date=event_date, venue=venue
    )
    text_body = "\n\n".join(
        [
            texts["greeting"],
            summary,
            texts["instructions"],
            f"{texts['download']}: {email.download_url}",
            f"{texts['order']} {email.order_id}",
        ]
    )
    escaped_summary = texts["summary"].format(
        ticket_count=email.ticket_count,
        event_name=f"<strong>{html.escape(email.event_name)}</strong>",
        event_date=html.escape(event_date),
        venue=html.escape(venue),
    )
    html_body = (
        f"<p>{html.escape(texts['greeting'])}</p>"
        f"<p>{escaped_summary}</p>"
        f"<p>{html.escape(texts['instructions'])}</p>"
        f'<p><a href="{html.escape(email.download_url, quote=True)}">{html.escape(texts["download"])}</a></p>'
        f'<p style="color:#666">{html.escape(texts["order"])} {html.escape(email.order_id)}</p>'
    )
    return text_body, html_body


def _local_date(email: TicketEmail, language: str) -> str:
    try:
        local = email.starts_at.astimezone(ZoneInfo(email.timezone_name))
    except (ZoneInfoNotFoundError, ValueError):
        local = email.starts_at
    if language == "es":
        return f"{local:%d/%m/%Y} a las {local:%H:%M} h"
    return f"{local:%Y-%m-%d} at {local:%H:%M}"
