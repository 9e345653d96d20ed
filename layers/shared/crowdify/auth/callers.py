"""Who is calling: bearer tokens verified locally, roles from the database (docs/architecture.md "Roles and
authentication").

Two kinds of token are accepted:
- Supabase Auth tokens (`iss` ends with `/auth/v1`, `aud` = "authenticated"): HS256 with the project's JWT secret,
  or RS256/ES256 with a key from the project's JWKS (fetched once, cached per warm container);
- backend tokens (`iss` = `aud` = "crowdify"): `typ: user` names a user, `typ: device` a scanner device.
The role always comes from the `users` table. `user_metadata` is never read: users edit it themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt

from crowdify.auth import backend_tokens
from crowdify.auth.users import find_or_create_user
from crowdify.config.settings import Settings, get_settings
from crowdify.core.errors import Forbidden, NotAuthenticated
from crowdify.persistence.statements import SqlStatements

SUPABASE_AUDIENCE = "authenticated"
_ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]

STAFF_ROLES = ("scanner", "coordinator", "admin")
MANAGER_ROLES = ("coordinator", "admin")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a user (with a role from the database) or a scanner device."""

    id: uuid.UUID
    role: str | None = None
    email: str | None = None
    device_event_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    is_device: bool = False

    def has_role(self, *roles: str) -> bool:
        return not self.is_device and self.role in roles

    @property
    def is_admin(self) -> bool:
        return self.has_role("admin")

    def may_scan_event(self, event_id: uuid.UUID) -> bool:
        if self.is_device:
            return event_id in self.device_event_ids
        return self.has_role(*STAFF_ROLES)


@dataclass(frozen=True)
class VerifiedToken:
    subject: uuid.UUID
    kind: str  # "user" or "device"
    email: str | None
    role_for_new_user: str
    device_event_ids: frozenset[uuid.UUID]


def bearer_token(headers: dict[str, str] | None) -> str | None:
    for name, value in (headers or {}).items():
        if name.lower() == "authorization" and value:
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise NotAuthenticated("Authorization header must be 'Bearer <token>'")
    return None


def verify_token(token: str, settings: Settings) -> VerifiedToken:
    """Check signature, expiry, issuer and audience; raises NotAuthenticated for anything wrong."""
    try:
        # One unverified parse for both header and claims: every parse re-checks each segment's characters.
        unverified_token = jwt.decode_complete(token, options={"verify_signature": False})
        header, unverified = unverified_token["header"], unverified_token["payload"]
    except jwt.InvalidTokenError as error:
        raise NotAuthenticated("Invalid token") from error
    issuer = unverified.get("iss")
    try:
        if issuer == backend_tokens.ISSUER:
            return _verify_backend_token(token, unverified.get("typ"), settings)
        if isinstance(issuer, str) and issuer.endswith("/auth/v1"):
            return _verify_supabase_token(token, header, issuer, settings)
    except jwt.ExpiredSignatureError as error:
        raise NotAuthenticated("Token expired") from error
    except (jwt.InvalidTokenError, jwt.PyJWKClientError, ValueError) as error:
        raise NotAuthenticated("Invalid token") from error
    raise NotAuthenticated("Invalid token issuer")


def _verify_backend_token(token: str, token_type: Any, settings: Settings) -> VerifiedToken:
    if token_type not in (backend_tokens.USER_TOKEN, backend_tokens.DEVICE_TOKEN):
        raise jwt.InvalidTokenError("token type not accepted here")
    claims = backend_tokens.decode_backend_token(token, settings.jwt_secret, token_type)
    events = frozenset(uuid.UUID(event_id) for event_id in claims.get("events", []))
    return VerifiedToken(
        subject=uuid.UUID(claims["sub"]),
        kind=token_type,
        email=claims.get("email"),
        role_for_new_user="user",
        device_event_ids=events,
    )


