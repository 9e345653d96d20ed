"""Invoke a handler module the way API Gateway (HTTP API, payload v2) does, and read its answer."""

from __future__ import annotations

import base64
import importlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlencode


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: str
    raw: dict[str, Any]

    def json(self) -> Any:
        return json.loads(self.body)


def route_key_for(route: str) -> str:
    """`/api/v1/events/<event_id>` or `{event_id}` styles both give API Gateway's `{event_id}` form."""
    return re.sub(r"<(\w+)>", r"{\1}", route)


def build_event(
    method: str,
    route: str,
    path_parameters: dict[str, str] | None = None,
    *,
    body: Any = None,
    raw_body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    template = route_key_for(route)
    path = template
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", str(value))
    all_headers = {"content-type": "application/json", "user-agent": "pytest"}
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    encoded_body: str | None = None
    is_base64 = False
    if raw_body is not None:
        if isinstance(raw_body, bytes):
            encoded_body, is_base64 = base64.b64encode(raw_body).decode(), True
        else:
            encoded_body = raw_body
    elif body is not None:
        encoded_body = json.dumps(body)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": f"{method} {template}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "queryStringParameters": dict(query) if query else None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {template}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": encoded_body,
        "isBase64Encoded": is_base64,
        "stageVariables": None,
    }


def handler_module(name: str) -> ModuleType:
    return importlib.import_module(name)


def invoke(module_name: str, event: dict[str, Any]) -> HttpResponse:
    result = handler_module(module_name).lambda_handler(event, LambdaContext(function_name=module_name))
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("latin-1")
    headers = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
    return HttpResponse(status=result["statusCode"], headers=headers, body=body, raw=result)


def call(
    module_name: str,
    method: str,
    route: str,
    path_parameters: dict[str, str] | None = None,
    **options: Any,
) -> HttpResponse:
    return invoke(module_name, build_event(method, route, path_parameters, **options))
