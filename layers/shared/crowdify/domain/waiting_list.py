"""The waiting list (docs/architecture.md, "The waiting list"): people in line for a sold-out ticket type or event,
and the offers that turn seats coming back into sales.

An entry is for one ticket type, or (no type) for any type of the event. Seats come back when a hold is released
(crowdify.domain.seat_holds keeps them for the list, in `ticket_types.waiting_list_seats`, while anyone waits), when
a refund cancels tickets or an organiser raises a capacity (the offer round finds them free), and when an offer
expires or is given up (its code is withdrawn and its seats are kept again). The offer round (`offer_seats`) turns
those seats into personal codes (crowdify.domain.vouchers) for the people in line, first come first served: an
entry whose seats do not fit yet is passed over and keeps its place. Seats kept for the list are part of the claim
counters, so general sale never sees them; a code reserves its seats the same way, so no seat is offered twice.

Lock order, as everywhere: the event row, then its ticket types (the code's reservation), then entries. The round
takes the event's row lock for its whole transaction, so two rounds (the schedule, an organiser's "offer now") never
interleave, and entries are read `FOR UPDATE SKIP LOCKED`: one a person is changing is left for the next round.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from crowdify.core.errors import Conflict, InvalidRequest, NotFound
from crowdify.core.statuses import BOUGHT, LEFT, OFFER_EXPIRED, OFFERED, REMOVED, WAITING
from crowdify.domain.capacity import usage_for_events

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


OFFER_TOPIC = "waiting_list_offer"
OFFER_TAG = "waiting-list"
# Seats one event-wide entry may ask for when no ticket type of the event names a per-order maximum.
EVENT_WIDE_MAX_SEATS = 10

_EVENT = text(
    """
    SELECT e.id, e.status, e.capacity_total, e.waiting_list_offer_hours,
           coalesce(json_agg(json_build_object('id', tt.id, 'max_per_order', tt.max_per_order))
                    FILTER (WHERE tt.id IS NOT NULL), '[]') AS ticket_types
      FROM events e LEFT JOIN ticket_types tt ON tt.event_id = e.id
     WHERE e.id = :event_id
     GROUP BY e.id
    """
)

# An entry and, while it waits, its place: 1 + the waiting entries that compete for the same seats and joined first
# (an event-wide entry competes with every entry of the event; a type's entry with that type's and the event-wide).
_ENTRY_VIEW = """
    SELECT w.id, w.event_id, w.ticket_type_id, w.user_id, w.seats, w.status, w.joined_at, w.offer_ticket_type_id,
           w.offer_seats, w.offered_at, w.offer_expires_at, w.offer_voucher_id, u.email AS user_email,
           CASE WHEN w.status = 'waiting' THEN 1 + (
               SELECT count(*) FROM waiting_list_entries o
                WHERE o.event_id = w.event_id AND o.status = 'waiting'
                  AND (w.ticket_type_id IS NULL OR o.ticket_type_id IS NULL OR o.ticket_type_id = w.ticket_type_id)
                  AND (o.joined_at, o.id) < (w.joined_at, w.id))
           END AS position
      FROM waiting_list_entries w JOIN users u ON u.id = w.user_id
