"""Who may call a route: declared once by its module (`api_app(access)`), enforced before its input is validated.

Powertools validates the body, query and path before any middleware of ours runs, so an anonymous caller would
learn from a 422 what a protected route takes. The validation step is therefore wrapped: a protected route answers
401 without a valid token and 403 without the role first, and validates only what an allowed caller sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.middlewares import BaseMiddlewareHandler
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from crowdify.auth.callers import Caller, Transaction, VerifiedToken, bearer_token, require_caller, verify_token
from crowdify.config.settings import get_settings
from crowdify.core.errors import NotAuthenticated

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

CALLER = "caller"
VERIFIED_TOKEN = "verified_token"


@dataclass(frozen=True)
class Access:
    """Who may call one route. `roles` empty: any signed-in user; devices only with `allow_device`."""

    public: bool = False
    roles: tuple[str, ...] = ()
    allow_device: bool = False
    transaction: Transaction | None = None
    # The door's check-in reads the scanner's standing inside its one statement: only the token is verified before
    # validation (the route reads it from the context, VERIFIED_TOKEN, rather than verifying it again), and the
    # role is read up front only when the request turns out to be invalid.
    role_checked_by_route: bool = False
    # A signed download link in this query parameter stands in for the bearer token; the route verifies it.
    link_parameter: str | None = None


PUBLIC = Access(public=True)


def signed_in(
    *roles: str,
    allow_device: bool = False,
    transaction: Transaction | None = None,
    role_checked_by_route: bool = False,
    link_parameter: str | None = None,
) -> Access:
    return Access(
        roles=roles,
        allow_device=allow_device,
        transaction=transaction,
        role_checked_by_route=role_checked_by_route,
        link_parameter=link_parameter,
    )


class AuthoriseBeforeValidation(BaseMiddlewareHandler):
    """Powertools' request validation, run only after the caller passed the route's Access."""

    def __init__(self, access: Access, validation: BaseMiddlewareHandler) -> None:
        super().__init__()
        self.access = access
        self.validation = validation

    def handler(self, app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response:
        access = self.access
        if access.public or _carries_link(app, access):
            return self.validation.handler(app, next_middleware)
        headers = app.current_event.headers
        if not access.role_checked_by_route:
            app.append_context(**{CALLER: _require(access, headers)})
            return self.validation.handler(app, next_middleware)
        app.append_context(**{VERIFIED_TOKEN: _verify_bearer_token(headers)})
        try:
            return self.validation.handler(app, next_middleware)
        except RequestValidationError:
            # Only the validation step raises this: an invalid request is answered once the caller may send it.
            _require(access, headers)
            raise


def _carries_link(app: ApiGatewayResolver, access: Access) -> bool:
    return access.link_parameter is not None and bool(app.current_event.get_query_string_value(access.link_parameter))


def _require(access: Access, headers: dict[str, str]) -> Caller:
    return require_caller(headers, *access.roles, allow_device=access.allow_device, transaction=access.transaction)


def _verify_bearer_token(headers: dict[str, str]) -> VerifiedToken:
    token = bearer_token(headers)
    if token is None:
        raise NotAuthenticated("Not authenticated")
    return verify_token(token, get_settings())
