"""MercadoPago webhook `x-signature` verification (contract: docs/architecture.md, "MercadoPago").

The header reads `ts=<timestamp>,v1=<hex>`; v1 is HMAC-SHA256, keyed with the webhook secret,
over the manifest `id:{data.id};request-id:{x-request-id};ts:{ts};`. An alphanumeric data.id
is lower-cased, and a part whose value is absent is left out of the manifest.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def manifest(data_id: str | None, request_id: str | None, ts: str | None) -> str:
    parts = []
    if data_id:
        # str.isalnum() would also lower-case non-ASCII letters; MercadoPago means ASCII.
        parts.append(f"id:{data_id.lower() if _ALPHANUMERIC.fullmatch(data_id) else data_id};")
    if request_id:
        parts.append(f"request-id:{request_id};")
    if ts:
        parts.append(f"ts:{ts};")
    return "".join(parts)


def sign(secret: str, data_id: str | None, request_id: str | None, ts: str | None) -> str:
    """The v1 value MercadoPago sends for these values (hex)."""
    message = manifest(data_id, request_id, ts).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _parse_header(x_signature: str) -> tuple[str, str] | None:
    """(ts, v1) from `ts=…,v1=…` in any order, spaces allowed; None when malformed."""
    values: dict[str, str] = {}
    for part in x_signature.split(","):
        name, separator, value = part.partition("=")
        name, value = name.strip(), value.strip()
        # A repeated name is ambiguous: which one did MercadoPago sign?
        if not separator or not name or not value or name in values:
            return None
        values[name] = value
    ts, v1 = values.get("ts"), values.get("v1")
    if not ts or not v1 or not _HEX_SHA256.fullmatch(v1):
        return None
    return ts, v1.lower()


def verify_signature(secret: str, x_signature: str | None, x_request_id: str | None, data_id: str | None) -> bool:
    """True only when x_signature is a well-formed header signed with `secret` for these values."""
    # An empty key would make the HMAC forgeable by anyone; callers skip verification on purpose.
    if not secret or not x_signature:
        return False
    parsed = _parse_header(x_signature)
    if parsed is None:
        return False
    ts, v1 = parsed
    return hmac.compare_digest(sign(secret, data_id, x_request_id, ts), v1)
