"""Seat holds: one lock per event, and claim counters that let most purchases skip a recount.

Every hold on an event is serialised by the event row's lock: whoever holds seats (a purchase, a late payment
re-holding an expired order) takes it first, then counts, then writes, and commits. Under that lock
paid + held can never pass the event's capacity_total, a ticket type's capacity or a service's stock_total.

Counting exactly means summing every live hold and every sold ticket of the event, which grows with sales. So
each of events, ticket_types and event_services carries a claim counter (`seats_claimed` / `units_claimed`):
raised by every hold, lowered only when a pending order is released (cancelled or expired, `release_hold`).
A completed, refunded or double-claimed order is never lowered, so the counter is never below the true number of
seats taken, only sometimes above it. A purchase that fits under the counters fits for certain (one conditional
UPDATE per row, no recount); one that does not is checked exactly under the lock (`check_capacity`) after the
counters are recomputed (`recount_claims`).

Lock order everywhere: order row, then event row, then ticket type and service rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select, text

from crowdify.core.errors import NotFound, SoldOut
from crowdify.domain.capacity import usage_for_events

if TYPE_CHECKING:
    # Only the ORM paths (locking the event, late payments) need the models: the sweep and a buyer's cancel, which
    # release holds through Core, do not pay for their import on a cold start.
    from sqlalchemy.orm import Session

    from crowdify.persistence.models import Event

    Executor = Session | Connection

# Adds quantities to the three counters; the event row first (lock order). Seats claimed again may be counted twice
# until the next recount, so the counters are no longer taken as exact.
_CLAIM = text(
    """
    WITH event_claim AS (
        UPDATE events SET seats_claimed = seats_claimed + :seats, claims_overstated = true
         WHERE id = :event_id RETURNING id
    ), type_claims AS (
        UPDATE ticket_types tt SET seats_claimed = tt.seats_claimed + line.quantity
          FROM jsonb_to_recordset(CAST(:type_lines AS jsonb)) AS line(id uuid, quantity int), event_claim
         WHERE tt.id = line.id AND tt.event_id = event_claim.id
        RETURNING tt.id
    ), service_claims AS (
        UPDATE event_services s SET units_claimed = s.units_claimed + line.quantity
          FROM jsonb_to_recordset(CAST(:service_lines AS jsonb)) AS line(id uuid, quantity int), event_claim
         WHERE s.id = line.id AND s.event_id = event_claim.id
        RETURNING s.id
    )
    SELECT (SELECT count(*) FROM type_claims) AS types, (SELECT count(*) FROM service_claims) AS services
    """
)

# Sets the counters to what is really claimed: sold (as crowdify.domain.capacity counts it) plus every pending order's
# items, live or past its deadline, because the sweep lowers the counters when it expires those, plus the seats
# promo codes keep reserved (crowdify.domain.vouchers returns a lapsed code's reservation the same way), plus the
# seats kept for the waiting list.
_RECOUNT = text(
    """
    WITH pending_items AS (
        SELECT oi.ticket_type_id, oi.event_service_id, oi.quantity
          FROM order_items oi JOIN orders o ON o.id = oi.order_id
         WHERE o.event_id = :event_id AND o.status = 'pending'
    ), sold_units AS (
        SELECT oi.event_service_id, oi.quantity
          FROM order_items oi JOIN orders o ON o.id = oi.order_id
         WHERE o.event_id = :event_id AND o.status IN ('completed', 'partially_refunded')
           AND oi.event_service_id IS NOT NULL
    ), type_counts AS (
        SELECT tt.id,
               (SELECT count(*) FROM tickets t WHERE t.ticket_type_id = tt.id AND t.status <> 'cancelled')
               + (SELECT coalesce(sum(p.quantity), 0) FROM pending_items p WHERE p.ticket_type_id = tt.id)
               + tt.waiting_list_seats
               AS claimed,
               (SELECT coalesce(sum(v.seats_reserved), 0) FROM vouchers v WHERE v.reserved_ticket_type_id = tt.id)
               AS reserved
          FROM ticket_types tt WHERE tt.event_id = :event_id
    ), event_recount AS (
        UPDATE events
           SET seats_claimed = (SELECT coalesce(sum(claimed), 0) FROM type_counts)
                             + (SELECT coalesce(sum(v.seats_reserved), 0) FROM vouchers v WHERE v.event_id = :event_id),
               claims_overstated = false
         WHERE id = :event_id RETURNING id
    ), type_recount AS (
        UPDATE ticket_types tt SET seats_claimed = c.claimed + c.reserved
          FROM type_counts c, event_recount WHERE tt.id = c.id
        RETURNING tt.id
    ), service_recount AS (
        UPDATE event_services s
           SET units_claimed =
                   (SELECT coalesce(sum(p.quantity), 0) FROM pending_items p WHERE p.event_service_id = s.id)
                 + (SELECT coalesce(sum(u.quantity), 0) FROM sold_units u WHERE u.event_service_id = s.id)
          FROM event_recount WHERE s.event_id = event_recount.id
        RETURNING s.id
    )
    SELECT (SELECT count(*) FROM type_recount) + (SELECT count(*) FROM service_recount) AS rows
    """
)

# One pending order leaves `pending` and its quantities leave the counters, in one statement: the conditional
# UPDATE makes the release happen once however many sweeps, cancels and retries race for it. A promo code it
# redeemed gets its redemptions back, and, while it is live and reserves, the seats too: they stay in the counters,
# kept for the code. The code's row is written after the event's (the hold's lock order); a code that lapses in
# between is left with a reservation the lapsed-code sweep returns (crowdify.domain.vouchers). Otherwise, while
# people wait for a type (or for any type of the event), its released seats stay claimed, kept for the waiting
# list's next offer (crowdify.domain.waiting_list), up to the seats they ask for: they never return to general sale
# in between. Two releases at once may keep a few seats more than asked for; the next offer round gives those back.
_RELEASE = text(
    """
    WITH released AS (
        UPDATE orders
           SET status = :status,
               updated_at = now(),
               cancelled_at = CASE WHEN :status = 'cancelled' THEN now() ELSE cancelled_at END,
               expired_at = CASE WHEN :status = 'expired' THEN now() ELSE expired_at END,
               idempotency_key = CASE WHEN :forget_idempotency_key THEN NULL ELSE idempotency_key END
         WHERE id = :order_id AND status = 'pending' AND (NOT :only_if_past_deadline OR hold_expires_at <= now())
        RETURNING id, event_id, status, voucher_id, voucher_seats
    ), released_items AS (
        SELECT oi.ticket_type_id, oi.event_service_id, oi.quantity
          FROM order_items oi JOIN released ON oi.order_id = released.id
    ), kept_for_code AS (
        SELECT v.id, v.reserved_ticket_type_id,
               CASE WHEN v.reserve_seats AND v.is_active AND (v.valid_until IS NULL OR v.valid_until > now())
                    THEN r.voucher_seats ELSE 0 END AS seats
          FROM vouchers v JOIN released r ON v.id = r.voucher_id
    ), kept_items AS (
        SELECT i.ticket_type_id, i.quantity,
               CASE WHEN EXISTS (SELECT 1 FROM kept_for_code WHERE seats > 0) THEN 0
                    ELSE least(i.quantity, greatest(
                        (SELECT coalesce(sum(w.seats), 0) FROM waiting_list_entries w
                          WHERE w.event_id = tt.event_id AND w.status = 'waiting'
                            AND (w.ticket_type_id IS NULL OR w.ticket_type_id = tt.id))
                        - tt.waiting_list_seats, 0))
               END AS kept
          FROM released_items i JOIN ticket_types tt ON tt.id = i.ticket_type_id
    ), event_release AS (
        UPDATE events e
           SET seats_claimed = e.seats_claimed
                             - (SELECT coalesce(sum(quantity - kept), 0) FROM kept_items)
                             + (SELECT coalesce(sum(seats), 0) FROM kept_for_code)
          FROM released WHERE e.id = released.event_id
        RETURNING e.id
    ), type_release AS (
        UPDATE ticket_types tt
           SET seats_claimed = tt.seats_claimed - i.quantity + i.kept
                             + (SELECT coalesce(sum(k.seats), 0) FROM kept_for_code k
                                 WHERE k.reserved_ticket_type_id = tt.id),
               waiting_list_seats = tt.waiting_list_seats + i.kept
          FROM kept_items i, event_release WHERE tt.id = i.ticket_type_id
        RETURNING tt.id
    ), service_release AS (
        UPDATE event_services s SET units_claimed = s.units_claimed - i.quantity
          FROM released_items i, event_release WHERE s.id = i.event_service_id
        RETURNING s.id
    ), code_return AS (
        UPDATE vouchers v
           SET redeemed = v.redeemed - r.voucher_seats, seats_reserved = v.seats_reserved + k.seats,
               updated_at = now()
          FROM released r, kept_for_code k, event_release
         WHERE v.id = r.voucher_id AND k.id = v.id
        RETURNING v.id
    )
    SELECT released.id, released.event_id, released.status,
           (SELECT count(*) FROM type_release) + (SELECT count(*) FROM service_release) AS lines
      FROM released
    """
)


def lock_event_for_holds(session: Session, event_id: uuid.UUID) -> Event:
    """The event, its row locked until the transaction ends: the one lock every hold on it takes first."""
    from crowdify.persistence.models import Event

    # populate_existing: an Event this session loaded earlier must not hide changes committed before the lock.
    query = select(Event).where(Event.id == event_id).with_for_update().execution_options(populate_existing=True)
    event = session.scalars(query).first()
    if event is None:
        raise NotFound("Event not found")
    return event


def check_capacity(
    session: Session,
    event: Event,
    ticket_quantities: Mapping[uuid.UUID, int],
    service_quantities: Mapping[uuid.UUID, int],
) -> None:
    """Refuses (SoldOut, 409) quantities that would take paid + live holds past any capacity; else claims them.

    Call it under `lock_event_for_holds`. The claim keeps the counters an upper bound once these seats are held:
    the caller goes on to hold them (a new order, or an expired order paid late) in the same transaction.
    """
    capacities = {ticket_type.id: ticket_type for ticket_type in event.ticket_types}
    stocks = {service.id: service for service in event.services}
    check_exact(
        session,
        event.id,
        event.capacity_total,
        {type_id: (capacities[type_id].name, capacities[type_id].capacity) for type_id in ticket_quantities},
        {service_id: (stocks[service_id].name, stocks[service_id].stock_total) for service_id in service_quantities},
        ticket_quantities,
        service_quantities,
    )
    claim(session, event.id, ticket_quantities, service_quantities)


def check_exact(
    executor: Executor,
    event_id: uuid.UUID,
    capacity_total: int,
    type_limits: Mapping[uuid.UUID, tuple[str, int | None]],
    service_limits: Mapping[uuid.UUID, tuple[str, int]],
    ticket_quantities: Mapping[uuid.UUID, int],
    service_quantities: Mapping[uuid.UUID, int],
    *,
    seats: int | None = None,
    count_waiting_demand: bool = True,
) -> None:
    """Counts sold seats, live holds, reserved seats and seats kept for the waiting list (crowdify.domain.capacity)
    and refuses what does not fit, naming it. `seats`: the event's seats asked for, when not the sum of
    `ticket_quantities`; `count_waiting_demand` false for the waiting list's own offers."""
    usage = usage_for_events(executor, [event_id], count_waiting_demand=count_waiting_demand)
    if seats is None:
        seats = sum(ticket_quantities.values())
    left = capacity_total - usage.event(event_id).taken
    if seats > left:
        raise SoldOut(f"This event is sold out: {max(left, 0)} seats left, {seats} requested")
    for type_id, quantity in ticket_quantities.items():
        name, capacity = type_limits[type_id]
        if capacity is not None and quantity > capacity - usage.ticket_type(type_id).taken:
            remaining = max(capacity - usage.ticket_type(type_id).taken, 0)
            raise SoldOut(f"{name!r} is sold out: {remaining} left, {quantity} requested")
    for service_id, quantity in service_quantities.items():
        name, stock = service_limits[service_id]
        if quantity > stock - usage.service(service_id).taken:
            remaining = max(stock - usage.service(service_id).taken, 0)
            raise SoldOut(f"{name!r} is sold out: {remaining} left, {quantity} requested")


