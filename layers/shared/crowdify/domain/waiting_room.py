"""The waiting room (docs/architecture.md, "Flash sales"): a queue in front of an event's purchases.

An organiser turns it on with an opening time and a rate. Signed-in visitors join before or after the opening. At
the opening the inlet draws a place at random for everyone who joined before it (arriving early gives no advantage);
later arrivals get the next places in the order they joined. The inlet (a scheduled function,
crowdify.domain.waiting_room_inlet) then raises the serving place at the room's rate, while the admitted buyers who
have not bought yet (each may send a purchase at any moment) stay under `waiting_room_max_in_flight` and the seats
left can still serve them. An admission lasts `waiting_room_admission_minutes` and buys once: the purchase uses it in
the hold's transaction (`use_admission`).

Joining is one INSERT that never waits on another joiner; the places are written by the inlet, which holds the
room's row lock, so places stay dense (1, 2, 3 ...) and "people ahead" is the place minus the serving place, read
without counting. The status a visitor polls is one read of three rows, never a write.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crowdify.core.errors import Conflict, Forbidden, NotFound
from crowdify.persistence.statements import SqlStatements

WAITING = "waiting"
ADMITTED = "admitted"
SOLD_OUT = "sold_out"
CLOSED = "closed"
NOT_JOINED = "not_joined"

MIN_POLL_SECONDS = 2
MAX_POLL_SECONDS = 30

ADMISSION_USED = "admission_used"
ADMISSION_EXPIRED = "admission_expired"
EVENT_CLOSED = "event_closed"

JOIN_THE_QUEUE = (
    "This event sells through its waiting room: join the queue (POST /api/v1/events/{event_id}/queue) and buy once "
    "you are admitted"
)
ADMISSION_WAS_USED = "Your admission from the waiting room was already used for a purchase; join the queue again"
ADMISSION_HAS_EXPIRED = "Your admission from the waiting room has expired; join the queue again"

# The room and the caller's entry; `joined_now` when this statement put the caller in line. A join lost in a crash
# is seen as "not_joined" and the page joins again, so the commit does not wait for the WAL flush.
_JOIN = """
    WITH asynchronous_commit AS (
        SELECT set_config('synchronous_commit', 'off', true)
    ), known_user AS (
        SELECT EXISTS (SELECT 1 FROM users WHERE id = :user_id) AS known
    ), room AS (
        SELECT id FROM events
         WHERE id = :event_id AND waiting_room_opens_at IS NOT NULL AND status = 'published'
           AND EXISTS (SELECT 1 FROM asynchronous_commit) AND (SELECT known FROM known_user)
    ), joined AS (
        INSERT INTO queue_entries (event_id, user_id)
        SELECT id, :user_id FROM room
        ON CONFLICT (event_id, user_id) DO UPDATE
           SET joined_at = now(), place = NULL, admitted_at = NULL, admitted_until = NULL, admission_used_at = NULL,
               order_id = NULL
         WHERE queue_entries.admission_used_at IS NOT NULL OR queue_entries.admitted_until <= now()
        RETURNING joined_at
    )
    SELECT {status_columns}, j.joined_at IS NOT NULL AS joined_now, coalesce(j.joined_at, q.joined_at) AS joined_at,
           EXISTS (SELECT 1 FROM room) AS on_sale, (SELECT known FROM known_user) AS user_known
      FROM events e
      LEFT JOIN waiting_rooms r ON r.event_id = e.id
      LEFT JOIN queue_entries q ON q.event_id = e.id AND q.user_id = :user_id
      LEFT JOIN joined j ON true
     WHERE e.id = :event_id
    """

_STATUS = """
    SELECT {status_columns}, false AS joined_now, q.joined_at
      FROM events e
      LEFT JOIN waiting_rooms r ON r.event_id = e.id
      LEFT JOIN queue_entries q ON q.event_id = e.id AND q.user_id = :user_id
     WHERE e.id = :event_id
    """

_STATUS_COLUMNS = """
    e.id AS event_id, e.status AS event_status, e.waiting_room_opens_at AS opens_at,
    e.waiting_room_admissions_per_minute AS admissions_per_minute, now() AS database_now,
    coalesce(r.placed, 0) AS placed, coalesce(r.serving, 0) AS serving, r.drawn_at, r.sold_out_at,
    q.user_id IS NOT NULL AS in_line, CASE WHEN NOT ({fresh}) THEN q.place END AS place,
    CASE WHEN NOT ({fresh}) THEN q.admitted_until END AS admitted_until,
    CASE WHEN NOT ({fresh}) THEN q.admission_used_at END AS admission_used_at
    """

_JOIN_STATEMENT = _JOIN.format(status_columns=_STATUS_COLUMNS.format(fresh="j.joined_at IS NOT NULL"))
_STATUS_STATEMENT = _STATUS.format(status_columns=_STATUS_COLUMNS.format(fresh="false"))

_USE_ADMISSION = """
    UPDATE queue_entries SET admission_used_at = now(), order_id = :order_id
     WHERE event_id = :event_id AND user_id = :user_id AND admitted_at IS NOT NULL
       AND admission_used_at IS NULL AND admitted_until > now()
    RETURNING admitted_until
    """


@dataclass(frozen=True)
class QueueStatus:
    """What a visitor sees of their place; `position` and `ahead` are unknown (None) until the inlet places them."""

    event_id: uuid.UUID
    state: str
    opens_at: datetime | None
    position: int | None = None
    ahead: int | None = None
    estimated_wait_seconds: int | None = None
    admitted_until: datetime | None = None
    reason: str | None = None
    joined_at: datetime | None = None
    # While waiting: when to ask again (`poll_after`); None once there is nothing left to wait for.
    poll_after_seconds: int | None = None

    @property
    def waiting_list_url(self) -> str | None:
        return f"/api/v1/events/{self.event_id}/waiting-list" if self.state == SOLD_OUT else None


class UserNotSeenYet(Exception):
    """The caller has no users row yet (their first request is this join): it must be created, then the join run
    again."""


@dataclass(frozen=True)
class Joined:
    status: QueueStatus
    # True when this request put the caller in line; False when they already were (they keep their place).
    placed_now: bool


def join(connection: SqlStatements, event_id: uuid.UUID, user_id: uuid.UUID) -> Joined:
    """Puts the caller in the event's queue, or leaves them where they are; one whose admission was used or has
    expired goes to the back of the line. One statement, safe to repeat."""
    row = connection.first(_JOIN_STATEMENT, {"event_id": event_id, "user_id": user_id})
    if row is None:
        raise NotFound("Event not found")
    if row.opens_at is None:
        raise Conflict("This event has no waiting room")
    if not row.user_known:
        raise UserNotSeenYet
    if not row.on_sale and not row.in_line:
        raise Conflict("This event is not on sale")
    if not row.in_line and not row.joined_now:
        # A concurrent join of the same person committed first: this statement's snapshot predates their entry.
        return Joined(status(connection, event_id, user_id), placed_now=False)
    return Joined(queue_status(row), placed_now=row.joined_now)


def status(connection: SqlStatements, event_id: uuid.UUID, user_id: uuid.UUID) -> QueueStatus:
    """The caller's state in the event's queue; reads only."""
    row = connection.first(_STATUS_STATEMENT, {"event_id": event_id, "user_id": user_id})
    if row is None:
        raise NotFound("Event not found")
    if row.opens_at is None:
        raise Conflict("This event has no waiting room")
    return queue_status(row)


def queue_status(row: Any) -> QueueStatus:
    """The state a status row (of `_STATUS_COLUMNS`) stands for, at the database's clock."""
    now: datetime = row.database_now
    base = {"event_id": row.event_id, "opens_at": row.opens_at, "joined_at": row.joined_at}
    in_line = row.in_line or row.joined_now
    if row.event_status != "published":
        return QueueStatus(state=CLOSED, reason=EVENT_CLOSED, **base)
    if row.admission_used_at is not None:
        return QueueStatus(state=CLOSED, reason=ADMISSION_USED, **base)
    if row.sold_out_at is not None:
        return QueueStatus(state=SOLD_OUT, **base)
    if not in_line:
        return QueueStatus(state=NOT_JOINED, **base)
    if row.admitted_until is not None:
        if row.admitted_until <= now:
            return QueueStatus(state=CLOSED, reason=ADMISSION_EXPIRED, **base)
        return QueueStatus(state=ADMITTED, position=row.place, ahead=0, admitted_until=row.admitted_until, **base)
    until_opening = max((row.opens_at - now).total_seconds(), 0.0)
    per_second = row.admissions_per_minute / 60
    if row.place is None:
        # Not placed yet: before the opening nobody is; after it, the inlet places late arrivals on its next round,
        # behind everyone placed so far.
        if row.drawn_at is None:
            return QueueStatus(state=WAITING, poll_after_seconds=poll_after(until_opening), **base)
        wait = math.ceil((row.placed - row.serving) / per_second)
        return QueueStatus(state=WAITING, estimated_wait_seconds=wait, poll_after_seconds=MIN_POLL_SECONDS, **base)
    ahead = max(row.place - row.serving - 1, 0)
    wait = math.ceil(until_opening + ahead / per_second)
    return QueueStatus(
        state=WAITING,
        position=row.place,
        ahead=ahead,
        estimated_wait_seconds=wait,
        poll_after_seconds=poll_after(wait),
        **base,
    )


def poll_after(wait_seconds: float) -> int:
    """How long a visitor's page waits before asking again: a tenth of their wait, within 2 and 30 seconds. A
    hundred thousand people polling every two seconds would be 50,000 requests a second; those far back ask
    seldom, and everyone asks often as their turn comes."""
    return int(min(max(wait_seconds / 10, MIN_POLL_SECONDS), MAX_POLL_SECONDS))


def use_admission(connection: SqlStatements, event_id: uuid.UUID, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
    """Marks the buyer's admission used by this order, in the hold's transaction; refused when it is gone."""
    used = connection.first(_USE_ADMISSION, {"event_id": event_id, "user_id": user_id, "order_id": order_id})
    if used is None:
        raise Forbidden(ADMISSION_HAS_EXPIRED)