def _verify_supabase_token(token: str, header: dict[str, Any], issuer: str, settings: Settings) -> VerifiedToken:
    algorithm = header.get("alg")
    expected_issuer = f"{settings.supabase_url.rstrip('/')}/auth/v1" if settings.supabase_url else issuer
    options = {"require": ["exp", "sub", "aud", "iss"]}
    if algorithm == "HS256":
        if not settings.supabase_jwt_secret:
            raise jwt.InvalidTokenError("Supabase HS256 tokens are not configured")
        key: Any = settings.supabase_jwt_secret
        algorithms = ["HS256"]
    elif algorithm in _ASYMMETRIC_ALGORITHMS:
        if not settings.supabase_url:
            raise jwt.InvalidTokenError("Supabase JWKS is not configured")
        key = _jwks_client(expected_issuer + "/.well-known/jwks.json").get_signing_key_from_jwt(token).key
        algorithms = _ASYMMETRIC_ALGORITHMS
    else:
        raise jwt.InvalidTokenError(f"algorithm {algorithm!r} is not accepted")
    claims = jwt.decode(
        token, key, algorithms=algorithms, audience=SUPABASE_AUDIENCE, issuer=expected_issuer, options=options
    )
    app_metadata = claims.get("app_metadata") or {}
    role = app_metadata.get("role") if isinstance(app_metadata, dict) else None
    return VerifiedToken(
        subject=uuid.UUID(claims["sub"]),
        kind=backend_tokens.USER_TOKEN,
        email=claims.get("email"),
        role_for_new_user=role if isinstance(role, str) else "user",
        device_event_ids=frozenset(),
    )


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=600, timeout=3)


_DEVICE_STATE = "SELECT revoked_at, expires_at, event_ids FROM scanner_devices WHERE id = :id"

# Opens a transaction and yields a connection in it: crowdify.persistence.pg_connection.transaction on the door's and
# the purchase's paths.
Transaction = Callable[[], AbstractContextManager[SqlStatements]]


def _core_transaction() -> AbstractContextManager[SqlStatements]:
    # Imported on use: the door passes crowdify.persistence.pg_connection.transaction and so never loads SQLAlchemy,
    # a large part of a cold start.
    from crowdify.persistence.database import statements_transaction

    return statements_transaction()


def authenticate(headers: dict[str, str] | None, transaction: Transaction | None = None) -> Caller | None:
    """The caller named by the request's bearer token, or None when there is no token at all.

    The token is verified before any database work; the device's state or the user's role is then read in a
    transaction of `transaction` (default: SQLAlchemy Core, crowdify.persistence.database).
    """
    token = bearer_token(headers)
    if token is None:
        return None
    verified = verify_token(token, get_settings())
    with (transaction or _core_transaction)() as connection:
        return _caller_of_verified_token(connection, verified)


def _caller_of_verified_token(connection: SqlStatements, verified: VerifiedToken) -> Caller:
    """The device (refused when revoked or expired) or the user (created on first sight) a verified token names."""
    if verified.kind == backend_tokens.DEVICE_TOKEN:
        device = connection.first(_DEVICE_STATE, {"id": verified.subject})
        if device is None or device.revoked_at is not None:
            raise NotAuthenticated("Scanner device revoked")
        if device.expires_at <= datetime.now(UTC):
            raise NotAuthenticated("Scanner device expired")
        return Caller(id=verified.subject, is_device=True, device_event_ids=frozenset(device.event_ids))
    user = find_or_create_user(connection, verified.subject, verified.email, verified.role_for_new_user)
    return Caller(id=user.id, role=user.role, email=user.email)


def require_caller(
    headers: dict[str, str] | None, *roles: str, allow_device: bool = False, transaction: Transaction | None = None
) -> Caller:
    """A signed-in caller with one of `roles` (any role when none are named); 401 / 403 otherwise."""
    caller = authenticate(headers, transaction)
    if caller is None:
        raise NotAuthenticated("Not authenticated")
    if caller.is_device:
        if not allow_device:
            raise Forbidden("Scanner devices cannot use this route")
        return caller
    if roles and caller.role not in roles:
        raise Forbidden("Not allowed for your role")
    return caller
