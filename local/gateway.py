"""A local API Gateway HTTP API: serves every HttpApi route of template.yaml by invoking its function.

The server is aiohttp's: one event loop holds thousands of connections (a kept-alive client, a browser's
burst), with TCP_NODELAY on every socket so that a reply never waits for the client's delayed ACK. Functions
run as on Lambda, each in worker processes of its own (local/lambda_runtime.py), invoked with payload v2
events built the way API Gateway builds them, so adding a route to the template is all it takes to serve it
locally. CORS preflights are answered from the template's CorsConfiguration, as API Gateway answers them.

Every function gets the environment the caller passes, not the template's: the template's values are
deploy-time references (Secrets Manager, parameters) that mean nothing locally.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict

from local.lambda_runtime import (
    DEFAULT_CONCURRENCY,
    EnvironmentFailed,
    FunctionError,
    FunctionTimedOut,
    LambdaRuntime,
)
from local.sam_template import (
    LOCAL_ACCOUNT_ID,
    CorsConfiguration,
    Route,
    SamTemplate,
    ScheduleTrigger,
    SqsTrigger,
)
from local.static_files import StaticFolder, read_static_file, static_folder_for

logger = logging.getLogger(__name__)

# API Gateway's payload limit for HTTP APIs.
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
# A body that stops arriving before its Content-Length is complete: the client has sent all it will.
BODY_IDLE_SECONDS = 2.0
# The kernel's accept queue; a browser or a load test opening hundreds of connections at once must not be refused.
LISTEN_BACKLOG = 4096
# How long stopping waits for requests in flight (Ctrl-C must not wait out a queue of them).
STOP_SECONDS = 2.0
LOCAL_API_ID = "local"
_TEXT_ENCODING = "utf-8"
_Result = TypeVar("_Result")


class Gateway:
    """Serves the template's HttpApi routes on host:port (0 picks a free port), on a thread of its own."""

    def __init__(
        self,
        template_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        environment: dict[str, str] | None = None,
        parameter_overrides: dict[str, str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.template = SamTemplate.read(template_path, parameter_overrides)
        self.host = host
        self.port = port
        self.runtime = LambdaRuntime(
            self.template.functions, self.template.layer_directories, dict(environment or {}), concurrency
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Gateway:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="gateway", daemon=True)
        self._thread.start()
        self._call(self._start())
        logger.info("Gateway serving %d routes on %s", len(self.template.routes), self.url)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._loop = None
        self._thread = None

    def sqs_triggers(self) -> list[SqsTrigger]:
        return list(self.template.sqs_triggers)

    def schedule_triggers(self) -> list[ScheduleTrigger]:
        return list(self.template.schedule_triggers)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function of the template with any event, as Lambda's Invoke API would (from any thread but
        the gateway's own); raises FunctionError, FunctionTimedOut or EnvironmentFailed as Lambda reports them."""
        return self._call(self.runtime.invoke(logical_id, event))

    def environments(self, logical_id: str) -> list[int]:
        """The process ids of the function's live environments."""
        environments = self.runtime.functions[logical_id].environments
        return [environment.process.pid for environment in environments if environment.process is not None]

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

    def _call(self, coroutine: Awaitable[_Result]) -> _Result:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]

    async def _start(self) -> None:
        await self.runtime.start()
        # The low-level server: the gateway routes by the template itself, and every request reaches _handle.
        self._runner = web.ServerRunner(
            _GatewayServer(self._handle, access_log=None), handle_signals=False, shutdown_timeout=STOP_SECONDS
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=LISTEN_BACKLOG, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.runtime.stop()
        # Connections the runners let go of still have tasks; the loop closes after this.
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.monotonic()
        request_id = base64.b64encode(secrets.token_bytes(12)).decode()
        split = urlsplit(request.raw_path)
        raw_path = split.path or "/"
        method = request.method.upper()
        try:
            body = await _read_body(request)
        except RequestBodyTooLarge:
            return _answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, *_message("Request Entity Too Large"), request_id)
        except IncompleteBody:
            self._log(method, raw_path, HTTPStatus.BAD_REQUEST, "body shorter than its Content-Length", started)
            response = _answer(HTTPStatus.BAD_REQUEST, *_message("Bad Request"), request_id)
            response.force_close()
            return response
        origin = request.headers.get("origin")
        cors = self.template.cors

        if method == "OPTIONS" and cors is not None:
            # API Gateway answers every preflight itself, whether or not a route declares OPTIONS.
            headers = _preflight_headers(cors, origin, request.headers)
            self._log(method, raw_path, HTTPStatus.NO_CONTENT, "CORS preflight", started)
            return _answer(HTTPStatus.NO_CONTENT, headers, b"", request_id)
        static = static_folder_for(raw_path)
        if static is not None and method in ("GET", "HEAD"):
            return self._static(static, raw_path, method, request_id, started)
        matched = self.match(method, raw_path)
        if matched is None:
            self._log(method, raw_path, HTTPStatus.NOT_FOUND, "no route", started)
            return _answer(HTTPStatus.NOT_FOUND, *_message("Not Found"), request_id)
        route, path_parameters = matched
        event = build_http_event(
            route=route,
            path_parameters=path_parameters,
            method=method,
            raw_path=raw_path,
            raw_query=split.query,
            header_pairs=list(request.headers.items()),
            body=body,
            source_ip=request.remote or "127.0.0.1",
            protocol=f"HTTP/{request.version.major}.{request.version.minor}",
            request_id=request_id,
        )
        status, headers, response_body = await self._invoke(route, event, method, raw_path)
        if cors is not None:
            # With CORS configured, API Gateway replaces whatever CORS headers the integration sent.
            headers = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            headers += _cors_response_headers(cors, origin)
        self._log(method, raw_path, status, route.function.logical_id, started)
        return _answer(status, headers, response_body, request_id)

    async def _invoke(
        self, route: Route, event: dict[str, Any], method: str, raw_path: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        logical_id = route.function.logical_id
        try:
            result = await self.runtime.invoke(logical_id, event)
        except FunctionTimedOut as error:
            logger.error("%s on %s %s: %s", logical_id, method, raw_path, error)
            return HTTPStatus.SERVICE_UNAVAILABLE, *_message("Service Unavailable")
        except FunctionError as error:
            logger.error("%s failed on %s %s:\n%s", logical_id, method, raw_path, error.traceback_text())
            return HTTPStatus.INTERNAL_SERVER_ERROR, *_message("Internal Server Error")
        except EnvironmentFailed as error:
            logger.error("%s failed on %s %s: %s", logical_id, method, raw_path, error)
            return HTTPStatus.INTERNAL_SERVER_ERROR, *_message("Internal Server Error")
        try:
            return http_response(result)
        except (TypeError, ValueError, KeyError) as error:
            # API Gateway's answer to a response it cannot read.
            logger.error("%s returned a response API Gateway cannot read: %s", logical_id, error)
            return HTTPStatus.INTERNAL_SERVER_ERROR, *_message("Internal Server Error")

    def _static(
        self, static: StaticFolder, raw_path: str, method: str, request_id: str, started: float
    ) -> web.StreamResponse:
        if raw_path == static.prefix.rstrip("/"):
            self._log(method, raw_path, HTTPStatus.MOVED_PERMANENTLY, "static", started)
            return _answer(HTTPStatus.MOVED_PERMANENTLY, [("location", static.prefix)], b"", request_id)
        answer = read_static_file(static, unquote(raw_path))
        self._log(method, raw_path, answer.status, "static", started)
        headers = [("content-type", answer.content_type), ("cache-control", "no-cache")]
        return _answer(answer.status, headers, answer.body, request_id)

    def _log(self, method: str, raw_path: str, status: int, target: str, started: float) -> None:
        elapsed_milliseconds = (time.monotonic() - started) * 1000
        logger.info("%s %s -> %d (%s, %.0f ms)", method, raw_path, status, target, elapsed_milliseconds)


class _GatewayProtocol(RequestHandler):
    """aiohttp's connection handler, answering a request its parser refuses (a Content-Length of -1 or `abc`,
    a broken request line) as API Gateway does: a JSON 400 and one log line, not a text page and a traceback."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status != HTTPStatus.BAD_REQUEST:
            return super().handle_error(request, status, exc, message)
        reason = (message or "").strip().splitlines()[0] if message else "malformed request"
        logger.info("Refused a malformed request from %s: %s", request.remote, reason)
        headers, body = _message("Bad Request")
        response = web.Response(status=status, body=body, headers=dict(headers))
        response.force_close()
        return response


class _GatewayServer(web.Server):
    def __call__(self) -> RequestHandler:
        # aiohttp's own factory with the subclass above (its attributes as in the pinned aiohttp release).
        return _GatewayProtocol(self, loop=self._loop, **self._kwargs)


class RequestBodyTooLarge(Exception):
    pass


class IncompleteBody(Exception):
    pass


async def _read_body(request: web.BaseRequest) -> bytes:
    """The whole body; one over API Gateway's limit is read to its end anyway (a client still sending would see
    a reset connection instead of the 413), and one that stops short of its Content-Length is refused."""
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = await asyncio.wait_for(request.content.readany(), BODY_IDLE_SECONDS)
        except TimeoutError:
            raise IncompleteBody from None
        if not chunk:
            break
        total += len(chunk)
        if total <= MAX_REQUEST_BODY_BYTES:
            chunks.append(chunk)
    if total > MAX_REQUEST_BODY_BYTES:
        raise RequestBodyTooLarge
    return b"".join(chunks)


def _answer(status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> web.Response:
    response_headers: CIMultiDict[str] = CIMultiDict()
    for name, value in headers:
        if name.lower() not in ("content-length", "transfer-encoding", "connection"):
            response_headers.add(name, value)
    response_headers["apigw-requestid"] = request_id
    response = web.Response(status=status, body=body, headers=response_headers)
    if "content-type" not in response_headers:
        # aiohttp would name a type the function did not; API Gateway names none.
        response.headers.popall("content-type", None)
    return response


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
