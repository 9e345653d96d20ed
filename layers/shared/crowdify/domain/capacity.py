"""How many seats and add-ons are sold, held and still available.

Sold seats are the tickets that are not cancelled; held seats are the items of pending orders whose hold has not
passed its deadline; reserved seats are those promo codes keep out of general sale; kept seats are what the waiting
list keeps for its next offers: the seats kept for it, or as many as the people waiting ask for, whichever is more,
so the exact count never sells to a general buyer a seat that came back while people wait (a hold past its deadline,
a refund). An expired hold stops counting the moment its deadline passes, before any sweep marks the order
`expired`. The same figures back the public `capacity_available` and the purchase's hold check. Seats banked in
capacity shards (crowdify.domain.capacity_shards) are in no order: they count as available, as they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_TICKET_TYPE_USAGE = text(
    """
    SELECT tt.id, tt.event_id,
           (SELECT count(*) FROM tickets t
             WHERE t.ticket_type_id = tt.id AND t.status <> 'cancelled') AS sold,
           (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
             WHERE oi.ticket_type_id = tt.id AND o.status = 'pending' AND o.hold_expires_at > now()) AS held,
           (SELECT coalesce(sum(v.seats_reserved), 0) FROM vouchers v WHERE v.reserved_ticket_type_id = tt.id)
           AS reserved,
           tt.waiting_list_seats AS kept,
           (SELECT coalesce(sum(w.seats), 0) FROM waiting_list_entries w
             WHERE w.event_id = tt.event_id AND w.status = 'waiting'
               AND (w.ticket_type_id IS NULL OR w.ticket_type_id = tt.id)) AS waiting_demand
      FROM ticket_types tt
     WHERE tt.event_id = ANY(:event_ids)
    """
)

_EVENT_RESERVATIONS = text(
    """
    SELECT event_id, sum(seats_reserved) AS reserved
      FROM vouchers WHERE event_id = ANY(:event_ids) AND seats_reserved > 0
     GROUP BY event_id
    """
)

_SERVICE_USAGE = text(
    """
    SELECT s.id, s.event_id,
           (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
             WHERE oi.event_service_id = s.id AND o.status IN ('completed', 'partially_refunded')) AS sold,
           (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
             WHERE oi.event_service_id = s.id AND o.status = 'pending' AND o.hold_expires_at > now()) AS held
      FROM event_services s
     WHERE s.event_id = ANY(:event_ids)
    """
)


@dataclass(frozen=True)
class Usage:
    sold: int = 0
    held: int = 0
    reserved: int = 0
    # Seats the waiting list keeps for its next offers (crowdify.domain.waiting_list): off general sale.
    kept: int = 0

    @property
    def taken(self) -> int:
        return self.sold + self.held + self.reserved + self.kept

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.sold + other.sold,
            self.held + other.held,
            self.reserved + other.reserved,
            self.kept + other.kept,
        )


@dataclass(frozen=True)
class EventUsage:
    """Seats per event and per ticket type, and add-on units per service, for a set of events."""

    events: dict[uuid.UUID, Usage]
    ticket_types: dict[uuid.UUID, Usage]
    services: dict[uuid.UUID, Usage]

    def event(self, event_id: uuid.UUID) -> Usage:
        return self.events.get(event_id, Usage())

    def ticket_type(self, ticket_type_id: uuid.UUID) -> Usage:
        return self.ticket_types.get(ticket_type_id, Usage())

    def service(self, service_id: uuid.UUID) -> Usage:
        return self.services.get(service_id, Usage())


def usage_for_events(
    executor: Session | Connection, event_ids: Iterable[uuid.UUID], *, count_waiting_demand: bool = True
) -> EventUsage:
    """Three statements, whatever the number of events. `count_waiting_demand` false: only the seats already kept
    for the waiting list count, not what its people ask for (the list's own offers take those)."""
    ids = list(event_ids)
    events: dict[uuid.UUID, Usage] = {event_id: Usage() for event_id in ids}
    ticket_types: dict[uuid.UUID, Usage] = {}
    services: dict[uuid.UUID, Usage] = {}
    if not ids:
        return EventUsage(events, ticket_types, services)
    for row in executor.execute(_TICKET_TYPE_USAGE, {"event_ids": ids}):
        kept = max(int(row.kept), int(row.waiting_demand)) if count_waiting_demand else int(row.kept)
        ticket_types[row.id] = Usage(int(row.sold), int(row.held), int(row.reserved), kept)
        # A type's reserved seats are counted once, in the event's reservations below.
        events[row.event_id] = events[row.event_id] + Usage(int(row.sold), int(row.held), kept=kept)
    for row in executor.execute(_EVENT_RESERVATIONS, {"event_ids": ids}):
        events[row.event_id] = events[row.event_id] + Usage(reserved=int(row.reserved))
    for row in executor.execute(_SERVICE_USAGE, {"event_ids": ids}):
        services[row.id] = Usage(int(row.sold), int(row.held))
    return EventUsage(events, ticket_types, services)


def available(capacity: int | None, usage: Usage) -> int | None:
    """Seats left under a capacity (None: no limit of its own)."""
    if capacity is None:
        return None
    return max(capacity - usage.taken, 0)
