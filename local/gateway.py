"""A local API Gateway HTTP API: serves every HttpApi route of template.yaml by calling its handler.

Handlers run in this process with payload v2 events built the way API Gateway builds them, so
adding a route to the template is all it takes to serve it locally. Like Lambda, one function
handles one request at a time (each has its own lock), while different functions run in parallel.

Every function gets the environment the caller passes, not the template's: the template's values
are deploy-time references (Secrets Manager, parameters) that mean nothing locally.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.sam_template import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    CorsConfiguration,
    FunctionDefinition,
    Route,
    SamTemplate,
    ScheduleTrigger,
    SqsTrigger,
)

logger = logging.getLogger(__name__)

# API Gateway's payload limit for HTTP APIs.
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
LOCAL_API_ID = "local"
_TEXT_ENCODING = "utf-8"


class LambdaContext:
    """The context object the Python runtime passes to a handler, with the attributes Powertools reads."""

    def __init__(self, function: FunctionDefinition) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function.function_name}"
        )
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + function.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    """One warm Lambda container: imports the handler on first use, serves one invocation at a time."""

    def __init__(self, function: FunctionDefinition) -> None:
        self.function = function
        self._lock = threading.Lock()
        self._handler: Callable[[Any, LambdaContext], Any] | None = None

    def invoke(self, event: Any) -> Any:
        with self._lock:
            if self._handler is None:
                module_name, attribute = self.function.handler.rsplit(".", 1)
                self._handler = getattr(importlib.import_module(module_name), attribute)
            started = time.monotonic()
            try:
                return self._handler(event, LambdaContext(self.function))
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.function.timeout_seconds:
                    logger.warning(
                        "%s took %.1f s; Lambda would have stopped it after its %s s timeout",
                        self.function.logical_id,
                        elapsed,
                        self.function.timeout_seconds,
                    )


class Gateway:
    """Serves the template's HttpApi routes on host:port (0 picks a free port)."""

    def __init__(
        self,
        template_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        environment: dict[str, str] | None = None,
        parameter_overrides: dict[str, str] | None = None,
    ) -> None:
        self.template = SamTemplate.read(template_path, parameter_overrides)
        self.host = host
        self.port = port
        self.environment = dict(environment or {})
        self.runtimes = {
            logical_id: FunctionRuntime(function) for logical_id, function in self.template.functions.items()
        }
        self._import_paths: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Gateway:
        # Handlers run in this process and read their settings from os.environ on first use.
        os.environ.update(self.environment)
        _forget_cached_settings()
        self._add_import_paths()
        server = ThreadingHTTPServer((self.host, self.port), _RequestHandler)
        server.gateway = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        logger.info("Gateway serving %d routes on %s", len(self.template.routes), self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for path in self._import_paths:
            if path in sys.path:
                sys.path.remove(path)
        self._import_paths = []

    def sqs_triggers(self) -> list[SqsTrigger]:
        return list(self.template.sqs_triggers)

    def schedule_triggers(self) -> list[ScheduleTrigger]:
        return list(self.template.schedule_triggers)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function of the template with any event, as Lambda's Invoke API would."""
        return self.runtimes[logical_id].invoke(event)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The most specific route for the request, as API Gateway picks it, and its path parameters."""
        segments = raw_path.lstrip("/").split("/") if raw_path != "/" else []
        best: tuple[tuple[int, ...], Route, dict[str, str]] | None = None
        for route in self.template.routes:
            if route.method not in (method, "ANY"):
                continue
            matched = _match_path(route.path, segments)
            if matched is None:
                continue
            ranks, parameters = matched
            # Literal segments beat parameters, parameters beat greedy ones; then an exact method beats ANY.
            score = (*ranks, 1 if route.method == method else 0)
            if best is None or score > best[0]:
                best = (score, route, parameters)
        return None if best is None else (best[1], best[2])

    def _add_import_paths(self) -> None:
        directories = [*self.template.layer_directories]
        directories += sorted({function.code_directory for function in self.template.functions.values()})
        _warn_about_shadowed_modules([function.code_directory for function in self.template.functions.values()])
        for directory in reversed(directories):
            path = str(directory)
            if path not in sys.path:
                sys.path.insert(0, path)
                self._import_paths.append(path)


def _match_path(route_path: str, segments: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    if route_path == "$default":
        return (-1,), {}
    route_segments = route_path.lstrip("/").split("/") if route_path != "/" else []
    ranks: list[int] = []
    parameters: dict[str, str] = {}
    for position, route_segment in enumerate(route_segments):
        if route_segment.startswith("{") and route_segment.endswith("+}"):
            remainder = segments[position:]
            if not remainder or remainder == [""]:
                return None
            parameters[route_segment[1:-2]] = unquote("/".join(remainder))
            ranks.append(0)
            return tuple(ranks), parameters
        if position >= len(segments):
            return None
        if route_segment.startswith("{") and route_segment.endswith("}"):
            if not segments[position]:
                return None
            parameters[route_segment[1:-1]] = unquote(segments[position])
            ranks.append(1)
        elif route_segment == unquote(segments[position]):
            ranks.append(2)
        else:
            return None
    if len(segments) != len(route_segments):
        return None
    return tuple(ranks), parameters


def _warn_about_shadowed_modules(code_directories: list[Path]) -> None:
    # All functions share one sys.path here, unlike Lambda: a module name in two code folders
    # would silently import the first folder's module for both.
    owners: dict[str, set[Path]] = {}
    for directory in set(code_directories):
        for entry in directory.iterdir() if directory.is_dir() else ():
            if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists()):
                owners.setdefault(entry.stem, set()).add(directory)
    for name, directories in sorted(owners.items()):
        if len(directories) > 1:
            folders = ", ".join(sorted(str(directory) for directory in directories))
            logger.warning("Module %r exists in %s: locally only one of them is importable", name, folders)


def _forget_cached_settings() -> None:
    try:
        from crowdify.settings import reset_settings
    except ModuleNotFoundError:
        return
    reset_settings()


def build_http_event(
    *,
    route: Route,
    path_parameters: dict[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    header_pairs: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    protocol: str,
    request_id: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2 event, field for field as AWS sends it."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in header_pairs:
        lowered = name.lower()
        if lowered == "cookie":
            # v2 moves cookies out of the headers into their own list.
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
            continue
        headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    query_parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query_parameters[name] = f"{query_parameters[name]},{value}" if name in query_parameters else value
    now = time.time()
    domain_name = headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
        "stageVariables": None,
    }
    # API Gateway leaves these keys out, rather than sending them empty, when the request has none.
    if cookies:
        event["cookies"] = cookies
    if query_parameters:
        event["queryStringParameters"] = query_parameters
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        try:
            event["body"] = body.decode(_TEXT_ENCODING)
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body from a handler's return value, read the way API Gateway reads payload v2."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Without a statusCode, API Gateway sends the value as a 200 JSON body (a string as it is).
        body = result if isinstance(result, str) else json.dumps(result)
        return 200, [("content-type", "application/json")], body.encode(_TEXT_ENCODING)
    status = int(result["statusCode"])
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(value)) for value in values]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    raw_body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = raw_body.encode(_TEXT_ENCODING) if isinstance(raw_body, str) else json.dumps(raw_body).encode()
    return status, headers, body


class RequestBodyTooLarge(Exception):
    pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CrowdifyLocalGateway"

    @property
    def gateway(self) -> Gateway:
        return self.server.gateway  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        # Each request is logged once, with its route and timing, by _handle.
        return

    def _handle(self) -> None:
        started = time.monotonic()
        request_id = base64.b64encode(secrets.token_bytes(12)).decode()
        split = urlsplit(self.path)
        raw_path = split.path or "/"
        method = self.command.upper()
        try:
            body = self._read_body()
        except RequestBodyTooLarge:
            self.close_connection = True
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, *_message("Request Entity Too Large"), request_id)
            return
        scanner_app = _scanner_app_response(method, raw_path)
        if scanner_app is not None:
            self._send(*scanner_app, request_id)
            self._log(method, raw_path, scanner_app[0], "door app", started)
            return
        origin = self.headers.get("origin")
        cors = self.gateway.template.cors

        if method == "OPTIONS" and cors is not None:
            self._send(HTTPStatus.NO_CONTENT, _preflight_headers(cors, origin, self.headers), b"", request_id)
            self._log(method, raw_path, HTTPStatus.NO_CONTENT, "CORS preflight", started)
            return
        matched = self.gateway.match(method, raw_path)
        if matched is None:
            self._send(HTTPStatus.NOT_FOUND, *_message("Not Found"), request_id)
            self._log(method, raw_path, HTTPStatus.NOT_FOUND, "no route", started)
            return
        route, path_parameters = matched
        event = build_http_event(
            route=route,
            path_parameters=path_parameters,
            method=method,
            raw_path=raw_path,
            raw_query=split.query,
            header_pairs=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
            request_id=request_id,
        )
        try:
            status, headers, response_body = http_response(
                self.gateway.runtimes[route.function.logical_id].invoke(event)
            )
        except Exception:
            logger.error("%s failed on %s %s:\n%s", route.function.logical_id, method, raw_path, traceback.format_exc())
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            headers, response_body = _message("Internal Server Error")
        if cors is not None:
            # With CORS configured, API Gateway replaces whatever CORS headers the integration sent.
            headers = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            headers += _cors_response_headers(cors, origin)
        self._send(status, headers, response_body, request_id)
        self._log(method, raw_path, status, route.function.logical_id, started)

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the router, as at API Gateway: one no route declares is a 404 there, not a 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked_body()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_REQUEST_BODY_BYTES:
            # Read it anyway: a client still sending would see a reset connection instead of the 413.
            self._discard(length)
            raise RequestBodyTooLarge
        return self.rfile.read(length)

    def _read_chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    continue
                break
            total += size
            if total > MAX_REQUEST_BODY_BYTES:
                self._discard(size)
                self.rfile.readline()
                chunks.clear()
            else:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        if total > MAX_REQUEST_BODY_BYTES:
            raise RequestBodyTooLarge
        return b"".join(chunks)

    def _discard(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            received = self.rfile.read(min(remaining, 1024 * 1024))
            if not received:
                return
            remaining -= len(received)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> None:
        self.send_response_only(status)
        self.send_header("date", formatdate(usegmt=True))
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.send_header("apigw-requestid", request_id)
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log(self, method: str, raw_path: str, status: int, target: str, started: float) -> None:
        elapsed_milliseconds = (time.monotonic() - started) * 1000
        logger.info("%s %s -> %d (%s, %.0f ms)", method, raw_path, status, target, elapsed_milliseconds)


SCANNER_APP_DIRECTORY = Path(__file__).resolve().parent.parent / "web" / "scanner" / "dist"
_SCANNER_APP_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}


def _scanner_app_response(method: str, raw_path: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """The door app's built files (web/scanner/dist, `make build`) at /scan/; None for every other path."""
    if method not in ("GET", "HEAD") or not (raw_path == "/scan" or raw_path.startswith("/scan/")):
        return None
    if raw_path == "/scan":
        return HTTPStatus.MOVED_PERMANENTLY, [("location", "/scan/")], b""
    name = unquote(raw_path.removeprefix("/scan/")) or "index.html"
    file = (SCANNER_APP_DIRECTORY / name).resolve()
    if not file.is_relative_to(SCANNER_APP_DIRECTORY) or not file.is_file():
        return (HTTPStatus.NOT_FOUND, *_message("Not Found (is the door app built? make build)"))
    content_type = _SCANNER_APP_TYPES.get(file.suffix, "application/octet-stream")
    # no-cache: the browser revalidates, so a rebuilt app is seen at once (the service worker keeps it offline).
    return HTTPStatus.OK, [("content-type", content_type), ("cache-control", "no-cache")], file.read_bytes()


def _message(text: str) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of an answer from API Gateway itself rather than from a function."""
    return [("content-type", "application/json")], json.dumps({"message": text}).encode()


def _allowed_origin(cors: CorsConfiguration, origin: str | None) -> str | None:
    if origin is None:
        return None
    if "*" in cors.allow_origins:
        return "*"
    return origin if origin.lower() in (allowed.lower() for allowed in cors.allow_origins) else None


def _preflight_headers(cors: CorsConfiguration, origin: str | None, request_headers: Any) -> list[tuple[str, str]]:
    allowed_origin = _allowed_origin(cors, origin)
    requested_method = (request_headers.get("access-control-request-method") or "").upper()
    if allowed_origin is None or not requested_method:
        return []
    if "*" not in cors.allow_methods and requested_method not in cors.allow_methods:
        return []
    headers = [("access-control-allow-origin", allowed_origin)]
    if cors.allow_methods:
        headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
    if cors.allow_headers:
        headers.append(("access-control-allow-headers", ",".join(cors.allow_headers)))
    if cors.max_age is not None:
        headers.append(("access-control-max-age", str(cors.max_age)))
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    return headers


def _cors_response_headers(cors: CorsConfiguration, origin: str | None) -> list[tuple[str, str]]:
    allowed_origin = _allowed_origin(cors, origin)
    if allowed_origin is None:
        return []
    headers = [("access-control-allow-origin", allowed_origin)]
    if cors.expose_headers:
        headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    return headers
