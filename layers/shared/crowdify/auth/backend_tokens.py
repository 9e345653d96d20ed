"""Tokens this back end issues itself: operators' user tokens, scanner-device tokens, PDF download tokens.

All are HS256 with `JWT_SECRET`, `iss` = `aud` = "crowdify", and a `typ` that says what they are for, so a
download token can never be replayed as a user token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt

ISSUER = "crowdify"
USER_TOKEN = "user"
DEVICE_TOKEN = "device"
DOWNLOAD_TOKEN = "download"


def _issue(secret: str, subject: str, token_type: str, ttl_seconds: int, extra: dict[str, Any]) -> str:
    if not secret:
        raise ValueError("JWT_SECRET is not configured")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "typ": token_type,
        **extra,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def issue_user_token(user_id: str, secret: str, ttl_seconds: int = 12 * 3600) -> str:
    return _issue(secret, str(user_id), USER_TOKEN, ttl_seconds, {})


def issue_device_token(device_id: str, event_ids: Iterable[str], secret: str, ttl_seconds: int) -> str:
    return _issue(secret, str(device_id), DEVICE_TOKEN, ttl_seconds, {"events": [str(e) for e in event_ids]})


def issue_download_token(order_id: str, secret: str, ttl_seconds: int = 30 * 24 * 3600) -> str:
    return _issue(secret, str(order_id), DOWNLOAD_TOKEN, ttl_seconds, {})


def decode_backend_token(token: str, secret: str, expected_type: str) -> dict[str, Any]:
    """Verify a backend token of one type; raises jwt.InvalidTokenError for anything wrong."""
    if not secret:
        raise jwt.InvalidTokenError("JWT_SECRET is not configured")
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=ISSUER,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "jti", "typ"]},
    )
    if claims.get("typ") != expected_type:
        raise jwt.InvalidTokenError(f"not a {expected_type} token")
    return claims
