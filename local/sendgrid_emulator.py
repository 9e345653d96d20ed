"""A SendGrid v3 emulator for the local stack and the tests (docs/architecture.md, "The local stack").

`POST /v3/mail/send` checks the bearer key, validates the body the way SendGrid rejects the
usual mistakes, answers 202 with `X-Message-Id`, and keeps the message as one JSON file in the
outbox folder. `GET /outbox` lists this run's messages, oldest first. Test controls:
`POST /_emulator/faults` `{"mode": "500"|"timeout", "count": n}` makes the next n sends fail,
`POST /_emulator/reset` forgets faults and deletes this run's messages.

For a person, `GET /` is an inbox (local/sendgrid_inbox.py): this run's messages, newest first,
each one rendered with its attachments to download.

    python -m local.sendgrid_emulator --port 3002 --api-key KEY --outbox-dir .local/outbox
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web

from local import sendgrid_inbox
from local.http_serving import BackgroundHttpServer

DEFAULT_TIMEOUT_FAULT_SECONDS = 10.0
# SendGrid takes up to 30 MB per message.
MAX_REQUEST_BYTES = 30 * 2**20
MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
_INVALID_KEY_MESSAGE = "The provided authorization grant is invalid, expired, or revoked"


class _ValidationError(Exception):
    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _error_body(message: str, field: str | None = None) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field, "help": None}]}


def _require_email(value: Any, field: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("email"), str) or "@" not in value["email"]:
        raise _ValidationError("Does not contain a valid address.", field)
    return value["email"]


def _message_from_request(body: Any, message_id: str, received_at: str) -> dict[str, Any]:
    """The outbox record of a v3 mail/send body; raises _ValidationError as SendGrid would 400."""
    if not isinstance(body, dict):
        raise _ValidationError("The request body must be a JSON object.", None)
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise _ValidationError("The personalizations field is required.", "personalizations")
    recipients = []
    for index, personalization in enumerate(personalizations):
        to = personalization.get("to") if isinstance(personalization, dict) else None
        if not isinstance(to, list) or not to:
            raise _ValidationError("The to array is required.", f"personalizations.{index}.to")
        recipients += [_require_email(address, f"personalizations.{index}.to") for address in to]
    from_email = _require_email(body.get("from"), "from")

    template_id = body.get("template_id")
    subject = personalizations[0].get("subject") or body.get("subject")
    # SendGrid takes the subject per personalization or once for all of them.
    subjects_present = all(item.get("subject") for item in personalizations) or body.get("subject")
    if not subjects_present and not template_id:
        raise _ValidationError("The subject is required.", "subject")
    if subject is not None and not isinstance(subject, str):
        raise _ValidationError("The subject must be a string.", "subject")

    content = body.get("content") or []
    attachments = body.get("attachments") or []
    if not isinstance(content, list) or not isinstance(attachments, list):
        raise _ValidationError("content and attachments must be arrays.", "content")
    if not content and not attachments and not template_id:
        raise _ValidationError("Either content or a template_id is required.", "content")
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not part.get("type") or not isinstance(part.get("value"), str):
            raise _ValidationError("Each content part needs a type and a value.", f"content.{index}")
    for index, attachment in enumerate(attachments):
        if (
            not isinstance(attachment, dict)
            or not attachment.get("content")
            or not attachment.get("filename")
            or not all(isinstance(attachment.get(name, ""), str) for name in ("content", "filename", "type"))
        ):
            raise _ValidationError("Each attachment needs content and a filename.", f"attachments.{index}")
        try:
            base64.b64decode(attachment["content"], validate=True)
        except (binascii.Error, TypeError, ValueError) as error:
            message = "The attachment content must be base64 encoded."
            raise _ValidationError(message, f"attachments.{index}.content") from error

    def content_of_type(content_type: str) -> str | None:
        return next((part["value"] for part in content if part["type"] == content_type), None)

    return {
        "id": message_id,
        "received_at": received_at,
        "from": from_email,
        "to": recipients,
        "subject": subject,
        "html": content_of_type("text/html"),
        "text": content_of_type("text/plain"),
        "attachments": [
            {"filename": item["filename"], "type": item.get("type"), "content": item["content"]} for item in attachments
        ],
    }


class SendGridEmulator:
    """One emulator instance: its own port, API key and outbox folder."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        *,
        outbox_dir: Path,
        timeout_fault_seconds: float = DEFAULT_TIMEOUT_FAULT_SECONDS,
    ) -> None:
        self.host = host
        self.port = port
        # None accepts any key: handy for a stack whose key is not known to the emulator.
        self.api_key = api_key
        self.outbox_dir = Path(outbox_dir)
        self.timeout_fault_seconds = timeout_fault_seconds
        self._lock = threading.Lock()
        self._stopping = asyncio.Event()
        self._fault_mode: str | None = None
        self._fault_count = 0
        self._fault_delay_seconds = timeout_fault_seconds
        self._started_at_ns = 0
        self._last_arrival_ns = 0
        self._server: BackgroundHttpServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.url

    def start(self) -> SendGridEmulator:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        self._started_at_ns = time.time_ns()
        self._last_arrival_ns = self._started_at_ns
        self._stopping = asyncio.Event()
        self._server = BackgroundHttpServer(self._application(), self.host, self.port, name="sendgrid-emulator")
        self._server.start()
        return self

    def stop(self) -> None:
        """Stops serving; a send held by a timeout fault answers at once."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None

    # The state below is shared by the server's loop and the tests' threads.

    def set_faults(self, mode: str | None, count: int, delay_seconds: float | None = None) -> None:
        with self._lock:
            self._fault_mode = mode if count > 0 else None
            self._fault_count = count if mode else 0
            self._fault_delay_seconds = self.timeout_fault_seconds if delay_seconds is None else delay_seconds

    def take_fault(self) -> tuple[str, float] | None:
        with self._lock:
            if self._fault_mode is None or self._fault_count <= 0:
                return None
            self._fault_count -= 1
            fault = (self._fault_mode, self._fault_delay_seconds)
            if self._fault_count == 0:
                self._fault_mode = None
            return fault

    def next_arrival_ns(self) -> int:
        # Strictly increasing, so file names sort by arrival even within one clock tick.
        with self._lock:
            self._last_arrival_ns = max(time.time_ns(), self._last_arrival_ns + 1)
            return self._last_arrival_ns

    def store(self, arrival_ns: int, message: dict[str, Any]) -> None:
        path = self.outbox_dir / f"{arrival_ns:020d}-{message['id']}.json"
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(message, ensure_ascii=False, indent=2), encoding="utf-8")
        # Readers of the folder never see a half-written message.
        os.replace(partial, path)

    def message_paths(self) -> list[Path]:
        """This run's message files, oldest first."""
        paths = []
        for path in self.outbox_dir.glob("*.json"):
            arrival, _, _ = path.name.partition("-")
            if arrival.isdigit() and int(arrival) >= self._started_at_ns:
                paths.append(path)
        return sorted(paths, key=lambda path: path.name)

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(path.read_text(encoding="utf-8")) for path in self.message_paths()]

    def message(self, message_id: str) -> dict[str, Any] | None:
        """One of this run's messages by its id, or None."""
        if not MESSAGE_ID.fullmatch(message_id):
            return None
        path = next((path for path in self.message_paths() if path.name.endswith(f"-{message_id}.json")), None)
        return None if path is None else json.loads(path.read_text(encoding="utf-8"))

    def reset(self) -> None:
        self.set_faults(None, 0)
        for path in self.message_paths():
            path.unlink(missing_ok=True)

    # -- HTTP ---------------------------------------------------------------------------------

    def _application(self) -> web.Application:
        application = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_json_errors])
        routes = [
            web.post("/v3/mail/send", self._mail_send),
            web.get("/outbox", self._outbox),
            web.post("/_emulator/faults", self._faults),
            web.post("/_emulator/reset", self._reset),
            web.get("/", self._inbox_page),
            # Browsers ask for it on every page: an empty answer keeps their consoles free of 404s.
            web.get("/favicon.ico", lambda _: web.Response(status=HTTPStatus.NO_CONTENT)),
            web.get("/messages/{message_id}", self._message_page),
            web.get("/messages/{message_id}/html", self._message_html),
            web.get("/messages/{message_id}/attachments/{index:\\d+}", self._attachment),
        ]
        application.add_routes(routes)
        application.on_shutdown.append(self._wake_held_requests)
        return application

    async def _wake_held_requests(self, _: web.Application) -> None:
        self._stopping.set()

    async def _mail_send(self, request: web.Request) -> web.Response:
        # An outage comes before anything else SendGrid would check.
        fault = self.take_fault()
        if fault is not None:
            mode, delay_seconds = fault
            if mode == "timeout":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay_seconds)
                return _json(HTTPStatus.GATEWAY_TIMEOUT, _error_body("emulated gateway timeout"))
            return _json(HTTPStatus.INTERNAL_SERVER_ERROR, _error_body("emulated server error"))
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not key or (self.api_key is not None and key != self.api_key):
            return _json(HTTPStatus.UNAUTHORIZED, _error_body(_INVALID_KEY_MESSAGE))
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _json(HTTPStatus.BAD_REQUEST, _error_body("Bad Request: the body is not JSON."))
        arrival_ns = self.next_arrival_ns()
        message_id = uuid.uuid4().hex
        received_at = datetime.fromtimestamp(arrival_ns / 1e9, UTC).isoformat(timespec="milliseconds")
        try:
            message = _message_from_request(body, message_id, received_at)
        except _ValidationError as error:
            return _json(HTTPStatus.BAD_REQUEST, _error_body(error.message, error.field))
        self.store(arrival_ns, message)
        return web.Response(status=HTTPStatus.ACCEPTED, headers={"X-Message-Id": message_id})

    async def _outbox(self, _: web.Request) -> web.Response:
        # A long outbox is many files to read: off the loop, which keeps serving sends meanwhile.
        return _json(HTTPStatus.OK, await asyncio.to_thread(self.messages))

    async def _faults(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            mode, count = body["mode"], body.get("count", 1)
            delay_seconds = body.get("delay_seconds")
            if mode not in ("500", "timeout") or not isinstance(count, int) or count < 0:
                raise ValueError(mode)
            if delay_seconds is not None and (not isinstance(delay_seconds, int | float) or delay_seconds < 0):
                raise ValueError(delay_seconds)
        except (ValueError, KeyError, TypeError):
            message = 'expected {"mode": "500"|"timeout", "count": n, "delay_seconds": optional seconds}'
            return _json(HTTPStatus.BAD_REQUEST, _error_body(message))
        self.set_faults(mode, count, delay_seconds)
        return _json(HTTPStatus.OK, {"mode": mode, "count": count})

    async def _reset(self, _: web.Request) -> web.Response:
        await asyncio.to_thread(self.reset)
        return _json(HTTPStatus.OK, {"reset": True})

    async def _inbox_page(self, _: web.Request) -> web.Response:
        messages = await asyncio.to_thread(self.messages)
        return sendgrid_inbox.inbox_page(list(reversed(messages)))

    async def _found_message(self, request: web.Request) -> dict[str, Any]:
        message = await asyncio.to_thread(self.message, request.match_info["message_id"])
        if message is None:
            raise web.HTTPNotFound(reason="no such message in this run")
        return message

    async def _message_page(self, request: web.Request) -> web.Response:
        return sendgrid_inbox.message_page(await self._found_message(request))

    async def _message_html(self, request: web.Request) -> web.Response:
        message = await self._found_message(request)
        if message["html"] is None:
            raise web.HTTPNotFound(reason="the message has no HTML part")
        return sendgrid_inbox.message_html(message)

    async def _attachment(self, request: web.Request) -> web.Response:
        message = await self._found_message(request)
        index = int(request.match_info["index"])
        if index >= len(message["attachments"]):
            raise web.HTTPNotFound(reason="no such attachment")
        return sendgrid_inbox.attachment_download(message["attachments"][index])


def _json(status: HTTPStatus, payload: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type="application/json")


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unknown routes, wrong methods and oversized bodies answer in SendGrid's error shape."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _json(HTTPStatus(error.status), _error_body(error.reason))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3002)
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any key)")
    parser.add_argument("--outbox-dir", type=Path, default=Path(".local/outbox"))
    parser.add_argument("--timeout-fault-seconds", type=float, default=DEFAULT_TIMEOUT_FAULT_SECONDS)
    arguments = parser.parse_args(argv)

    emulator = SendGridEmulator(
        arguments.host,
        arguments.port,
        arguments.api_key,
        outbox_dir=arguments.outbox_dir,
        timeout_fault_seconds=arguments.timeout_fault_seconds,
    ).start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    print(f"SendGrid emulator listening on {emulator.url}, outbox {emulator.outbox_dir}", flush=True)
    stopping.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
