"""Event-local time: naive date-times in requests are read in the event's time zone."""

from __future__ import annotations

from datetime import datetime
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crowdify.core.errors import InvalidRequest


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidRequest(f"Unknown time zone {name!r}; use an IANA name such as 'America/Santiago'") from error


@overload
def in_event_zone(moment: datetime, zone_name: str) -> datetime: ...


@overload
def in_event_zone(moment: datetime | None, zone_name: str) -> datetime | None: ...


def in_event_zone(moment: datetime | None, zone_name: str) -> datetime | None:
    """A request's date-time as an aware one: naive values are wall-clock time at the event."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone(zone_name))
    return moment


def shown_in_zone(moment: datetime | None, zone_name: str) -> datetime | None:
    """A stored date-time as the event's local time with its offset, for responses."""
    if moment is None:
        return None
    return moment.astimezone(zone(zone_name))
