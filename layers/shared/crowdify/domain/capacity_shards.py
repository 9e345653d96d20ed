"""Capacity shards: seats banked over N rows per ticket type, so the holds of a hot event do not queue on its row.

An event with `capacity_shards` N > 1 sells its seats through banks (the `capacity_shards` table): a bank's seats
are already counted in the event's and the type's `seats_claimed` but held by no order. A hold without a promo
code or add-ons takes its seats from one bank of each type it buys (functions/purchase: the sharded hold), picked
at random among the unlocked ones that have them, and writes neither the event's row nor the type's; so N buyers
can hold at once instead of one after the other. Releasing an order lowers the counters as for any other, which
returns its seats to general sale: the invariant stays `seats_claimed = sold + pending + reserved + kept +
banked`, or above it.

When no bank has the seats, `refill_banks` moves a batch from the counters into each free bank short of them under
the event's row lock (raising the counters by what it banks, never past a capacity). At the tail, when the counters
cannot give the seats, it drains every bank of the event back into the counters and the purchase takes today's path
on the counters, which recounts exactly when they say no. Every exact count (crowdify.domain.seat_holds:
`check_exact`, `recount_claims`) and every lowered capacity drains the banks first (`drain_banks`), under the event
lock: the exact figures do not see banked seats, and must not sell one that a bank could sell again.

Lock order: the event row (a hold reads it FOR KEY SHARE, which only an exact count's FOR UPDATE blocks; a refill
takes FOR NO KEY UPDATE), then ticket type rows, then bank rows. A hold locks at most one bank per type and
waits for one only when it holds none; a refill never waits for one; a drain locks them in shard order.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import text

from crowdify.persistence.statements import SqlStatements

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

# A refill banks a quarter of a shard's share of the capacity: few refills (each takes the event's row lock), and
# little stranded in banks that a drain must bring back at the tail.
REFILLS_PER_SHARD = 4

# Every bank of the event back into the counters. The banks are locked (FOR UPDATE waits for holds taking from
# them, and reads what they left) before the counters are lowered by exactly what was in them, in shard order. A
# hold waiting for a bank holds none, and a hold holding one waits for no bank, so neither waits for the drain in
# a circle.
_DRAIN = """
    WITH banked AS (
        SELECT ticket_type_id, shard, seats FROM capacity_shards
         WHERE event_id = :event_id AND seats > 0
         ORDER BY ticket_type_id, shard
           FOR UPDATE
    ), drained AS (
        UPDATE capacity_shards cs SET seats = 0
          FROM banked b WHERE cs.ticket_type_id = b.ticket_type_id AND cs.shard = b.shard
        RETURNING b.ticket_type_id, b.seats
    ), type_drain AS (
        UPDATE ticket_types tt SET seats_claimed = tt.seats_claimed - d.seats
          FROM (SELECT ticket_type_id, sum(seats) AS seats FROM drained GROUP BY ticket_type_id) d
         WHERE tt.id = d.ticket_type_id
        RETURNING tt.id
    ), event_drain AS (
        UPDATE events SET seats_claimed = seats_claimed - (SELECT coalesce(sum(seats), 0) FROM drained)
         WHERE id = :event_id AND EXISTS (SELECT 1 FROM drained)
        RETURNING id
    )
    SELECT (SELECT coalesce(sum(seats), 0) FROM drained) AS seats, (SELECT count(*) FROM type_drain) AS types
    """

_LOCK_EVENT = """
    SELECT capacity_shards FROM events WHERE id = :event_id AND status = 'published' FOR NO KEY UPDATE
    """

# Read after the lock, in a statement of its own: its snapshot then sees every counter change committed before.
_ROOM = """
    SELECT e.capacity_total, e.capacity_total - e.seats_claimed AS event_room,
           json_agg(json_build_object('id', tt.id, 'capacity', tt.capacity,
                                      'room', tt.capacity - tt.seats_claimed)) AS ticket_types
      FROM events e JOIN ticket_types tt ON tt.event_id = e.id
     WHERE e.id = :event_id
       AND tt.id IN (SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(CAST(:ticket_type_ids AS jsonb)))
     GROUP BY e.id
    """

# A batch of `batch` seats from the counters into each bank of the type that no hold is taking from right now and
# that is short of `quantity` (or not made yet, so the first refill makes them all), in random order, as far as
# `room` goes; the first gets at least `quantity` (room >= quantity). A refill never waits for a bank while it holds
# the event's row: when every bank is being taken from, it banks nothing and the hold waits for one of them
# instead. The counters' conditions repeat the room computed under the lock, so a mistake there refuses instead of
# overselling.
_REFILL = """
    WITH free_banks AS (
        SELECT shard, seats FROM capacity_shards WHERE ticket_type_id = :ticket_type_id FOR UPDATE SKIP LOCKED
    ), chosen AS (
        SELECT s AS shard, row_number() OVER (ORDER BY random()) - 1 AS position
          FROM generate_series(0, CAST(:shards AS int) - 1) s
         WHERE s IN (SELECT shard FROM free_banks WHERE seats < :quantity)
            OR NOT EXISTS (SELECT 1 FROM capacity_shards cs WHERE cs.ticket_type_id = :ticket_type_id AND cs.shard = s)
    ), batches AS (
        SELECT shard, least(:batch, :room - position * :batch) AS seats FROM chosen WHERE position * :batch < :room
    ), total AS (
        SELECT coalesce(sum(seats), 0) AS seats FROM batches
    ), event_fill AS (
        UPDATE events e SET seats_claimed = e.seats_claimed + total.seats
          FROM total
         WHERE e.id = :event_id AND total.seats > 0 AND e.seats_claimed + total.seats <= e.capacity_total
        RETURNING e.id
    ), type_fill AS (
        UPDATE ticket_types tt SET seats_claimed = tt.seats_claimed + total.seats
          FROM event_fill, total
         WHERE tt.id = :ticket_type_id AND tt.event_id = event_fill.id
           AND (tt.capacity IS NULL OR tt.seats_claimed + total.seats <= tt.capacity)
        RETURNING tt.id
    ), bank AS (
        INSERT INTO capacity_shards (ticket_type_id, shard, event_id, seats)
        SELECT type_fill.id, batches.shard, :event_id, batches.seats FROM type_fill, batches
        ON CONFLICT (ticket_type_id, shard) DO UPDATE SET seats = capacity_shards.seats + EXCLUDED.seats
        RETURNING seats
    )
    SELECT (SELECT seats FROM total) AS planned, (SELECT count(*) FROM bank) AS banks,
           (SELECT count(*) FROM batches) AS batches
    """


def batch_size(quantity: int, capacity: int, shards: int) -> int:
    """The seats one refill banks for a hold of `quantity`, under a capacity split over `shards` banks."""
    return max(quantity, math.ceil(capacity / shards / REFILLS_PER_SHARD))


def refill_banks(connection: SqlStatements, event_id: uuid.UUID, quantities: Mapping[uuid.UUID, int]) -> bool:
    """For a hold that found no bank with its seats: banks a batch in each free bank of each type it buys that is short
    of the seats, and answers True (hold from the banks again). Answers False (hold on the counters) when the event
    does not sell, or when the counters cannot give a type's seats (the tail): then the event's banks are drained
    back into the counters first. Run it in a transaction of its own: it takes the event's row lock, and commits to
    let other holds see the seats."""
    event = connection.first(_LOCK_EVENT, {"event_id": event_id})
    if event is None:
        return False
    if event.capacity_shards < 2:
        connection.first(_DRAIN, {"event_id": event_id})
        return False
    room = connection.first(_ROOM, {"event_id": event_id, "ticket_type_ids": json.dumps([str(q) for q in quantities])})
    if room is None:
        return False
    ticket_types = {uuid.UUID(item["id"]): item for item in room.ticket_types}
    event_room = room.event_room
    for ticket_type_id, quantity in quantities.items():
        ticket_type = ticket_types[ticket_type_id]
        type_room = event_room if ticket_type["room"] is None else min(event_room, ticket_type["room"])
        if type_room < quantity:
            connection.first(_DRAIN, {"event_id": event_id})
            return False
        capacity = ticket_type["capacity"] if ticket_type["capacity"] is not None else room.capacity_total
        filled = connection.first(
            _REFILL,
            {
                "event_id": event_id,
                "ticket_type_id": ticket_type_id,
                "quantity": quantity,
                "batch": batch_size(quantity, capacity, event.capacity_shards),
                "room": type_room,
                "shards": event.capacity_shards,
            },
        )
        if filled is None or filled.banks != filled.batches:
            raise LookupError(f"the counters of event {event_id} changed under its row lock")
        event_room -= filled.planned
    return True


def drain_banks(executor: Session | Connection, event_id: uuid.UUID) -> int:
    """Moves every banked seat of the event back into general sale (the counters lowered by them); the seats
    drained. Call it under the event's row lock, before counting exactly or lowering a capacity."""
    row = executor.execute(text(_DRAIN), {"event_id": event_id}).first()
    return int(row.seats) if row is not None else 0
