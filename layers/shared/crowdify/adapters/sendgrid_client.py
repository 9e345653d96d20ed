"""SendGrid, through the official SDK: the client set-up, its timeout and its errors, written once.

The layer does not carry the SDK: only the functions that send mail (notify, the admin test email) list
`sendgrid` in their requirements, and only they import this module.
"""

from __future__ import annotations

import urllib.error
from functools import lru_cache
from typing import Any

from crowdify.config.settings import Settings
from crowdify.core.errors import DependencyUnavailable


class MailRefused(DependencyUnavailable):
    """SendGrid answered, and did not take the message."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"SendGrid refused the email ({status_code})")
        self.status_code = status_code


def send_mail(settings: Settings, mail: Any) -> str | None:
    """Send a `sendgrid.helpers.mail.Mail`; returns SendGrid's message id.

    Raises MailRefused when SendGrid answers with an error, DependencyUnavailable when it cannot be reached or
    is not configured.
    """
    from python_http_client.exceptions import HTTPError

    if not settings.sendgrid_api_key:
        raise DependencyUnavailable("SendGrid is not configured (SENDGRID_API_KEY)")
    client = _client(settings.sendgrid_api_key, settings.sendgrid_api_base_url, settings.sendgrid_timeout_seconds)
    try:
        answer = client.send(mail)
    except HTTPError as error:
        raise MailRefused(error.status_code) from error
    except (urllib.error.URLError, OSError) as error:
        raise DependencyUnavailable(f"SendGrid is unavailable: {error}") from error
    return answer.headers.get("X-Message-Id") if answer.headers else None


@lru_cache(maxsize=2)
def _client(api_key: str, host: str, timeout_seconds: float) -> Any:
    from sendgrid import SendGridAPIClient

    client = SendGridAPIClient(api_key=api_key, host=host)
    # python_http_client passes its timeout to every request it builds; without one a hung SendGrid hangs us.
    client.client.timeout = timeout_seconds
    return client