"""
_CALLERS_ENTRY = text(
    _ENTRY_VIEW
    + """
     WHERE w.event_id = :event_id AND w.user_id = :user_id
       AND w.ticket_type_id IS NOT DISTINCT FROM CAST(:ticket_type_id AS uuid)
    """
)
_ENTRY_BY_ID = text(_ENTRY_VIEW + " WHERE w.id = :entry_id AND w.event_id = :event_id")
_EVENT_ENTRIES = text(_ENTRY_VIEW + " WHERE w.event_id = :event_id ORDER BY w.joined_at, w.id")

_INSERT = text(
    """
    INSERT INTO waiting_list_entries (event_id, ticket_type_id, user_id, seats)
    VALUES (:event_id, :ticket_type_id, :user_id, :seats)
    ON CONFLICT DO NOTHING
    RETURNING id
    """
)
_LOCK_CALLERS_ENTRY = text(
    """
    SELECT id, status, seats FROM waiting_list_entries
     WHERE event_id = :event_id AND user_id = :user_id
       AND ticket_type_id IS NOT DISTINCT FROM CAST(:ticket_type_id AS uuid)
       FOR UPDATE
    """
)
_LOCK_ENTRY = text(
    "SELECT id, status, seats, offer_voucher_id, offer_ticket_type_id FROM waiting_list_entries "
    "WHERE id = :entry_id AND event_id = :event_id FOR UPDATE"
)
_UPDATE_SEATS = text("UPDATE waiting_list_entries SET seats = :seats, updated_at = now() WHERE id = :id")
# Back in line after leaving, an expired offer or a purchase: at the end of it, as anyone joining now.
_REJOIN = text(
    """
    UPDATE waiting_list_entries
       SET status = 'waiting', seats = :seats, joined_at = now(), updated_at = now(), offer_ticket_type_id = NULL,
           offer_seats = NULL, offer_voucher_id = NULL, offered_at = NULL, offer_expires_at = NULL,
           offer_message_id = NULL, offer_email_claimed_at = NULL, offer_emailed_at = NULL
     WHERE id = :id
    """
)
_SET_STATUS = text("UPDATE waiting_list_entries SET status = :status, updated_at = now() WHERE id = :id")

_LOCK_EVENT = text("SELECT id, capacity_total, waiting_list_offer_hours FROM events WHERE id = :event_id FOR UPDATE")
_RECOUNT_READ = text(
    """
    SELECT (SELECT seats_claimed FROM events WHERE id = :event_id) AS event_claimed,
           json_agg(json_build_object('id', tt.id, 'capacity', tt.capacity, 'claimed', tt.seats_claimed,
                                      'kept', tt.waiting_list_seats, 'max_per_order', tt.max_per_order,
                                      'is_child', tt.is_child, 'created_at', tt.created_at)
                    ORDER BY tt.is_child, tt.created_at, tt.id) AS ticket_types
      FROM ticket_types tt WHERE tt.event_id = :event_id
    """
)
_OVERDUE_OFFERS = text(
    """
    SELECT id, offer_voucher_id, offer_ticket_type_id FROM waiting_list_entries
     WHERE event_id = :event_id AND status = 'offered' AND offer_expires_at <= now()
     ORDER BY offer_expires_at
       FOR UPDATE SKIP LOCKED
    """
)
_WAITING = text(
    """
    SELECT id, ticket_type_id, user_id, seats FROM waiting_list_entries
     WHERE event_id = :event_id AND status = 'waiting'
     ORDER BY joined_at, id
       FOR UPDATE SKIP LOCKED
    """
)
_BOUGHT_WITH = text(
    """
    SELECT EXISTS (SELECT 1 FROM orders WHERE voucher_id = :voucher_id
                    AND status IN ('completed', 'partially_refunded', 'refunded', 'charged_back'))
    """
)
# Seats moved between general sale and the list's keeping: both counters move with them, so the event's and the
# type's claims stay the sum of what is sold, held, reserved and kept.
_KEEP = text(
    """
    WITH kept_type AS (
        UPDATE ticket_types SET waiting_list_seats = waiting_list_seats + :seats, seats_claimed = seats_claimed + :seats
         WHERE id = :ticket_type_id AND event_id = :event_id
        RETURNING event_id
    )
    UPDATE events SET seats_claimed = seats_claimed + :seats FROM kept_type WHERE events.id = kept_type.event_id
    """
)
_OFFER = text(
    """
    UPDATE waiting_list_entries
       SET status = 'offered', updated_at = now(), offer_ticket_type_id = :ticket_type_id, offer_seats = :seats,
           offer_voucher_id = :voucher_id, offered_at = now(), offer_expires_at = :expires_at,
           offer_message_id = :message_id, offer_email_claimed_at = NULL, offer_emailed_at = NULL
     WHERE id = :id
    """
)
_OUTBOX = text(
    """
    INSERT INTO outbox_messages (id, topic, payload, publish_attempts)
    VALUES (:id, :topic, CAST(:payload AS jsonb), 0)
    """
)
_EVENTS_TO_OFFER = text(
    """
    SELECT DISTINCT event_id FROM waiting_list_entries
     WHERE status = 'waiting' OR (status = 'offered' AND offer_expires_at <= now())
    UNION
    SELECT DISTINCT event_id FROM ticket_types WHERE waiting_list_seats > 0
    """
)
_MARK_BOUGHT = text(
    """
    UPDATE waiting_list_entries SET status = 'bought', updated_at = now()
     WHERE offer_voucher_id = :voucher_id AND status IN ('offered', 'expired')
    """
)


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID | None
    user_id: uuid.UUID
    user_email: str | None
    seats: int
    status: str
    position: int | None
    joined_at: datetime
    offer_ticket_type_id: uuid.UUID | None
    offer_seats: int | None
    offered_at: datetime | None
    offer_expires_at: datetime | None


@dataclass(frozen=True)
class Joined:
    entry: Entry
    # True when this call put the person in line (first join, or back after leaving, an expired offer, a purchase).
    placed: bool


@dataclass
class OfferRound:
    offered: list[uuid.UUID] = field(default_factory=list)
    expired: int = 0
    bought: int = 0
    # Outbox rows of the offers' emails: publish them once the round has committed.
    messages: list[uuid.UUID] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"offered": len(self.offered), "offers_expired": self.expired, "offers_bought": self.bought}


def join(
    connection: Connection, event_id: uuid.UUID, user_id: uuid.UUID, ticket_type_id: uuid.UUID | None, seats: int
) -> Joined:
    """Puts the caller in line (or updates their entry, keeping its place); refused while seats are on sale."""
    event = connection.execute(_EVENT, {"event_id": event_id}).first()
    if event is None:
        raise NotFound("Event not found")
    if event.status != "published":
        raise Conflict(f"This event is {event.status}; it has no waiting list")
    limits = {uuid.UUID(item["id"]): item["max_per_order"] for item in event.ticket_types}
    if ticket_type_id is not None and ticket_type_id not in limits:
        raise NotFound("Ticket type not found")
    maximum = max_seats(limits, ticket_type_id)
    if seats > maximum:
        raise InvalidRequest(f"At most {maximum} seats may be asked for in this waiting list")
    left = seats_on_sale(connection, event_id, event.capacity_total, ticket_type_id)
    if left > 0:
        raise Conflict(f"{left} seats are on sale: buy them instead of joining the waiting list")
    parameters = {"event_id": event_id, "user_id": user_id, "ticket_type_id": ticket_type_id, "seats": seats}
    placed = connection.execute(_INSERT, parameters).first() is not None
    if not placed:
        placed = _update_existing(connection, parameters)
    return Joined(callers_entry(connection, event_id, user_id, ticket_type_id), placed)


def _update_existing(connection: Connection, parameters: dict[str, Any]) -> bool:
    current = connection.execute(_LOCK_CALLERS_ENTRY, parameters).first()
    if current is None:
        raise Conflict("Your waiting-list entry changed meanwhile; try again")
    if current.status == REMOVED:
        raise Conflict("The organiser removed you from this waiting list")
    if current.status == OFFERED:
        if current.seats != parameters["seats"]:
            raise Conflict("You have an offer for these seats: use it before it expires, or leave the list")
        return False
    if current.status == WAITING:
        connection.execute(_UPDATE_SEATS, {"id": current.id, "seats": parameters["seats"]})
        return False
    connection.execute(_REJOIN, {"id": current.id, "seats": parameters["seats"]})
    return True


def max_seats(limits: dict[uuid.UUID, int | None], ticket_type_id: uuid.UUID | None) -> int:
    """N: a type's per-order maximum; for the event-wide list the largest of them (or EVENT_WIDE_MAX_SEATS)."""
    if ticket_type_id is not None:
        return limits[ticket_type_id] or EVENT_WIDE_MAX_SEATS
    named = [limit for limit in limits.values() if limit is not None]
    return max(named) if len(named) == len(limits) and named else EVENT_WIDE_MAX_SEATS


