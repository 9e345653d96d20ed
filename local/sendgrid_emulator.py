"""A SendGrid v3 emulator for the local stack and the tests (DESIGN.md, "The local stack").

`POST /v3/mail/send` checks the bearer key, validates the body the way SendGrid rejects the
usual mistakes, answers 202 with `X-Message-Id`, and keeps the message as one JSON file in the
outbox folder. `GET /outbox` lists this run's messages, oldest first. Test controls:
`POST /_emulator/faults` `{"mode": "500"|"timeout", "count": n}` makes the next n sends fail,
`POST /_emulator/reset` forgets faults and deletes this run's messages.

    python -m local.sendgrid_emulator --port 3002 --api-key KEY --outbox-dir .local/outbox
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_FAULT_SECONDS = 10.0
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
        if not isinstance(attachment, dict) or not attachment.get("content") or not attachment.get("filename"):
            raise _ValidationError("Each attachment needs content and a filename.", f"attachments.{index}")

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
        self._stopping = threading.Event()
        self._fault_mode: str | None = None
        self._fault_count = 0
        self._fault_delay_seconds = timeout_fault_seconds
        self._started_at_ns = 0
        self._last_arrival_ns = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SendGridEmulator:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        self._started_at_ns = time.time_ns()
        self._last_arrival_ns = self._started_at_ns
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, self.port), _RequestHandler)
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll interval makes stop() quick; tests start and stop many instances.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sendgrid-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes requests sleeping in a timeout fault
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    # The state below is shared by the server's request threads.

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

    def sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

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

    def reset(self) -> None:
        self.set_faults(None, 0)
        for path in self.message_paths():
            path.unlink(missing_ok=True)


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "SendGridEmulator/1"

    @property
    def emulator(self) -> SendGridEmulator:
        return self.server.emulator  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: tests start many instances, and the local stack has its own log lines.
        return

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/outbox":
            self._send_json(HTTPStatus.OK, self.emulator.messages())
        else:
            self._send_json(HTTPStatus.NOT_FOUND, _error_body("not found"))

    def do_POST(self) -> None:
        route = self.path.split("?")[0]
        body = self._read_body()
        try:
            if route == "/v3/mail/send":
                self._mail_send(body)
            elif route == "/_emulator/faults":
                self._faults(body)
            elif route == "/_emulator/reset":
                self.emulator.reset()
                self._send_json(HTTPStatus.OK, {"reset": True})
            else:
                self._send_json(HTTPStatus.NOT_FOUND, _error_body("not found"))
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (its timeout fired during a timeout fault)

    def _mail_send(self, raw_body: bytes) -> None:
        # An outage comes before anything else SendGrid would check.
        fault = self.emulator.take_fault()
        if fault is not None:
            mode, delay_seconds = fault
            if mode == "timeout":
                self.emulator.sleep(delay_seconds)
                self._send_json(HTTPStatus.GATEWAY_TIMEOUT, _error_body("emulated gateway timeout"))
            else:
                self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, _error_body("emulated server error"))
            return
        expected_key = self.emulator.api_key
        authorization = self.headers.get("Authorization", "")
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer" or not key or (expected_key is not None and key != expected_key):
            self._send_json(HTTPStatus.UNAUTHORIZED, _error_body(_INVALID_KEY_MESSAGE))
            return
        try:
            request = json.loads(raw_body)
        except ValueError:
            self._send_json(HTTPStatus.BAD_REQUEST, _error_body("Bad Request: the body is not JSON."))
            return
        arrival_ns = self.emulator.next_arrival_ns()
        message_id = uuid.uuid4().hex
        received_at = datetime.fromtimestamp(arrival_ns / 1e9, UTC).isoformat(timespec="milliseconds")
        try:
            message = _message_from_request(request, message_id, received_at)
        except _ValidationError as error:
            self._send_json(HTTPStatus.BAD_REQUEST, _error_body(error.message, error.field))
            return
        self.emulator.store(arrival_ns, message)
        self.send_response(HTTPStatus.ACCEPTED)
        self.send_header("X-Message-Id", message_id)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _faults(self, raw_body: bytes) -> None:
        try:
            request = json.loads(raw_body)
            mode, count = request["mode"], request.get("count", 1)
            delay_seconds = request.get("delay_seconds")
            if mode not in ("500", "timeout") or not isinstance(count, int) or count < 0:
                raise ValueError(mode)
            if delay_seconds is not None and (not isinstance(delay_seconds, int | float) or delay_seconds < 0):
                raise ValueError(delay_seconds)
        except (ValueError, KeyError, TypeError):
            message = 'expected {"mode": "500"|"timeout", "count": n, "delay_seconds": optional seconds}'
            self._send_json(HTTPStatus.BAD_REQUEST, _error_body(message))
            return
        self.emulator.set_faults(mode, count, delay_seconds)
        self._send_json(HTTPStatus.OK, {"mode": mode, "count": count})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: HTTPStatus, payload: Any) -> None:
        encoded = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)


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
