"""Ids from paths and bodies: a string that is not a UUID names nothing, so it is a 404, not a 500."""

from __future__ import annotations

import uuid

from crowdify.core.errors import NotFound


def uuid_or_not_found(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as error:
        raise NotFound(f"{what} not found") from error
