"""A MercadoPago emulator for tests and the local stack (never deployed).

It speaks the slice of MercadoPago's API that Crowdify uses, in MercadoPago's shapes, over real
HTTP so the official SDK can be pointed at it: Checkout Pro preferences, a checkout page whose
buttons create payments, signed webhooks sent like MercadoPago's (after answering, retried on
failure), payment lookup and search, and idempotent refunds. Control routes under `/_emulator/`
let tests change payments, inject faults and read what was sent.

Payment, refund and notification ids never repeat across runs (each is at least the clock in
microseconds), so a restarted emulator cannot hand out a payment id that a kept database already
holds. With a state folder, preferences, payments and refunds are kept there too (one JSON line
per change) and a payment made before a restart can still be read, refunded and searched.

Run it alone with `python -m local.mercadopago_emulator --port 3001 --access-token … --webhook-secret …
[--state-dir .local/mercadopago]`. It serves HTTP with aiohttp (local/http_serving.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import html
import json
import logging
import os
import re
import signal
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from aiohttp import web

from local.http_serving import BackgroundHttpServer

logger = logging.getLogger(__name__)

# MercadoPago's API writes its date-times in its own -04:00 offset, not in UTC; answering the same
# way keeps client code honest about parsing offsets.
MERCADOPAGO_OFFSET = timezone(timedelta(hours=-4))
COLLECTOR_ID = 202809963
SEARCH_PAGE_SIZE = 30
STATE_FILE_NAME = "state.jsonl"
MAX_REQUEST_BYTES = 4 * 2**20
# MercadoPago waits 22 s for a webhook answer.
WEBHOOK_TIMEOUT_SECONDS = 22.0
# Delays before each of the (up to five) redeliveries of a notification that was not answered 2xx.
WEBHOOK_RETRY_DELAYS_SECONDS = (0.2, 0.4, 0.8, 1.6, 3.2)
# A "timeout" fault holds the request longer than any sane client timeout, but never past stop().
TIMEOUT_FAULT_HOLD_SECONDS = 10.0

CHECKOUT_STATUSES = ("approved", "rejected", "pending")
DEFAULT_STATUS_DETAILS = {
    "approved": "accredited",
    "rejected": "cc_rejected_other_reason",
    "pending": "pending_contingency",
    "in_process": "pending_review_manual",
    "authorized": "pending_capture",
    "cancelled": "expired",
    "refunded": "refunded",
    "charged_back": "settled",
    "in_mediation": "in_process",
}


def signature_manifest(data_id: str | None, request_id: str | None, timestamp: str | None) -> str:
    """The text MercadoPago signs: `id:{data.id};request-id:{x-request-id};ts:{ts};`.

    An alphanumeric data.id is lower-cased and a part whose value is absent is left out, as
    MercadoPago documents it.
    """
    manifest = ""
    if data_id:
        manifest += f"id:{data_id.lower() if data_id.isalnum() else data_id};"
    if request_id:
        manifest += f"request-id:{request_id};"
    if timestamp:
        manifest += f"ts:{timestamp};"
    return manifest


def sign_notification(secret: str, data_id: str | None, request_id: str | None, timestamp: str | None) -> str:
    """The `v1` part of `x-signature`: hex HMAC-SHA256 of the manifest with the webhook secret."""
    manifest = signature_manifest(data_id, request_id, timestamp)
    return hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()


class EmulatorError(Exception):
    """An API error answered in MercadoPago's error shape."""

    def __init__(self, status: int, message: str, error: str = "bad_request", hold_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.hold_seconds = hold_seconds


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    # Started once the answer has been written: webhooks go out only after the caller has its answer.
    after: Callable[[], Coroutine[Any, Any, None]] | None = None
    # How long the answer is held back (a timeout fault); stop() cuts it short.
    hold_seconds: float = 0.0


class _IdSequence:
    """Increasing ids that no run of the emulator hands out twice, with or without its state folder.

    Each id is at least the wall clock in microseconds, so a restarted emulator starts past every id
    the previous run gave (it would have had to give a million a second to get ahead of the clock).
    Callers hold the emulator's lock.
    """

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last = max(self.last + 1, time.time_ns() // 1000)
        return self.last

    def skip_past(self, used: int) -> None:
        self.last = max(self.last, used)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    action: str
    # Routes of MercadoPago's own API: they need the access token and are subject to faults.
    is_api: bool


ROUTES = (
    Route("POST", re.compile(r"/checkout/preferences"), "create_preference", is_api=True),
    Route("GET", re.compile(r"/v1/payments/search"), "search_payments", is_api=True),
    Route("GET", re.compile(r"/v1/payments/(\d+)"), "get_payment", is_api=True),
    Route("POST", re.compile(r"/v1/payments/(\d+)/refunds"), "create_refund", is_api=True),
    Route("GET", re.compile(r"/checkout/([^/]+)"), "checkout_page", is_api=False),
    Route("POST", re.compile(r"/checkout/([^/]+)"), "pay_checkout", is_api=False),
    Route("GET", re.compile(r"/_emulator/notifications"), "list_notifications", is_api=False),
    Route("GET", re.compile(r"/_emulator/preferences/([^/]+)"), "get_preference", is_api=False),
    Route("POST", re.compile(r"/_emulator/payments"), "create_payment", is_api=False),
    Route("POST", re.compile(r"/_emulator/payments/(\d+)"), "update_payment", is_api=False),
    Route("POST", re.compile(r"/_emulator/faults"), "set_faults", is_api=False),
    Route("POST", re.compile(r"/_emulator/reset"), "reset", is_api=False),
)


def _now() -> str:
    return datetime.now(MERCADOPAGO_OFFSET).isoformat(timespec="milliseconds")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # MercadoPago sends amounts as JSON numbers: whole ones without a fraction.
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_response(status: int, payload: Any, after: Callable[[], Coroutine[Any, Any, None]] | None = None) -> Response:
    return Response(status, json.dumps(payload, default=_json_default).encode(), after=after)


def _error_payload(status: int, message: str, error: str) -> dict[str, Any]:
    return {"message": message, "error": error, "status": status, "cause": []}


def _amount(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise EmulatorError(400, f"{field} must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as error:
        raise EmulatorError(400, f"{field} must be a number") from error
    if not amount.is_finite() or amount <= 0:
        raise EmulatorError(400, f"{field} must be a positive number")
    return amount


def _payment_with_decimal_amounts(payment: dict[str, Any]) -> dict[str, Any]:
    """A payment read back from the journal, whose whole amounts came back as ints."""
    return payment | {
        "transaction_amount": Decimal(payment["transaction_amount"]),
        "transaction_amount_refunded": Decimal(payment["transaction_amount_refunded"]),
        "refunds": [refund | {"amount": Decimal(refund["amount"])} for refund in payment["refunds"]],
    }


def _notification_url_with_query(notification_url: str, payment_id: int) -> str:
    separator = "&" if urllib.parse.urlsplit(notification_url).query else "?"
    return f"{notification_url}{separator}data.id={payment_id}&type=payment"


class MercadoPagoEmulator:
    """A MercadoPago served over HTTP; `start()` serves it from a daemon thread.

    Its state lives in memory and, when `state_dir` is given, in that folder as well.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token: str | None = None,
        webhook_secret: str | None = None,
        public_url: str | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self._server = BackgroundHttpServer(self._application(), host, port, name="mercadopago-emulator")
        self.url = self._server.url
        # The address a browser or another host uses for the checkout page, when not this one.
        self.public_url = (public_url or self.url).rstrip("/")
        # Request handlers and webhook deliveries run on the server's loop; tests read from other threads.
        self._lock = threading.Lock()
        self._stopping = asyncio.Event()
        self._background_tasks: set[asyncio.Task[None]] = set()
        self._webhook_client: aiohttp.ClientSession | None = None
        # Identifiers keep counting across reset() so a late webhook can never name a newer payment.
        self._payment_ids = _IdSequence()
        self._refund_ids = _IdSequence()
        self._notification_ids = _IdSequence()
        self._clear()
        self._state_file = None if state_dir is None else Path(state_dir) / STATE_FILE_NAME
        if self._state_file is not None:
            self._load_state(self._state_file)

    def _clear(self) -> None:
        self._preferences: dict[str, dict[str, Any]] = {}
        self._payments: dict[int, dict[str, Any]] = {}
        self._payment_notification_urls: dict[int, str | None] = {}
        self._refunds_by_idempotency_key: dict[tuple[int, str], dict[str, Any]] = {}
        self._notifications: list[dict[str, Any]] = []
        self._fault_mode: str | None = None
        self._fault_count = 0

    def start(self) -> MercadoPagoEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        """Stops serving: held "timeout" requests answer at once and pending webhook retries are dropped."""
        self._server.stop()

    # -- serving ------------------------------------------------------------------------------

    def _application(self) -> web.Application:
        application = web.Application(client_max_size=MAX_REQUEST_BYTES)
        application.router.add_route("*", "/{path:.*}", self._serve)
        application.on_startup.append(self._open_webhook_client)
        application.on_shutdown.append(self._stop_background_work)
        application.on_cleanup.append(self._close_webhook_client)
        return application

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            response = self.handle(request.method, request.path_qs, request.headers, body)
        except Exception:
            logger.exception("emulator failed on %s %s", request.method, request.path_qs)
            response = _json_response(500, _error_payload(500, "emulator error", "internal_error"))
        if response.hold_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), response.hold_seconds)
        answer = web.Response(
            status=response.status, body=response.body, headers={"Content-Type": response.content_type}
        )
        if response.after is None:
            return answer
        # The answer is written before the webhook starts, as MercadoPago answers before it notifies.
        with contextlib.suppress(ConnectionError):
            await answer.prepare(request)
            await answer.write_eof()
        # A caller that gave up (a timeout fault) does not undo what happened: notify anyway.
        self._run_in_background(response.after())
        return answer

    def _run_in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        # The loop keeps only weak references to tasks.
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)

    async def _open_webhook_client(self, _: web.Application) -> None:
        # A new connection per delivery, as MercadoPago's notifications arrive: a kept one could be
        # closed by the receiver just as the next delivery is sent on it.
        self._webhook_client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=WEBHOOK_TIMEOUT_SECONDS, sock_read=WEBHOOK_TIMEOUT_SECONDS
            ),
        )

    async def _stop_background_work(self, _: web.Application) -> None:
        self._stopping.set()
        for task in list(self._background_tasks):
            task.cancel()
        await asyncio.gather(*self._background_tasks, return_exceptions=True)

    async def _close_webhook_client(self, _: web.Application) -> None:
        if self._webhook_client is not None:
            await self._webhook_client.close()

    # -- state kept across runs ----------------------------------------------------------------

    def _load_state(self, state_file: Path) -> None:
        """Replays the state folder's journal: the last line written about a record wins."""
        if not state_file.exists():
            return
        for line in state_file.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError:
                # The last line of a run that was killed mid-write.
                continue
            if "preference" in entry:
                preference = entry["preference"]
                for item in preference["items"]:
                    item["unit_price"] = Decimal(item["unit_price"])
                self._preferences[preference["id"]] = preference
            elif "payment" in entry:
                payment = _payment_with_decimal_amounts(entry["payment"])
                self._payments[payment["id"]] = payment
                self._payment_notification_urls[payment["id"]] = entry.get("notification_url")
                self._payment_ids.skip_past(payment["id"])
                for refund in payment["refunds"]:
                    self._refund_ids.skip_past(refund["id"])
            elif "refund" in entry:
                payment_id, idempotency_key = entry["idempotency_key"]
                refund = entry["refund"] | {"amount": Decimal(entry["refund"]["amount"])}
                self._refunds_by_idempotency_key[(payment_id, idempotency_key)] = refund
            elif "last_ids" in entry:
                self._payment_ids.skip_past(entry["last_ids"]["payment"])
                self._refund_ids.skip_past(entry["last_ids"]["refund"])
                self._notification_ids.skip_past(entry["last_ids"]["notification"])

    def _keep(self, entry: dict[str, Any]) -> None:
        """Appends one change to the state folder's journal; the caller holds the lock."""
        if self._state_file is None:
            return
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        with self._state_file.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(entry, default=_json_default) + "\n")

    def _keep_payment(self, payment: dict[str, Any]) -> None:
        self._keep({"payment": payment, "notification_url": self._payment_notification_urls.get(payment["id"])})

    def _forget_kept_state(self) -> None:
        """Empties the journal but for the ids last given, which must not be given again."""
        if self._state_file is None or not self._state_file.exists():
            return
        last_ids = {
            "payment": self._payment_ids.last,
            "refund": self._refund_ids.last,
            "notification": self._notification_ids.last,
        }
        self._state_file.write_text(json.dumps({"last_ids": last_ids}) + "\n", encoding="utf-8")

    def notifications(self) -> list[dict[str, Any]]:
        """Every webhook sent or being sent, oldest first (copies)."""
        with self._lock:
            return json.loads(json.dumps(self._notifications, default=_json_default))

    # -- request dispatch -------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        split_target = urllib.parse.urlsplit(target)
        path = split_target.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(split_target.query))
        try:
            for route in ROUTES:
                match = route.pattern.fullmatch(path)
                if match is None or route.method != method:
                    continue
                if route.is_api:
                    self._check_access_token(headers)
                    self._apply_fault()
                action = getattr(self, f"_{route.action}")
                return action(*match.groups(), query=query, headers=headers, body=body)
            raise EmulatorError(404, f"no route for {method} {path}", "not_found")
        except EmulatorError as error:
            payload = json.dumps(_error_payload(error.status, error.message, error.error)).encode()
            return Response(error.status, payload, hold_seconds=error.hold_seconds)

    def _check_access_token(self, headers: Mapping[str, str]) -> None:
        if self.access_token is None:
            return
        expected = f"Bearer {self.access_token}"
        if not hmac.compare_digest(headers.get("Authorization", "").encode(), expected.encode()):
            raise EmulatorError(401, "invalid access token", "unauthorized")

    def _apply_fault(self) -> None:
        with self._lock:
            if self._fault_count <= 0:
                return
            self._fault_count -= 1
            mode = self._fault_mode
        if mode == "timeout":
            raise EmulatorError(
                504, "gateway timeout (emulated)", "gateway_timeout", hold_seconds=TIMEOUT_FAULT_HOLD_SECONDS
            )
        raise EmulatorError(500, "internal server error (emulated)", "internal_error")

    @staticmethod
    def _json_body(body: bytes, *, required: bool = True) -> dict[str, Any]:
        if not body.strip():
            if required:
                raise EmulatorError(400, "a JSON body is required")
            return {}
        try:
            parsed = json.loads(body, parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise EmulatorError(400, f"invalid JSON: {error}") from error
        if not isinstance(parsed, dict):
            raise EmulatorError(400, "the JSON body must be an object")
        return parsed

    # -- Checkout Pro -------------------------------------------------------------------------

    def _create_preference(self, *, body: bytes, **_: Any) -> Response:
        request = self._json_body(body)
        items = request.get("items")
        if not isinstance(items, list) or not items:
            raise EmulatorError(400, "items needed")
        stored_items = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise EmulatorError(400, f"items[{index}] must be an object")
            quantity = item.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
                raise EmulatorError(400, f"items[{index}].quantity must be a positive integer")
            stored_items.append(
                {
                    "id": str(item.get("id", "")),
                    "title": str(item.get("title", "")),
                    "description": str(item.get("description", "")),
                    "quantity": quantity,
                    "unit_price": _amount(item.get("unit_price"), f"items[{index}].unit_price"),
                    # Chile is the site this emulator plays; MercadoPago defaults to the site's currency.
                    "currency_id": str(item.get("currency_id") or "CLP"),
                }
            )
        if len({item["currency_id"] for item in stored_items}) > 1:
            raise EmulatorError(400, "all items must have the same currency_id")
        payer = request.get("payer") or {}
        if not isinstance(payer, dict):
            raise EmulatorError(400, "payer must be an object")
        preference_id = f"{COLLECTOR_ID}-{uuid.uuid4()}"
        init_point = f"{self.public_url}/checkout/{preference_id}"
        preference = {
            "id": preference_id,
            "items": stored_items,
            "payer": payer,
            "external_reference": str(request.get("external_reference") or ""),
            "notification_url": request.get("notification_url"),
            "back_urls": request.get("back_urls") or {},
            "auto_return": request.get("auto_return") or "",
            "expires": bool(request.get("expires", False)),
            "expiration_date_from": request.get("expiration_date_from"),
            "expiration_date_to": request.get("expiration_date_to"),
            "metadata": request.get("metadata") or {},
            "collector_id": COLLECTOR_ID,
            "client_id": str(COLLECTOR_ID),
            "operation_type": "regular_payment",
            "site_id": "MLC",
            "date_created": _now(),
            "init_point": init_point,
            "sandbox_init_point": init_point,
        }
        with self._lock:
            self._preferences[preference_id] = preference
            self._keep({"preference": preference})
        return _json_response(201, preference)

    def _preference(self, preference_id: str) -> dict[str, Any]:
        with self._lock:
            preference = self._preferences.get(preference_id)
        if preference is None:
            raise EmulatorError(404, f"preference {preference_id} not found", "not_found")
        return preference

    def _checkout_page(self, preference_id: str, **_: Any) -> Response:
        preference = self._preference(preference_id)
        total = sum((item["unit_price"] * item["quantity"] for item in preference["items"]), Decimal(0))
        currency = preference["items"][0]["currency_id"]
        rows = "".join(
            f"<li>{item['quantity']} x {html.escape(item['title'])} — "
            f"{_json_default(item['unit_price'])} {html.escape(currency)}</li>"
            for item in preference["items"]
        )
        # "</" would close the script element early; JSON lets it be written as "<\/".
        back_urls = json.dumps(preference["back_urls"]).replace("</", "<\\/")
        external_reference = json.dumps(preference["external_reference"]).replace("</", "<\\/")
        page = CHECKOUT_PAGE.format(
            rows=rows,
            total=_json_default(total),
            currency=html.escape(currency),
            external_reference_text=html.escape(preference["external_reference"]),
            back_urls=back_urls,
            external_reference=external_reference,
            preference_id=json.dumps(preference_id),
        )
        return Response(200, page.encode(), content_type="text/html; charset=utf-8")

    def _pay_checkout(self, preference_id: str, *, headers: Mapping[str, str], body: bytes, **_: Any) -> Response:
        preference = self._preference(preference_id)
        if headers.get("Content-Type", "").startswith("application/json"):
            status = self._json_body(body).get("status")
        else:
            form = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
            status = form.get("status", [None])[0]
        if status not in CHECKOUT_STATUSES:
            raise EmulatorError(400, f"status must be one of {', '.join(CHECKOUT_STATUSES)}")
        total = sum((item["unit_price"] * item["quantity"] for item in preference["items"]), Decimal(0))
        payment = self._store_payment(
            preference_id=preference_id,
            external_reference=preference["external_reference"],
            status=status,
            status_detail=None,
            amount=total,
            currency_id=preference["items"][0]["currency_id"],
            payer=preference["payer"],
            notification_url=preference["notification_url"],
        )
        return _json_response(
            200,
            {"payment_id": payment["id"], "status": payment["status"]},
            after=self._notify(payment["id"], "payment.created"),
        )

    # -- payments -----------------------------------------------------------------------------

    def _store_payment(
        self,
        *,
        preference_id: str | None,
        external_reference: str,
        status: str,
        status_detail: str | None,
        amount: Decimal,
        currency_id: str,
        payer: dict[str, Any],
        notification_url: str | None,
    ) -> dict[str, Any]:
        now = _now()
        with self._lock:
            payment_id = self._payment_ids.next()
            payment = {
                "id": payment_id,
                "status": status,
                "status_detail": status_detail or DEFAULT_STATUS_DETAILS.get(status, status),
                "external_reference": external_reference,
                "transaction_amount": amount,
                "transaction_amount_refunded": Decimal(0),
                "currency_id": currency_id,
                "date_created": now,
                "date_approved": now if status == "approved" else None,
                "date_last_updated": now,
                "money_release_date": None,
                "payment_method_id": "visa",
                "payment_type_id": "credit_card",
                "operation_type": "regular_payment",
                "payer": {"email": payer.get("email"), "id": None, "type": None},
                "collector_id": COLLECTOR_ID,
                "live_mode": False,
                "refunds": [],
                # Not a MercadoPago field of its own; metadata is where such things live.
                "metadata": {"preference_id": preference_id},
            }
            self._payments[payment_id] = payment
            self._payment_notification_urls[payment_id] = notification_url
            self._keep_payment(payment)
            return dict(payment)

    def _payment(self, payment_id: int) -> dict[str, Any]:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise EmulatorError(404, "Payment not found", "not_found")
        return payment

    def _get_payment(self, payment_id: str, **_: Any) -> Response:
        with self._lock:
            return _json_response(200, self._payment(int(payment_id)))

    def _search_payments(self, *, query: dict[str, str], **_: Any) -> Response:
        try:
            limit = int(query.get("limit", SEARCH_PAGE_SIZE))
            offset = int(query.get("offset", 0))
        except ValueError as error:
            raise EmulatorError(400, "limit and offset must be integers") from error
        external_reference = query.get("external_reference")
        with self._lock:
            matches = [
                payment
                for payment in self._payments.values()
                if external_reference is None or payment["external_reference"] == external_reference
            ]
            page = matches[offset : offset + limit]
            payload = {
                "paging": {"total": len(matches), "limit": limit, "offset": offset},
                "results": page,
            }
            return _json_response(200, payload)

    def _create_refund(self, payment_id: str, *, headers: Mapping[str, str], body: bytes, **_: Any) -> Response:
        request = self._json_body(body, required=False)
        idempotency_key = headers.get("X-Idempotency-Key")
        with self._lock:
            payment = self._payment(int(payment_id))
            if idempotency_key is not None:
                earlier = self._refunds_by_idempotency_key.get((payment["id"], idempotency_key))
                if earlier is not None:
                    return _json_response(201, earlier)
            if payment["status"] != "approved":
                raise EmulatorError(400, f"Payment cannot be refunded in status {payment['status']}")
            remaining = payment["transaction_amount"] - payment["transaction_amount_refunded"]
            requested = request.get("amount")
            amount = remaining if requested is None else _amount(requested, "amount")
            if amount > remaining:
                raise EmulatorError(400, "The refund amount exceeds the amount available to refund")
            refund = self._record_refund(payment, amount)
            if idempotency_key is not None:
                self._refunds_by_idempotency_key[(payment["id"], idempotency_key)] = refund
                self._keep({"refund": refund, "idempotency_key": [payment["id"], idempotency_key]})
        return _json_response(201, refund, after=self._notify(payment["id"], "payment.updated"))

    def _record_refund(self, payment: dict[str, Any], amount: Decimal) -> dict[str, Any]:
        """Adds a refund to a payment and keeps the payment; the caller holds the lock."""
        refund = {
            "id": self._refund_ids.next(),
            "payment_id": payment["id"],
            "amount": amount,
            "status": "approved",
            "source": {"type": "collector", "id": str(COLLECTOR_ID)},
            "date_created": _now(),
        }
        payment["refunds"].append(refund)
        payment["transaction_amount_refunded"] += amount
        if payment["transaction_amount_refunded"] >= payment["transaction_amount"]:
            payment["status"] = "refunded"
            payment["status_detail"] = "refunded"
        else:
            payment["status_detail"] = "partially_refunded"
        payment["date_last_updated"] = refund["date_created"]
        self._keep_payment(payment)
        return dict(refund)

    # -- webhooks -----------------------------------------------------------------------------

    def _notify(self, payment_id: int, action: str) -> Callable[[], Coroutine[Any, Any, None]] | None:
        """Records a notification and returns what sends it, or None when nobody listens."""
        with self._lock:
            notification_url = self._payment_notification_urls.get(payment_id)
            if not notification_url:
                return None
            record = {
                "id": self._notification_ids.next(),
                "url": _notification_url_with_query(notification_url, payment_id),
                "action": action,
                "data_id": str(payment_id),
                "attempts": 0,
                "status_codes": [],
                "errors": [],
                "request_ids": [],
                "delivered": False,
                "finished": False,
            }
            self._notifications.append(record)
        return lambda: self._deliver(record)

    async def _deliver(self, record: dict[str, Any]) -> None:
        body = json.dumps(
            {
                "action": record["action"],
                "api_version": "v1",
                "data": {"id": record["data_id"]},
                "date_created": _now(),
                "id": record["id"],
                "live_mode": False,
                "type": "payment",
                "user_id": str(COLLECTOR_ID),
            }
        ).encode()
        try:
            for delay in (0.0, *WEBHOOK_RETRY_DELAYS_SECONDS):
                await asyncio.sleep(delay)
                status_code, error = await self._post_notification(record, body)
                with self._lock:
                    record["attempts"] += 1
                    if status_code is not None:
                        record["status_codes"].append(status_code)
                    if error is not None:
                        record["errors"].append(error)
                    if status_code is not None and 200 <= status_code < 300:
                        record["delivered"] = True
                        break
        finally:
            # Also when stop() cancels the retries.
            with self._lock:
                record["finished"] = True

    async def _post_notification(self, record: dict[str, Any], body: bytes) -> tuple[int | None, str | None]:
        request_id = str(uuid.uuid4())
        timestamp = str(int(time.time() * 1000))
        headers = {"Content-Type": "application/json", "x-request-id": request_id}
        if self.webhook_secret:
            signature = sign_notification(self.webhook_secret, record["data_id"], request_id, timestamp)
            headers["x-signature"] = f"ts={timestamp},v1={signature}"
        with self._lock:
            record["request_ids"].append(request_id)
        if self._webhook_client is None:
            return None, "the emulator is not serving"
        try:
            # encoded=True: the notification_url's query goes out exactly as the product wrote it.
            url = yarl.URL(record["url"], encoded=True)
            async with self._webhook_client.post(url, data=body, headers=headers) as answer:
                await answer.read()
                return answer.status, None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            return None, f"{type(error).__name__}: {error}"

    # -- control routes -----------------------------------------------------------------------

    def _list_notifications(self, **_: Any) -> Response:
        return _json_response(200, self.notifications())

    def _get_preference(self, preference_id: str, **_: Any) -> Response:
        return _json_response(200, self._preference(preference_id))

    def _create_payment(self, *, body: bytes, **_: Any) -> Response:
        request = self._json_body(body)
        preference_id = request.get("preference_id")
        external_reference = request.get("external_reference")
        if preference_id is not None:
            preference = self._preference(str(preference_id))
        elif external_reference is not None:
            with self._lock:
                preference = next(
                    (
                        candidate
                        for candidate in reversed(self._preferences.values())
                        if candidate["external_reference"] == str(external_reference)
                    ),
                    None,
                )
        else:
            raise EmulatorError(400, "external_reference or preference_id is required")
        if request.get("transaction_amount") is not None:
            amount = _amount(request["transaction_amount"], "transaction_amount")
        elif preference is not None:
            amount = sum((item["unit_price"] * item["quantity"] for item in preference["items"]), Decimal(0))
        else:
            raise EmulatorError(400, "transaction_amount is required without a preference")
        currency_id = request.get("currency_id") or (preference["items"][0]["currency_id"] if preference else "CLP")
        payment = self._store_payment(
            preference_id=preference["id"] if preference else None,
            external_reference=str(
                external_reference if external_reference is not None else preference["external_reference"]
            ),
            status=str(request.get("status") or "approved"),
            status_detail=request.get("status_detail"),
            amount=amount,
            currency_id=str(currency_id),
            payer=preference["payer"] if preference else {},
            notification_url=request.get("notification_url")
            or (preference["notification_url"] if preference else None),
        )
        after = self._notify(payment["id"], "payment.created") if request.get("notify", True) else None
        return _json_response(201, payment, after=after)

    def _update_payment(self, payment_id: str, *, body: bytes, **_: Any) -> Response:
        request = self._json_body(body)
        status = request.get("status")
        if not isinstance(status, str) or not status:
            raise EmulatorError(400, "status is required")
        with self._lock:
            payment = self._payment(int(payment_id))
            remaining = payment["transaction_amount"] - payment["transaction_amount_refunded"]
            if status == "refunded" and remaining > 0:
                # A refund made in MercadoPago's own panel still shows up as a refund on the payment.
                self._record_refund(payment, remaining)
            payment["status"] = status
            payment["status_detail"] = request.get("status_detail") or DEFAULT_STATUS_DETAILS.get(status, status)
            payment["date_last_updated"] = _now()
            if status == "approved" and payment["date_approved"] is None:
                payment["date_approved"] = payment["date_last_updated"]
            self._keep_payment(payment)
            answer = dict(payment)
        after = self._notify(answer["id"], "payment.updated") if request.get("notify", True) else None
        return _json_response(200, answer, after=after)

    def _set_faults(self, *, body: bytes, **_: Any) -> Response:
        request = self._json_body(body)
        mode = request.get("mode")
        count = request.get("count", 1)
        if mode not in ("500", "timeout"):
            raise EmulatorError(400, 'mode must be "500" or "timeout"')
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise EmulatorError(400, "count must be a non-negative integer")
        with self._lock:
            self._fault_mode = mode
            self._fault_count = count
        return _json_response(200, {"mode": mode, "count": count})

    def _reset(self, **_: Any) -> Response:
        with self._lock:
            self._clear()
            self._forget_kept_state()
        return _json_response(200, {})


CHECKOUT_PAGE = """<!doctype html>
<html lang="es">
<head><meta charset="utf-8"><title>MercadoPago emulator — checkout</title>
<style>
body {{ font-family: sans-serif; max-width: 32rem; margin: 3rem auto; }}
button {{ font-size: 1.1rem; padding: .6rem 1.2rem; margin-right: .5rem; }}
</style></head>
<body>
<h1>Checkout (emulated MercadoPago)</h1>
<p>Order {external_reference_text}</p>
<ul>{rows}</ul>
<p><strong>Total: <span id="amount">{total}</span> {currency}</strong></p>
<button id="approve" type="button" onclick="pay('approved')">Approve</button>
<button id="reject" type="button" onclick="pay('rejected')">Reject</button>
<button id="pending" type="button" onclick="pay('pending')">Leave pending</button>
<p id="result"></p>
<script>
const backUrls = {back_urls};
const externalReference = {external_reference};
const preferenceId = {preference_id};
const backUrlByStatus = {{approved: "success", rejected: "failure", pending: "pending"}};
async function pay(status) {{
  document.querySelectorAll("button").forEach((button) => button.disabled = true);
  const answer = await fetch(window.location.pathname, {{
    method: "POST",
    body: new URLSearchParams({{status}}),
  }});
  const payment = await answer.json();
  if (!answer.ok) {{
    document.getElementById("result").textContent = `Error ${{answer.status}}: ${{payment.message}}`;
    return;
  }}
  const backUrl = backUrls[backUrlByStatus[payment.status]];
  if (!backUrl) {{
    document.getElementById("result").textContent = `Payment ${{payment.payment_id}}: ${{payment.status}}`;
    return;
  }}
  const target = new URL(backUrl, window.location.href);
  const query = {{
    collection_id: payment.payment_id, collection_status: payment.status,
    payment_id: payment.payment_id, status: payment.status,
    external_reference: externalReference, payment_type: "credit_card",
    preference_id: preferenceId, site_id: "MLC", processing_mode: "aggregator",
  }};
  Object.entries(query).forEach(([name, value]) => target.searchParams.set(name, value));
  window.location.assign(target.toString());
}}
</script>
</body>
</html>
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the MercadoPago emulator.")
    parser.add_argument("--host", default=os.environ.get("MERCADOPAGO_EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MERCADOPAGO_EMULATOR_PORT", "3001")))
    parser.add_argument("--access-token", default=os.environ.get("MERCADOPAGO_ACCESS_TOKEN"))
    parser.add_argument("--webhook-secret", default=os.environ.get("MERCADOPAGO_WEBHOOK_SECRET"))
    parser.add_argument("--public-url", default=os.environ.get("MERCADOPAGO_EMULATOR_PUBLIC_URL"))
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="keep preferences and payments here across restarts"
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mercadopago-emulator %(message)s")
    emulator = MercadoPagoEmulator(
        host=arguments.host,
        port=arguments.port,
        access_token=arguments.access_token or None,
        webhook_secret=arguments.webhook_secret or None,
        public_url=arguments.public_url,
        state_dir=arguments.state_dir,
    ).start()
    print(f"MercadoPago emulator listening on {emulator.url}", flush=True)
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop_requested.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