def seats_on_sale(
    connection: Connection, event_id: uuid.UUID, capacity_total: int, ticket_type_id: uuid.UUID | None
) -> int:
    """Seats general buyers could take now, exactly (sold, live holds and seats kept for the list counted)."""
    usage = usage_for_events(connection, [event_id])
    event_left = max(capacity_total - usage.event(event_id).taken, 0)
    capacities = dict(
        connection.execute(
            text("SELECT id, capacity FROM ticket_types WHERE event_id = :event_id"), {"event_id": event_id}
        ).all()
    )
    types = [ticket_type_id] if ticket_type_id is not None else list(capacities)
    best = 0
    for type_id in types:
        capacity = capacities[type_id]
        type_left = event_left if capacity is None else max(capacity - usage.ticket_type(type_id).taken, 0)
        best = max(best, min(type_left, event_left))
    return best


def callers_entry(
    connection: Connection, event_id: uuid.UUID, user_id: uuid.UUID, ticket_type_id: uuid.UUID | None
) -> Entry:
    row = connection.execute(
        _CALLERS_ENTRY, {"event_id": event_id, "user_id": user_id, "ticket_type_id": ticket_type_id}
    ).first()
    if row is None:
        raise NotFound("You are not in this waiting list")
    return _entry(row)


def entry_by_id(connection: Connection, event_id: uuid.UUID, entry_id: uuid.UUID) -> Entry:
    row = connection.execute(_ENTRY_BY_ID, {"entry_id": entry_id, "event_id": event_id}).first()
    if row is None:
        raise NotFound("Waiting-list entry not found")
    return _entry(row)