def claim(
    executor: Executor,
    event_id: uuid.UUID,
    ticket_quantities: Mapping[uuid.UUID, int],
    service_quantities: Mapping[uuid.UUID, int],
) -> None:
    """Raises the claim counters unconditionally (the exact check has been made under the event lock)."""
    executor.execute(
        _CLAIM,
        {
            "event_id": event_id,
            "seats": sum(ticket_quantities.values()),
            "type_lines": _lines(ticket_quantities),
            "service_lines": _lines(service_quantities),
        },
    )


def recount_claims(executor: Executor, event_id: uuid.UUID) -> None:
    """Recomputes the event's counters from its orders and tickets; call it under the event lock."""
    executor.execute(_RECOUNT, {"event_id": event_id})


def release_hold(
    executor: Executor,
    order_id: uuid.UUID,
    status: str,
    *,
    only_if_past_deadline: bool = False,
    forget_idempotency_key: bool = False,
) -> bool:
    """Moves a pending order to `status` (cancelled or expired) and gives its seats back; False if not pending."""
    row = executor.execute(
        _RELEASE,
        {
            "order_id": order_id,
            "status": status,
            "only_if_past_deadline": only_if_past_deadline,
            "forget_idempotency_key": forget_idempotency_key,
        },
    ).first()
    return row is not None


def _lines(quantities: Mapping[uuid.UUID, int]) -> str:
    return json.dumps([{"id": str(line_id), "quantity": quantity} for line_id, quantity in quantities.items()])
