"""A test email through SendGrid, so an admin can check the mail set-up end to end.

Only the test-email route imports this module (and with it sendgrid): no other admin function loads the SDK.
"""

from __future__ import annotations

import urllib.error
from datetime import UTC, datetime

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail

from crowdify.errors import DependencyUnavailable, InvalidRequest
from crowdify.settings import Settings


def send_test_email(settings: Settings, to_email: str) -> str | None:
    """Sends one short email to `to_email`; returns SendGrid's message id."""
    if not settings.sendgrid_api_key:
        raise DependencyUnavailable("SendGrid is not configured (SENDGRID_API_KEY)")
    sent_at = datetime.now(UTC).isoformat(timespec="seconds")
    mail = Mail(
        from_email=(settings.email_from, settings.email_from_name),
        to_emails=to_email,
        subject="Crowdify: correo de prueba",
        plain_text_content=f"Este es un correo de prueba de Crowdify ({settings.stage}), enviado {sent_at}.",
        html_content=f"<p>Este es un correo de prueba de Crowdify ({settings.stage}), enviado {sent_at}.</p>",
    )
    client = SendGridAPIClient(api_key=settings.sendgrid_api_key, host=settings.sendgrid_api_base_url)
    # python_http_client has no timeout of its own: a hung SendGrid must not hang the function.
    client.client.timeout = settings.sendgrid_timeout_seconds
    try:
        answer = client.send(mail)
    except HTTPError as error:
        if error.status_code == 400:
            raise InvalidRequest(f"SendGrid refused the message (400): check to_email ({to_email})") from error
        raise DependencyUnavailable(f"SendGrid refused the email ({error.status_code})") from error
    except (urllib.error.URLError, OSError) as error:
        raise DependencyUnavailable("SendGrid is unavailable, try again") from error
    return answer.headers.get("X-Message-Id") if answer.headers else None