def event_entries(connection: Connection, event_id: uuid.UUID) -> list[Entry]:
    """Every entry of the event, in the order they joined (the admin's view)."""
    if connection.execute(text("SELECT 1 FROM events WHERE id = :event_id"), {"event_id": event_id}).first() is None:
        raise NotFound("Event not found")
    return [_entry(row) for row in connection.execute(_EVENT_ENTRIES, {"event_id": event_id})]


def leave(connection: Connection, event_id: uuid.UUID, user_id: uuid.UUID, ticket_type_id: uuid.UUID | None) -> Entry:
    """The caller leaves (`left`); an offer they hold is withdrawn and its seats kept for the next in line."""
    entry = callers_entry(connection, event_id, user_id, ticket_type_id)
    return _end(connection, event_id, entry.id, LEFT)


def remove(connection: Connection, event_id: uuid.UUID, entry_id: uuid.UUID) -> Entry:
    """An organiser takes someone off the list (`removed`); they cannot join it again."""
    return _end(connection, event_id, entry_id, REMOVED)


def _end(connection: Connection, event_id: uuid.UUID, entry_id: uuid.UUID, status: str) -> Entry:
    connection.execute(_LOCK_EVENT, {"event_id": event_id})
    current = connection.execute(_LOCK_ENTRY, {"entry_id": entry_id, "event_id": event_id}).first()
    if current is None:
        raise NotFound("Waiting-list entry not found")
    if current.status in (WAITING, OFFERED):
        if current.status == OFFERED:
            _withdraw_offer(connection, event_id, current.offer_voucher_id, current.offer_ticket_type_id)
        connection.execute(_SET_STATUS, {"id": entry_id, "status": status})
    elif current.status != status:
        raise Conflict(f"This entry is {current.status}")
    return entry_by_id(connection, event_id, entry_id)


def _withdraw_offer(
    connection: Connection, event_id: uuid.UUID, voucher_id: uuid.UUID, ticket_type_id: uuid.UUID | None
) -> None:
    """The code stops working; its seats not yet redeemed stay out of sale, kept for the next offer."""
    from crowdify.domain.vouchers import withdraw_code

    with _session_on(connection) as session:
        returned = withdraw_code(session, voucher_id)
        session.flush()
    if returned and ticket_type_id is not None:
        _keep(connection, event_id, ticket_type_id, returned)


def _session_on(connection: Connection) -> Session:
    """An ORM session in the connection's transaction (the promo codes' functions take one)."""
    from sqlalchemy.orm import Session

    return Session(bind=connection)


