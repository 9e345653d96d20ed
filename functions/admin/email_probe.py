"""A test email through SendGrid, so an admin can check the mail set-up end to end.

Only the test-email route imports this module (and with it sendgrid): no other admin function loads the SDK.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sendgrid.helpers.mail import Mail

from crowdify.adapters.sendgrid_client import MailRefused, send_mail
from crowdify.config.settings import Settings
from crowdify.core.errors import InvalidRequest


def send_test_email(settings: Settings, to_email: str) -> str | None:
    """Sends one short email to `to_email`; returns SendGrid's message id."""
    sent_at = datetime.now(UTC).isoformat(timespec="seconds")
    mail = Mail(
        from_email=(settings.email_from, settings.email_from_name),
        to_emails=to_email,
        subject="Crowdify: correo de prueba",
        plain_text_content=f"Este es un correo de prueba de Crowdify ({settings.stage}), enviado {sent_at}.",
        html_content=f"<p>Este es un correo de prueba de Crowdify ({settings.stage}), enviado {sent_at}.</p>",
    )
    try:
        return send_mail(settings, mail)
    except MailRefused as error:
        if error.status_code == 400:
            raise InvalidRequest(f"SendGrid refused the message (400): check to_email ({to_email})") from error
        raise
