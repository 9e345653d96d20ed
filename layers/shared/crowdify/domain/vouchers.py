"""Promo codes (vouchers): creating, editing and withdrawing them, their reservations, and what they earned.

A code belongs to one event. Its price effect (percent off, an amount off, or a set price; never below zero and
never above the list price) applies to every seat of the types it names, or of every type that is not hidden. It
is redeemed by the purchase's hold statement (functions/purchase/purchase_statements.py), one redemption per seat,
within `max_redemptions` and `max_per_buyer`; a cancelled or expired hold gives its redemptions back, a refund
does not.

A reserving code keeps its unredeemed seats out of general sale: they are raised in the claim counters of the
event (and of its one ticket type, when it names exactly one) when the code is created, and `seats_reserved` says
how many the code holds there. A redemption moves seats from the reservation to the order's hold; a released hold
moves them back while the code lives. When a code lapses (deactivated, or past `valid_until`) its reservation
returns to sale: at once when deactivated, and by the expiry sweep (`return_lapsed_reservations`) when it expires.
Lock order is the holds' (crowdify.domain.seat_holds): the event row first, then the code's.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import IntegrityError

from crowdify.core.errors import Conflict, InvalidRequest, NotFound
from crowdify.domain.seat_holds import check_exact, lock_event_for_holds

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crowdify.persistence.models import Event, Voucher

# No 0/O, 1/I/L: a code read aloud or copied by hand is not mistaken. 12 of 31 symbols: about 59 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_CODE_LENGTH = 12
DISCOUNT_TYPES = ("percent", "fixed", "set_price")
ORDERS_THAT_EARNED = ("completed", "partially_refunded")


@dataclass(frozen=True)
class VoucherTerms:
    """What an organiser sets on a code (all but the code itself)."""

    discount_type: str
    value: Decimal
    max_redemptions: int
    tag: str | None = None
    ticket_type_ids: tuple[uuid.UUID, ...] = ()
    max_per_buyer: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    reserve_seats: bool = False
    user_id: uuid.UUID | None = None


@dataclass(frozen=True)
class IssuedCode:
    voucher_id: uuid.UUID
    code: str


@dataclass(frozen=True)
class TagFigures:
    tag: str | None
    codes: int
    seats: int
    revenue: Decimal


def normalise_code(code: str) -> str:
    """Codes are case-insensitive: stored and looked up in upper case."""
    return code.strip().upper()


def generate_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))


def create_vouchers(session: Session, event_id: uuid.UUID, terms: VoucherTerms, codes: Sequence[str]) -> list[Voucher]:
    """The codes, each with these terms; a reserving code's seats are taken from general sale now (409 when they
    are not free). A code the event already has is refused (409), and then none is created."""
    from crowdify.persistence.models import Voucher

    event = lock_event_for_holds(session, event_id)
    reserved_type = _check_terms(event, terms)
    if terms.reserve_seats:
        # A personal code is a waiting-list offer: the seats it takes are the ones kept for that list.
        _reserve(
            session,
            event,
            terms.max_redemptions * len(codes),
            reserved_type,
            count_waiting_demand=terms.user_id is None,
        )
    vouchers = [
        Voucher(
            event_id=event.id,
            code=normalise_code(code),
            tag=terms.tag,
            discount_type=terms.discount_type,
            value=terms.value,
            ticket_type_ids=list(terms.ticket_type_ids),
            max_redemptions=terms.max_redemptions,
            max_per_buyer=terms.max_per_buyer,
            valid_from=terms.valid_from,
            valid_until=terms.valid_until,
            reserve_seats=terms.reserve_seats,
            reserved_ticket_type_id=reserved_type if terms.reserve_seats else None,
            seats_reserved=terms.max_redemptions if terms.reserve_seats else 0,
            user_id=terms.user_id,
        )
        for code in codes
    ]
    session.add_all(vouchers)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        raise Conflict("This event already has a promo code with that code") from error
    return vouchers


def update_voucher(session: Session, event_id: uuid.UUID, voucher_id: uuid.UUID, terms: VoucherTerms) -> Voucher:
    """New terms for a code. A reserving code keeps its types and stays reserving; its reservation follows a new
    maximum (409 when more seats are not free)."""
    event = lock_event_for_holds(session, event_id)
    voucher = _locked_voucher(session, event_id, voucher_id)
    reserved_type = _check_terms(event, terms)
    if terms.max_redemptions < voucher.redeemed:
        raise Conflict(f"This code was already redeemed {voucher.redeemed} times: max_redemptions cannot be lower")
    if voucher.reserve_seats or terms.reserve_seats:
        if terms.reserve_seats != voucher.reserve_seats or reserved_type != voucher.reserved_ticket_type_id:
            raise Conflict("A code's reservation and its ticket types cannot change: deactivate it and make another")
        if voucher.is_active:
            wanted = terms.max_redemptions - voucher.redeemed
            if wanted > voucher.seats_reserved:
                _reserve(session, event, wanted - voucher.seats_reserved, reserved_type, count_waiting_demand=True)
            elif wanted < voucher.seats_reserved:
                _unreserve(session, event.id, voucher.seats_reserved - wanted, reserved_type)
            voucher.seats_reserved = wanted
    voucher.tag = terms.tag
    voucher.discount_type = terms.discount_type
    voucher.value = terms.value
    voucher.ticket_type_ids = list(terms.ticket_type_ids)
    voucher.max_redemptions = terms.max_redemptions
    voucher.max_per_buyer = terms.max_per_buyer
    voucher.valid_from = terms.valid_from
    voucher.valid_until = terms.valid_until
    session.flush()
    return voucher


def deactivate_voucher(session: Session, event_id: uuid.UUID, voucher_id: uuid.UUID) -> Voucher:
    """The code redeems no more; its reservation returns to sale now. Deactivating twice changes nothing."""
    lock_event_for_holds(session, event_id)
    voucher = _locked_voucher(session, event_id, voucher_id)
    if voucher.seats_reserved:
        _unreserve(session, event_id, voucher.seats_reserved, voucher.reserved_ticket_type_id)
        voucher.seats_reserved = 0
    voucher.is_active = False
    session.flush()
    return voucher


def issue_personal_code(
    session: Session,
    *,
    event_id: uuid.UUID,
    ticket_type_id: uuid.UUID | None,
    user_id: uuid.UUID,
    seats: int,
    valid_until: datetime,
    tag: str | None,
) -> IssuedCode | None:
    """A code only `user_id` may redeem, for exactly `seats` seats at the list price, reserving them until
    `valid_until`; None when those seats are not free."""
    terms = VoucherTerms(
        discount_type="percent",
        value=Decimal(0),
        max_redemptions=seats,
        max_per_buyer=seats,
        tag=tag,
        ticket_type_ids=(ticket_type_id,) if ticket_type_id else (),
        valid_until=valid_until,
        reserve_seats=True,
        user_id=user_id,
    )
    try:
        with session.begin_nested():
            [voucher] = create_vouchers(session, event_id, terms, [generate_code()])
    except Conflict:
        return None
    return IssuedCode(voucher.id, voucher.code)


def withdraw_code(session: Session, voucher_id: uuid.UUID) -> int:
    """Deactivates a code (an offer no longer wanted); how many reserved seats went back to sale. Idempotent: a
    second call returns 0."""
    from crowdify.persistence.models import Voucher

    event_id = session.scalar(select(Voucher.event_id).where(Voucher.id == voucher_id))
    if event_id is None:
        raise NotFound("Promo code not found")
    lock_event_for_holds(session, event_id)
    voucher = _locked_voucher(session, event_id, voucher_id)
    returned = voucher.seats_reserved
    deactivate_voucher(session, event_id, voucher_id)
    return returned


def return_lapsed_reservations(connection: Connection) -> int:
    """Returns to sale the seats still reserved by codes that expired (or were deactivated in between); how many
    codes. Events are locked before codes, as holds lock them."""
    lapsed_events = connection.execute(_LOCK_EVENTS_WITH_LAPSED_CODES).scalars().all()
    if not lapsed_events:
        return 0
    return int(connection.execute(_RETURN_LAPSED, {"event_ids": list(lapsed_events)}).scalar_one())


def tag_figures(session: Session, event_id: uuid.UUID) -> list[TagFigures]:
    """Per tag: how many codes, and the seats and revenue of paid orders that redeemed them (refunds deducted)."""
    return [
        TagFigures(row.tag, int(row.codes), int(row.seats), Decimal(row.revenue))
        for row in session.execute(_TAG_FIGURES, {"event_id": event_id})
    ]


def find_live_code(connection: Connection | Session, event_id: uuid.UUID, code: str) -> Voucher | None:
    """The event's code, when it can be redeemed now and has redemptions left; None otherwise (unknown,
    inactive, not yet or no longer valid, used up, or personal)."""
    from crowdify.persistence.models import Voucher

    query = select(Voucher).where(
        Voucher.event_id == event_id,
        Voucher.code == normalise_code(code),
        Voucher.is_active,
        Voucher.user_id.is_(None),
        Voucher.redeemed < Voucher.max_redemptions,
        (Voucher.valid_from.is_(None)) | (Voucher.valid_from <= func.now()),
        (Voucher.valid_until.is_(None)) | (Voucher.valid_until > func.now()),
    )
    return connection.scalars(query).first()


def _check_terms(event: Event, terms: VoucherTerms) -> uuid.UUID | None:
    """The ticket type a reservation also holds seats of (the code's only type), after checking the terms."""
    if terms.discount_type not in DISCOUNT_TYPES:
        raise InvalidRequest(f"discount_type must be one of {', '.join(DISCOUNT_TYPES)}")
    if terms.discount_type == "percent" and terms.value > 100:
        raise InvalidRequest("A percent discount is at most 100")
    if terms.valid_from and terms.valid_until and terms.valid_until <= terms.valid_from:
        raise InvalidRequest("valid_until must be after valid_from")
    types = {ticket_type.id for ticket_type in event.ticket_types}
    unknown = [str(type_id) for type_id in terms.ticket_type_ids if type_id not in types]
    if unknown:
        raise InvalidRequest(f"Ticket types not of this event: {', '.join(unknown)}")
    return terms.ticket_type_ids[0] if len(set(terms.ticket_type_ids)) == 1 else None


def _locked_voucher(session: Session, event_id: uuid.UUID, voucher_id: uuid.UUID) -> Voucher:
    from crowdify.persistence.models import Voucher

    query = (
        select(Voucher)
        .where(Voucher.id == voucher_id, Voucher.event_id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    voucher = session.scalars(query).first()
    if voucher is None:
        raise NotFound("Promo code not found")
    return voucher


def _reserve(
    session: Session, event: Event, seats: int, ticket_type_id: uuid.UUID | None, *, count_waiting_demand: bool
) -> None:
    """Under the event lock: refuses (409) seats that are not free, else raises the counters by them."""
    capacities = {ticket_type.id: ticket_type for ticket_type in event.ticket_types}
    type_quantities = {ticket_type_id: seats} if ticket_type_id else {}
    check_exact(
        session,
        event.id,
        event.capacity_total,
        {type_id: (capacities[type_id].name, capacities[type_id].capacity) for type_id in type_quantities},
        {},
        type_quantities,
        {},
        seats=seats,
        count_waiting_demand=count_waiting_demand,
    )
    session.execute(_MOVE_COUNTERS, {"event_id": event.id, "seats": seats, "ticket_type_id": ticket_type_id})


def _unreserve(session: Session, event_id: uuid.UUID, seats: int, ticket_type_id: uuid.UUID | None) -> None:
    session.execute(_MOVE_COUNTERS, {"event_id": event_id, "seats": -seats, "ticket_type_id": ticket_type_id})


_MOVE_COUNTERS = text(
    """
    WITH event_move AS (
        UPDATE events SET seats_claimed = seats_claimed + :seats WHERE id = :event_id RETURNING id
    )
    UPDATE ticket_types SET seats_claimed = seats_claimed + :seats
      FROM event_move WHERE ticket_types.id = CAST(:ticket_type_id AS uuid)
    """
)

# A personal code is a waiting-list offer: its lapsed seats go to the next in line (crowdify.domain.waiting_list
# withdraws it), never back to general sale from here.
_LAPSED = "seats_reserved > 0 AND (NOT is_active OR valid_until <= now()) AND user_id IS NULL"

_LOCK_EVENTS_WITH_LAPSED_CODES = text(
    f"""
    SELECT id FROM events
     WHERE id IN (SELECT event_id FROM vouchers WHERE {_LAPSED})
     ORDER BY id FOR UPDATE
    """  # noqa: S608 - constant text
)

# Every sub-statement of a WITH runs, whether or not the final SELECT reads it.
_RETURN_LAPSED = text(
    f"""
    WITH lapsed AS (
        SELECT id, event_id, reserved_ticket_type_id, seats_reserved FROM vouchers
         WHERE event_id = ANY(:event_ids) AND {_LAPSED}
         FOR UPDATE
    ), cleared AS (
        UPDATE vouchers v SET seats_reserved = 0, updated_at = now() FROM lapsed WHERE v.id = lapsed.id RETURNING v.id
    ), event_return AS (
        UPDATE events e SET seats_claimed = e.seats_claimed - s.seats
          FROM (SELECT event_id, sum(seats_reserved) AS seats FROM lapsed GROUP BY event_id) s
         WHERE e.id = s.event_id
        RETURNING e.id
    ), type_return AS (
        UPDATE ticket_types tt SET seats_claimed = tt.seats_claimed - s.seats
          FROM (SELECT reserved_ticket_type_id AS id, sum(seats_reserved) AS seats FROM lapsed
                 WHERE reserved_ticket_type_id IS NOT NULL GROUP BY reserved_ticket_type_id) s
         WHERE tt.id = s.id
        RETURNING tt.id
    )
    SELECT count(*) FROM cleared
    """  # noqa: S608 - constant text
)

_TAG_FIGURES = text(
    f"""
    SELECT v.tag, count(DISTINCT v.id) AS codes,
           coalesce(sum(o.voucher_seats), 0) AS seats,
           coalesce(sum(o.total - o.refunded_amount), 0) AS revenue
      FROM vouchers v
      LEFT JOIN orders o ON o.voucher_id = v.id AND o.status IN {ORDERS_THAT_EARNED}
     WHERE v.event_id = :event_id
     GROUP BY v.tag
     ORDER BY v.tag NULLS LAST
    """  # noqa: S608 - constant text
)
