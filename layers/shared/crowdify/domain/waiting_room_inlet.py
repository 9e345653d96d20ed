"""The waiting room's inlet (crowdify.domain.waiting_room explains the room): one round per event, run by a
scheduled function. At the opening it draws a random place for everyone who joined before it; it places later
arrivals in the order they joined; then it admits the next places in order, as many as the room's rate gives for the
time since the last admissions, no more than keep admitted buyers who have not bought yet under the in-flight limit,
and no more than the seats left can serve. It marks the room sold out when no seat is left or held, so the people still
waiting are told at once (and offered the waiting list).

A round holds the room's row lock: two rounds never interleave, and places stay dense.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from crowdify.core.errors import NotFound
from crowdify.domain.capacity import available, usage_for_events

_LISTED_TYPES = text("SELECT id, capacity FROM ticket_types WHERE event_id = :event_id AND NOT is_hidden")

_CREATE_ROOM = text("INSERT INTO waiting_rooms (event_id) VALUES (:event_id) ON CONFLICT (event_id) DO NOTHING")

_LOCK_ROOM = text(
    """
    SELECT r.drawn_at, r.placed, r.serving, r.admitted_at, e.waiting_room_opens_at AS opens_at,
           e.waiting_room_admissions_per_minute AS admissions_per_minute,
           e.waiting_room_admission_minutes AS admission_minutes, e.capacity_total, now() AS database_now
      FROM waiting_rooms r JOIN events e ON e.id = r.event_id
     WHERE r.event_id = :event_id
       FOR UPDATE OF r
    """
)

# Everyone who joined before the opening, in a random order: gen_random_uuid() draws from a cryptographic source, so
# nobody can predict or steer it.
_DRAW = text(
    """
    WITH drawn AS (
        SELECT user_id, row_number() OVER (ORDER BY gen_random_uuid()) AS place
          FROM queue_entries
         WHERE event_id = :event_id AND place IS NULL AND joined_at < :opens_at
    )
    UPDATE queue_entries q SET place = drawn.place
      FROM drawn
     WHERE q.event_id = :event_id AND q.user_id = drawn.user_id
    RETURNING q.place
    """
)

_PLACE_LATE_ARRIVALS = text(
    """
    WITH arrivals AS (
        SELECT user_id, CAST(:placed AS int) + row_number() OVER (ORDER BY joined_at, user_id) AS place
          FROM queue_entries
         WHERE event_id = :event_id AND place IS NULL
    )
    UPDATE queue_entries q SET place = arrivals.place
      FROM arrivals
     WHERE q.event_id = :event_id AND q.user_id = arrivals.user_id
    RETURNING q.place
    """
)

# Admitted buyers who have not bought yet: each may send a purchase at any moment. (A hold waiting for its payment
# costs the database nothing until the payment arrives, so it is not in flight.)
_IN_FLIGHT = text(
    """
    SELECT count(*) FROM queue_entries
     WHERE event_id = :event_id AND place <= :serving AND admission_used_at IS NULL AND admitted_until > now()
    """
)

_ADMIT = text(
    """
    UPDATE queue_entries
       SET admitted_at = now(), admitted_until = now() + make_interval(mins => CAST(:admission_minutes AS int))
     WHERE event_id = :event_id AND place > :serving AND place <= :last_admitted
    """
)

_SAVE_ROOM = text(
    """
    UPDATE waiting_rooms
       SET drawn_at = :drawn_at, placed = :placed, serving = :serving, admitted_at = :admitted_at,
           sold_out_at = CASE WHEN :sold_out THEN coalesce(sold_out_at, now()) END
     WHERE event_id = :event_id
    """
)

_ROOMS_OPEN = text(
    """
    SELECT id FROM events
     WHERE status = 'published' AND waiting_room_opens_at <= now() AND coalesce(ends_at, starts_at) > now()
     ORDER BY waiting_room_opens_at
    """
)


@dataclass(frozen=True)
class InletRound:
    drawn: int = 0
    placed: int = 0
    admitted: int = 0
    sold_out: bool = False


def rooms_to_serve(connection: Connection) -> list[uuid.UUID]:
    """Events whose waiting room has opened and whose sale has not ended."""
    return list(connection.execute(_ROOMS_OPEN).scalars())


def admit_from_queue(connection: Connection, event_id: uuid.UUID, max_in_flight: int) -> InletRound:
    """One round of the inlet for one event, under its room's row lock: the draw at the opening, places for late
    arrivals, then admissions in place order as the rate, the in-flight limit and the seats left allow."""
    connection.execute(_CREATE_ROOM, {"event_id": event_id})
    room = connection.execute(_LOCK_ROOM, {"event_id": event_id}).first()
    if room is None:
        raise NotFound("Event not found")
    now: datetime = room.database_now
    if room.opens_at is None or room.opens_at > now:
        return InletRound()
    drawn_at, placed, drawn = room.drawn_at, room.placed, 0
    if drawn_at is None:
        drawn = len(connection.execute(_DRAW, {"event_id": event_id, "opens_at": room.opens_at}).all())
        drawn_at, placed = now, drawn
    late = len(connection.execute(_PLACE_LATE_ARRIVALS, {"event_id": event_id, "placed": placed}).all())
    placed += late

    seats_left, seats_held = _seats_left(connection, event_id, room.capacity_total)
    sold_out = seats_left == 0 and seats_held == 0
    in_flight = connection.execute(_IN_FLIGHT, {"event_id": event_id, "serving": room.serving}).scalar_one()
    since = room.admitted_at or room.opens_at
    # A round never makes up for more than a minute of its rate: a stalled inlet does not let a flood in at once.
    elapsed = min((now - since).total_seconds(), 60.0)
    by_rate = math.floor(room.admissions_per_minute * elapsed / 60)
    admitted = max(
        min(
            by_rate,
            max_in_flight - in_flight,
            seats_left - in_flight,
            placed - room.serving,
        ),
        0,
    )
    if admitted:
        connection.execute(
            _ADMIT,
            {
                "event_id": event_id,
                "serving": room.serving,
                "last_admitted": room.serving + admitted,
                "admission_minutes": room.admission_minutes,
            },
        )
    connection.execute(
        _SAVE_ROOM,
        {
            "event_id": event_id,
            "drawn_at": drawn_at,
            "placed": placed,
            "serving": room.serving + admitted,
            # The rate's clock moves on only when a round had a whole admission's worth of time to spend.
            "admitted_at": now if by_rate >= 1 else room.admitted_at,
            "sold_out": sold_out,
        },
    )
    return InletRound(drawn=drawn, placed=drawn + late, admitted=admitted, sold_out=sold_out)


def _seats_left(connection: Connection, event_id: uuid.UUID, capacity_total: int) -> tuple[int, int]:
    """Seats a buyer could still take (the event's, and no more than its listed types have when each has a
    capacity of its own), and seats held."""
    usage = usage_for_events(connection, [event_id])
    seats_left = available(capacity_total, usage.event(event_id)) or 0
    types = connection.execute(_LISTED_TYPES, {"event_id": event_id}).all()
    if types and all(capacity is not None for _, capacity in types):
        by_type = sum(available(capacity, usage.ticket_type(type_id)) or 0 for type_id, capacity in types)
        seats_left = min(seats_left, by_type)
    return seats_left, usage.event(event_id).held
