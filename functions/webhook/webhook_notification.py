"""A MercadoPago notification as it arrives: what it names, and whether MercadoPago signed it (docs/architecture.md).

A notification is only a trigger. What it says is never trusted beyond "payment X changed": the payment itself is
fetched from MercadoPago before anything is applied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from crowdify.auth.webhook_signature import verify_signature
from crowdify.config.settings import Settings
from crowdify.core.errors import InvalidRequest, MalformedRequest, NotAuthenticated, UnreadableBody
from crowdify.http.untrusted_json import parse_untrusted_json

logger = logging.getLogger(__name__)

PAYMENT_TOPIC = "payment"
_PAYMENT_ID = re.compile(r"[0-9]{1,30}")
# Stages where an unsigned notification is accepted when no secret is configured: the local stack only.
_STAGES_WITHOUT_SIGNATURE = ("local",)


class WebhookAnswer(BaseModel):
    received: bool = True
    action: str


@dataclass(frozen=True)
class Notification:
    topic: str | None
    data_id: str | None

    def payment_id(self) -> str:
        """The payment to fetch; 422 when the notification names none that MercadoPago could have issued."""
        if self.data_id is None or not _PAYMENT_ID.fullmatch(self.data_id):
            raise InvalidRequest("The notification names no payment")
        return self.data_id


def signed_data_id(query: Mapping[str, str] | None) -> str | None:
    """The data.id MercadoPago signs: the query string's (its notification_url carries `data.id`)."""
    return _text((query or {}).get("data.id"))


def verify_notification(settings: Settings, headers: Mapping[str, str] | None, data_id: str | None) -> None:
    """Raise NotAuthenticated (401) unless `x-signature` signs `data_id` with the webhook secret.

    Called before the body is read: an unsigned request gets no parsing at all.
    """
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    secret = settings.mercadopago_webhook_secret
    if not secret:
        if settings.stage in _STAGES_WITHOUT_SIGNATURE:
            return
        logger.error("MERCADOPAGO_WEBHOOK_SECRET is not set: every notification is refused")
        raise NotAuthenticated("The notification is not signed")
    if not verify_signature(secret, lowered.get("x-signature"), lowered.get("x-request-id"), data_id):
        logger.warning(
            "refused a MercadoPago notification with a missing or wrong signature",
            extra={"data_id": data_id, "request_id": lowered.get("x-request-id")},
        )
        raise NotAuthenticated("The notification is not signed by MercadoPago")


def read_notification(query: Mapping[str, str] | None, body: str | None) -> Notification:
    """The notification a verified request names: data.id from the query string, `type` from it or the body.

    The body must not name another payment than the signed query (nor one when the query names none): it would
    point the work at a payment nobody signed for. A body that is no readable JSON is a 400.
    """
    query = query or {}
    payload = _json_object(body)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    body_data_id = _text(data.get("id"))
    query_data_id = signed_data_id(query)
    if body_data_id is not None and body_data_id != query_data_id:
        raise NotAuthenticated("The notification does not match its signature")
    return Notification(
        topic=_text(query.get("type")) or _text(payload.get("type")) or _text(query.get("topic")),
        data_id=query_data_id,
    )


def _json_object(body: str | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = parse_untrusted_json(body)
    except (ValueError, UnreadableBody) as error:
        raise MalformedRequest("The notification body is not readable JSON") from error
    return parsed if isinstance(parsed, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None