def _keep(connection: Connection, event_id: uuid.UUID, ticket_type_id: uuid.UUID, seats: int) -> None:
    if seats:
        connection.execute(_KEEP, {"event_id": event_id, "ticket_type_id": ticket_type_id, "seats": seats})


def mark_bought(connection: Connection | Session, voucher_id: uuid.UUID) -> None:
    """A completed order redeemed this code: the entry it was offered to has bought (called in that transaction)."""
    connection.execute(_MARK_BOUGHT, {"voucher_id": voucher_id})


def events_to_offer(connection: Connection) -> list[uuid.UUID]:
    """Events whose list has someone waiting, an offer past its time, or seats kept."""
    return [row.event_id for row in connection.execute(_EVENTS_TO_OFFER)]


def offer_seats(connection: Connection, event_id: uuid.UUID, *, only_entry: uuid.UUID | None = None) -> OfferRound:
    """One offer round for the event: overdue offers expire (their seats kept), then seats kept or free go, as
    personal codes, to the people in line in order; what nobody in line can use goes back on sale.

    `only_entry` (an organiser's "offer now") offers to that entry alone, out of turn, if its seats are there.
    """
    event = connection.execute(_LOCK_EVENT, {"event_id": event_id}).first()
    if event is None:
        raise NotFound("Event not found")
    round_ = OfferRound()
    _expire_overdue(connection, event_id, round_)
    from crowdify.domain.seat_holds import recount_claims

    # Exact counters (sold, held, reserved, kept) under the event lock: free seats are then capacity minus claims.
    recount_claims(connection, event_id)
    seats = _Seats.read(connection, event_id, event.capacity_total)
    waiting = connection.execute(_WAITING, {"event_id": event_id}).all()
    if only_entry is not None:
        chosen = [row for row in waiting if row.id == only_entry]
        if not chosen:
            raise Conflict("Only a waiting entry can be offered seats (is it being changed right now?)")
        if not _offer_one(connection, event, chosen[0], seats, round_):
            raise Conflict(f"No {chosen[0].seats} seats are free or kept for this entry now")
        waiting = [row for row in waiting if row.id != only_entry]
    else:
        waiting = [row for row in waiting if not _offer_one(connection, event, row, seats, round_)]
    for ticket_type_id, change in seats.keeping_for(waiting).items():
        _keep(connection, event_id, ticket_type_id, change)
    return round_


def _expire_overdue(connection: Connection, event_id: uuid.UUID, round_: OfferRound) -> None:
    for offer in connection.execute(_OVERDUE_OFFERS, {"event_id": event_id}).all():
        if connection.execute(_BOUGHT_WITH, {"voucher_id": offer.offer_voucher_id}).scalar_one():
            connection.execute(_SET_STATUS, {"id": offer.id, "status": BOUGHT})
            round_.bought += 1
            continue
        _withdraw_offer(connection, event_id, offer.offer_voucher_id, offer.offer_ticket_type_id)
        connection.execute(_SET_STATUS, {"id": offer.id, "status": OFFER_EXPIRED})
        round_.expired += 1


@dataclass
class _TypeSeats:
    id: uuid.UUID
    capacity: int | None
    claimed: int
    kept: int
    max_per_order: int | None


