"""The HTTP layer every API function shares: the resolver, the one error table, and the Lambda entry point."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.logging import correlation_paths

from crowdify.auth.callers import Caller, VerifiedToken
from crowdify.config.settings import get_settings
from crowdify.core import errors
from crowdify.core.json_encoding import to_json
from crowdify.http.route_access import CALLER, VERIFIED_TOKEN, Access, AuthoriseBeforeValidation
from crowdify.http.untrusted_json import parse_untrusted_json
from crowdify.observability import business_metrics, tracing

logger = Logger()

# The refusals an operator counts, by the reason the dashboard shows (wherever in a purchase they are raised).
HOLD_REFUSALS = {errors.SoldOut: "sold_out", errors.PurchaseLimitReached: "buyer_limit"}

# Larger bodies are refused before parsing: nothing the API takes comes near this.
MAX_BODY_BYTES = 1024 * 1024

ERROR_STATUS: dict[type[errors.DomainError], HTTPStatus] = {
    errors.NotAuthenticated: HTTPStatus.UNAUTHORIZED,
    errors.Forbidden: HTTPStatus.FORBIDDEN,
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.Gone: HTTPStatus.GONE,
    errors.InvalidRequest: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.MalformedRequest: HTTPStatus.BAD_REQUEST,
    errors.DependencyUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}


def status_for(error: errors.DomainError) -> HTTPStatus:
    for error_class in type(error).__mro__:
        if error_class in ERROR_STATUS:
            return ERROR_STATUS[error_class]
    return HTTPStatus.BAD_REQUEST


def json_error(status: HTTPStatus | int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body={"detail": detail},
        headers=headers,
    )


class SettingsCORS(CORSConfig):
    """CORS origins from CORS_ORIGINS, read on the first request rather than at import."""

    def __init__(self) -> None:
        super().__init__(allow_origin="", allow_headers=["Idempotency-Key"], max_age=600)

    def _origins(self) -> list[str]:
        return get_settings().cors_origins

    def allowed_origin(self, extracted_origin: str) -> str | None:
        origins = self._origins()
        if extracted_origin and extracted_origin in origins:
            return extracted_origin
        if extracted_origin and "*" in origins:
            return "*"
        return None

    def to_dict(self, origin: str | None) -> dict[str, str]:
        if not origin:
            return {}
        self._allowed_origins = [origin]
        return super().to_dict(origin)


class InvocationResolver(APIGatewayHttpResolver):
    """Powertools' resolver with its per-invocation state (the event, the Lambda context, the route's context) kept
    per thread.

    Powertools keeps that state on the resolver, and the event on its base class, which is right for Lambda: one
    invocation at a time per process. The tests and benchmarks invoke one handler from many threads at once (races
    against real Postgres); with shared state, one invocation clearing its context at the end could take the route or
    the caller from another one still running.
    """

    def __init__(self, **options: Any) -> None:
        self._invocation = threading.local()
        super().__init__(**options)

    @property
    def context(self) -> dict:  # type: ignore[override]
        state = self._invocation
        if not hasattr(state, "context"):
            state.context = {}
        return state.context

    @context.setter
    def context(self, value: dict) -> None:
        self._invocation.context = value

    @property
    def current_event(self) -> Any:  # type: ignore[override]
        return getattr(self._invocation, "event", None)

    @current_event.setter
    def current_event(self, value: Any) -> None:
        self._invocation.event = value

    @property
    def lambda_context(self) -> Any:  # type: ignore[override]
        return getattr(self._invocation, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._invocation.lambda_context = value

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        # Powertools stores these on its base class, which every thread shares; this thread reads its own.
        self.current_event = self._to_proxy_event(dict(event))
        self.lambda_context = context
        return super().resolve(event, context)


def api_app(access: Access) -> APIGatewayHttpResolver:
    """The resolver every route module uses: `access` checked before validation, CORS from settings, bodies read by
    crowdify.http.untrusted_json, errors mapped in one table."""
    app = InvocationResolver(
        enable_validation=True, cors=SettingsCORS(), serializer=to_json, json_body_deserializer=parse_untrusted_json
    )
    # Powertools runs its request validation before every middleware it lets us add; wrapping the one it created
    # is the only way to authorise first (a Powertools upgrade that changes this fails the authorisation matrix).
    app._request_validation_middleware = AuthoriseBeforeValidation(access, app._request_validation_middleware)

    @app.exception_handler(errors.DomainError)
    def domain_error(error: errors.DomainError) -> Response:
        status = status_for(error)
        headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else None
        refusal = HOLD_REFUSALS.get(type(error))
        if refusal is not None:
            business_metrics.hold_refused(refusal)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            # The driver's own error, when there is one: SQLAlchemy's wrapper would log the statement's parameters.
            cause = getattr(error.__cause__, "orig", error.__cause__)
            logger.warning("dependency unavailable", extra={"detail": error.detail, "cause": repr(cause)})
        return json_error(status, error.detail, headers)

    @app.exception_handler(RequestValidationError)
    def validation_error(error: RequestValidationError) -> Response:
        detail = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg", "Invalid value"), "type": item.get("type")}
            for item in error.errors()
        ]
        return json_error(HTTPStatus.UNPROCESSABLE_ENTITY, detail)

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_content_type(_error: RequestUnsupportedContentType) -> Response:
        return json_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json")

    @app.exception_handler(NotFoundError)
    def route_not_found(_error: NotFoundError) -> Response:
        return json_error(HTTPStatus.NOT_FOUND, "Not Found")

    @app.exception_handler(Exception)
    def unexpected_error(_error: Exception) -> Response:
        logger.exception("unhandled error")
        return json_error(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")

    return app


def caller_of(app: APIGatewayHttpResolver) -> Caller:
    """The caller of the current request, authorised by the route's Access before its input was validated (routes
    whose Access is public, reads the role itself or let a download link in have none)."""
    return app.context[CALLER]


def verified_token_of(app: APIGatewayHttpResolver) -> VerifiedToken:
    """The bearer token of the current request, verified by a route whose Access reads the role itself."""
    return app.context[VERIFIED_TOKEN]


def idempotency_key(app: APIGatewayHttpResolver, body_key: str | None, max_length: int) -> str | None:
    """The client's idempotency key: the body's field (the old client sends it there; its model limits it) or the
    `Idempotency-Key` header, refused (422) when longer than `max_length` rather than cut into another key."""
    if body_key:
        return body_key
    header = (app.current_event.get_header_value("Idempotency-Key", case_sensitive=False) or "").strip()
    if len(header) > max_length:
        raise errors.InvalidRequest(f"Idempotency-Key is longer than {max_length} characters")
    return header or None


def _early_error(status: HTTPStatus, detail: str) -> dict[str, Any]:
    return {
        "statusCode": int(status),
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": to_json({"detail": detail}),
        "isBase64Encoded": False,
    }


def refused_before_parsing(event: dict[str, Any]) -> dict[str, Any] | None:
    """Bodies the API never takes, answered before parsing or validation spend any time on them."""
    body = event.get("body")
    if not body:
        return None
    if len(body) > MAX_BODY_BYTES:
        return _early_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large (limit 1 MB)")
    if event.get("isBase64Encoded"):
        # API Gateway base64-encodes bodies that are not UTF-8 text: none of them is JSON.
        try:
            base64.b64decode(body).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return _early_error(HTTPStatus.UNPROCESSABLE_ENTITY, "The body is not UTF-8 JSON")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    # Every body this API takes is JSON; a client that names no type is read as sending JSON.
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        return _early_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json")
    return None


def lambda_handler_for(app: APIGatewayHttpResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point of one route module: structured logs and (when enabled) traces. Business metrics are
    printed where they happen (crowdify.observability.business_metrics), so there is nothing to flush here."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        refusal = refused_before_parsing(event)
        if refusal is not None:
            return refusal
        tracer = tracing.tracer()
        if tracer is None:
            return app.resolve(event, context)
        with tracer.provider.in_subsegment("## resolve"):
            return app.resolve(event, context)

    return lambda_handler
