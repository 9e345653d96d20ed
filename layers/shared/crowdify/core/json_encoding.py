"""JSON for the wire and for JSONB columns: Decimal as a number, date-times as ISO 8601, UUIDs as strings."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Money is a JSON number for the web client, never a string.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_encode, separators=(",", ":"), ensure_ascii=False)


def json_safe(value: Any) -> Any:
    """The same value made of JSON types only, for a JSONB column."""
    return json.loads(to_json(value))