@dataclass
class _Seats:
    """The event's seats as the round sees them under its lock: kept per type, and free for general sale."""

    event_free: int
    types: list[_TypeSeats]

    @classmethod
    def read(cls, connection: Connection, event_id: uuid.UUID, capacity_total: int) -> _Seats:
        row = connection.execute(_RECOUNT_READ, {"event_id": event_id}).one()
        types = [
            _TypeSeats(uuid.UUID(t["id"]), t["capacity"], t["claimed"], t["kept"], t["max_per_order"])
            for t in row.ticket_types or []
        ]
        return cls(max(capacity_total - (row.event_claimed or 0), 0), types)

    def free(self, ticket_type: _TypeSeats) -> int:
        if ticket_type.capacity is None:
            return self.event_free
        return min(max(ticket_type.capacity - ticket_type.claimed, 0), self.event_free)

    def type_for(self, ticket_type_id: uuid.UUID | None, seats: int) -> _TypeSeats | None:
        """The type whose kept and free seats can give `seats` (any type for an event-wide entry, the one with the
        most kept first, so seats released for the list are used before fresh ones)."""
        candidates = [t for t in self.types if ticket_type_id is None or t.id == ticket_type_id]
        candidates.sort(key=lambda t: -t.kept)
        for ticket_type in candidates:
            if ticket_type.max_per_order is not None and seats > ticket_type.max_per_order:
                continue
            if ticket_type.kept + self.free(ticket_type) >= seats:
                return ticket_type
        return None

    def take(self, ticket_type: _TypeSeats, seats: int) -> int:
        """Takes `seats` for an offer, kept seats first; returns how many of them were kept ones."""
        from_kept = min(ticket_type.kept, seats)
        ticket_type.kept -= from_kept
        ticket_type.claimed += seats - from_kept
        self.event_free -= seats - from_kept
        return from_kept

    def keeping_for(self, waiting: list[Any]) -> dict[uuid.UUID, int]:
        """How each type's kept seats must change for the people still in line: free seats are kept up to what
        they ask for, kept seats nobody in line can use go back on sale."""
        wanted = dict.fromkeys((t.id for t in self.types), 0)
        for row in waiting:
            if row.ticket_type_id is not None:
                wanted[row.ticket_type_id] += row.seats
            else:
                best = max(self.types, key=lambda t: t.kept + self.free(t), default=None)
                if best is not None:
                    wanted[best.id] += row.seats
        changes: dict[uuid.UUID, int] = {}
        for ticket_type in self.types:
            target = min(wanted[ticket_type.id], ticket_type.kept + self.free(ticket_type))
            change = target - ticket_type.kept
            if change:
                changes[ticket_type.id] = change
                ticket_type.claimed += change
                ticket_type.kept = target
                self.event_free -= change
        return changes


def _offer_one(connection: Connection, event: Any, row: Any, seats: _Seats, round_: OfferRound) -> bool:
    from crowdify.domain.vouchers import issue_personal_code

    ticket_type = seats.type_for(row.ticket_type_id, row.seats)
    if ticket_type is None:
        return False
    from_kept = seats.take(ticket_type, row.seats)
    # The kept seats go back to the counters' free side, and the code takes them (and any free ones) at once.
    _keep(connection, event.id, ticket_type.id, -from_kept)
    expires_at = connection.execute(text("SELECT now()")).scalar_one() + timedelta(hours=event.waiting_list_offer_hours)
    with _session_on(connection) as session:
        issued = issue_personal_code(
            session,
            event_id=event.id,
            ticket_type_id=ticket_type.id,
            user_id=row.user_id,
            seats=row.seats,
            valid_until=expires_at,
            tag=OFFER_TAG,
        )
        session.flush()
    if issued is None:
        # Under the event's lock the seats counted above are there; a refusal means the counts were wrong.
        raise Conflict("The seats for a waiting-list offer were not free; the round is retried")
    message_id = uuid.uuid4()
    connection.execute(
        _OFFER,
        {
            "id": row.id,
            "ticket_type_id": ticket_type.id,
            "seats": row.seats,
            "voucher_id": issued.voucher_id,
            "expires_at": expires_at,
            "message_id": message_id,
        },
    )
    connection.execute(
        _OUTBOX,
        {
            "id": message_id,
            "topic": OFFER_TOPIC,
            "payload": _payload(message_id, row.id),
        },
    )
    round_.offered.append(row.id)
    round_.messages.append(message_id)
    return True


def _payload(message_id: uuid.UUID, entry_id: uuid.UUID) -> str:
    return json.dumps({"message_id": str(message_id), "kind": OFFER_TOPIC, "entry_id": str(entry_id)})


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id,
        event_id=row.event_id,
        ticket_type_id=row.ticket_type_id,
        user_id=row.user_id,
        user_email=row.user_email,
        seats=row.seats,
        status=row.status,
        position=row.position,
        joined_at=row.joined_at,
        offer_ticket_type_id=row.offer_ticket_type_id,
        offer_seats=row.offer_seats,
        offered_at=row.offered_at,
        offer_expires_at=row.offer_expires_at,
    )
