"""MercadoPago, through the official SDK, in Crowdify's own types and errors.

Only functions that take payments import this module: `mercadopago` and `requests` cost cold-start
time that the rest do not pay. Importing it does no I/O and reads no settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import mercadopago
import requests
from mercadopago.config import Config, RequestOptions
from mercadopago.config.defaults import DEFAULT_RETRY_ON
from mercadopago.errors import MercadoPagoError, MPServerError
from mercadopago.http import HttpClient
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from crowdify.config.settings import Settings, get_settings
from crowdify.core.errors import DependencyUnavailable, InvalidRequest, NotFound

UNAVAILABLE = "MercadoPago is unavailable, try again"
# The SDK retries idempotent calls on 5xx and timeouts (over https only). One retry keeps the worst
# case at two timeouts, inside MercadoPago's 22 s webhook window and API Gateway's 29 s.
MAX_RETRIES = 1


class BaseUrlHttpClient(HttpClient):
    """The SDK's HTTP client, sent to another base URL (emulator, local stack) with our timeout.

    The SDK builds every URL from a fixed `https://api.mercadopago.com`, and a per-call
    `RequestOptions` starts from the SDK's 60 s timeout and 3 retries rather than from the
    options the SDK was built with, so both are enforced here, where every call passes.
    """

    def __init__(self, base_url: str, timeout_seconds: float, max_retries: int = MAX_RETRIES) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self._sdk_base_url = Config().api_base_url
        # The SDK opens a new requests.Session, hence a new connection and TLS handshake, on every call. A warm
        # container keeps one session and its open connection instead (one per thread: tests share a gateway).
        self._sessions = threading.local()

    def _session(self, retry_on: list[int] | None, backoff_factor: float | None) -> tuple[requests.Session, bool]:
        """This thread's session, and whether it has been used before."""
        session = getattr(self._sessions, "session", None)
        if session is not None:
            return session, True
        retry = Retry(
            total=self.max_retries,
            status_forcelist=retry_on if retry_on is not None else DEFAULT_RETRY_ON,
            backoff_factor=backoff_factor if backoff_factor is not None else 0,
        )
        session = requests.Session()
        # As the SDK does: retries over https only (MercadoPago itself), never against a local emulator.
        session.mount("https://", HTTPAdapter(max_retries=retry))
        self._sessions.session = session
        return session, False

    def request(
        self,
        method: str,
        url: str,
        maxretries: int | None = None,
        retry_on: list[int] | None = None,
        backoff_factor: float | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if url.startswith(self._sdk_base_url):
            url = self.base_url + url[len(self._sdk_base_url) :]
        # requests applies a single number to both the connect and the read timeout.
        kwargs["timeout"] = self.timeout_seconds
        session, reused = self._session(retry_on, backoff_factor)
        try:
            answer = session.request(method, url, **kwargs)
        except requests.ConnectionError as error:
            if not reused or isinstance(error, requests.Timeout):
                raise
            # A connection kept while the container was frozen may have been closed by the other side: once
            # more on a new one (a preference made twice is harmless; the first is simply never paid).
            self._sessions.session = None
            answer = self._session(retry_on, backoff_factor)[0].request(method, url, **kwargs)
        # The SDK's own answer shape and its error for a body that is not JSON.
        response: dict[str, Any] = {"status": answer.status_code, "response": None}
        if answer.status_code != 204 and answer.content:
            try:
                response["response"] = answer.json()
            except ValueError as error:
                raise MPServerError(
                    answer.status_code, {"message": "Invalid JSON in response body", "error": "invalid_response"}
                ) from error
        return response


@dataclass(frozen=True)
class CheckoutItem:
    title: str
    quantity: int
    unit_price: Decimal
    currency_id: str


@dataclass(frozen=True)
class CheckoutRequest:
    order_id: str
    items: list[CheckoutItem]
    payer_email: str | None
    expires_at: datetime
    notification_url: str
    back_urls: dict[str, str]


@dataclass(frozen=True)
class Checkout:
    preference_id: str
    init_point: str


@dataclass(frozen=True)
class Payment:
    id: str
    status: str
    status_detail: str | None
    external_reference: str | None
    transaction_amount: Decimal
    currency_id: str
    date_approved: datetime | None
    transaction_amount_refunded: Decimal


@dataclass(frozen=True)
class Refund:
    id: str
    payment_id: str
    amount: Decimal


def mercadopago_datetime(moment: datetime) -> str:
    """ISO 8601 with milliseconds and offset (`2025-03-20T17:20:38.683-03:00`), as MercadoPago wants."""
    if moment.tzinfo is None:
        raise ValueError("MercadoPago needs an aware datetime")
    return moment.isoformat(timespec="milliseconds")


def _decimal(value: Any) -> Decimal:
    # Through str: Decimal(0.1) would carry the binary float's error into our money.
    return Decimal(str(value)) if value is not None else Decimal(0)


def _payment_from_json(payload: dict[str, Any]) -> Payment:
    date_approved = payload.get("date_approved")
    external_reference = payload.get("external_reference")
    return Payment(
        id=str(payload["id"]),
        status=str(payload["status"]),
        status_detail=payload.get("status_detail"),
        external_reference=str(external_reference) if external_reference is not None else None,
        transaction_amount=_decimal(payload.get("transaction_amount")),
        currency_id=str(payload.get("currency_id") or ""),
        date_approved=datetime.fromisoformat(date_approved) if date_approved else None,
        transaction_amount_refunded=_decimal(payload.get("transaction_amount_refunded")),
    )


class MercadoPagoGateway:
    """What Crowdify asks of MercadoPago. Every failure comes out as a `crowdify.core.errors` error."""

    def __init__(self, settings: Settings) -> None:
        self._timeout_seconds = float(settings.mercadopago_timeout_seconds)
        self._sdk = mercadopago.SDK(
            settings.mercadopago_access_token,
            http_client=BaseUrlHttpClient(settings.mercadopago_api_base_url, self._timeout_seconds),
            request_options=self._request_options(),
        )

    def _request_options(self, idempotency_key: str | None = None) -> RequestOptions:
        # The SDK sends a random x-idempotency-key on every call; ours replaces it only when the
        # header name matches its lower-case spelling exactly (the headers are a plain dict).
        headers = {"x-idempotency-key": idempotency_key} if idempotency_key is not None else None
        return RequestOptions(connection_timeout=self._timeout_seconds, custom_headers=headers, max_retries=MAX_RETRIES)

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        preference: dict[str, Any] = {
            "items": [
                {
                    "title": item.title,
                    "quantity": item.quantity,
                    # MercadoPago takes JSON numbers; the float exists only on the way out.
                    "unit_price": float(item.unit_price),
                    "currency_id": item.currency_id,
                }
                for item in request.items
            ],
            "external_reference": request.order_id,
            "notification_url": request.notification_url,
            "back_urls": request.back_urls,
            "auto_return": "approved",
            "expires": True,
            "expiration_date_from": mercadopago_datetime(datetime.now(UTC)),
            "expiration_date_to": mercadopago_datetime(request.expires_at),
        }
        if request.payer_email:
            preference["payer"] = {"email": request.payer_email}
        answer = self._call(lambda: self._sdk.preference().create(preference))
        return Checkout(preference_id=str(answer["id"]), init_point=str(answer["init_point"]))

    def get_payment(self, payment_id: str) -> Payment:
        answer = self._call(
            lambda: self._sdk.payment().get(payment_id),
            not_found=f"MercadoPago payment {payment_id} not found",
        )
        return _payment_from_json(answer)

    def search_payments(self, external_reference: str) -> list[Payment]:
        answer = self._call(lambda: self._sdk.payment().search({"external_reference": external_reference}))
        return [_payment_from_json(result) for result in answer.get("results", [])]

    def refund(self, payment_id: str, amount: Decimal | None, idempotency_key: str) -> Refund:
        """Refunds `amount`, or what remains of the payment when None; the same key refunds once."""
        body = {"amount": float(amount)} if amount is not None else None
        options = self._request_options(idempotency_key)
        answer = self._call(
            lambda: self._sdk.refund().create(payment_id, body, request_options=options),
            not_found=f"MercadoPago payment {payment_id} not found",
            # MercadoPago answers 400 to a refund it will not make (too much, wrong status).
            caller_fault_statuses=(400,),
        )
        return Refund(
            id=str(answer["id"]),
            payment_id=str(answer.get("payment_id", payment_id)),
            amount=_decimal(answer.get("amount")),
        )

    def _call(
        self,
        call: Callable[[], dict[str, Any]],
        *,
        not_found: str | None = None,
        caller_fault_statuses: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        try:
            result = call()
        except (requests.RequestException, MercadoPagoError) as error:
            # Connection refused, timeouts, exhausted retries, or a body that is not JSON.
            raise DependencyUnavailable(UNAVAILABLE) from error
        status = result["status"]
        payload = result["response"]
        if 200 <= status < 300 and isinstance(payload, dict):
            return payload
        message = payload.get("message") if isinstance(payload, dict) else None
        if status == 404 and not_found is not None:
            raise NotFound(not_found)
        if status in caller_fault_statuses:
            raise InvalidRequest(f"MercadoPago refused the request: {message or status}")
        if status >= 500 or status == 429 or 200 <= status < 300:
            raise DependencyUnavailable(UNAVAILABLE)
        raise DependencyUnavailable(f"MercadoPago rejected the request ({status}): {message or 'no message'}")


@lru_cache(maxsize=1)
def payments() -> MercadoPagoGateway:
    """The gateway of this warm container, built on first use (`payments.cache_clear()` forgets it)."""
    return MercadoPagoGateway(get_settings())
