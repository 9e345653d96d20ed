"""The purchase's SQL: the catalogue read, the hold, the checkout link saved, an order found again for its
checkout; and the functions that run each one on a crowdify.persistence.statements.SqlStatements connection.

The hold is one statement (`_HOLD`): it raises the claim counters of the event, its ticket types and services only
where the new quantities still fit under them (crowdify.domain.seat_holds explains why that can never oversell),
and inserts the order, its items and its attendees, all priced from the database. The same statement counts the
buyer's orders on the event against the per-buyer limits, exactly, because the catalogue read took the buyer's
lock on the event first. Every function here sends exactly one statement.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from purchase_plan import (
    Admission,
    Catalog,
    CatalogTicketType,
    CatalogVoucher,
    ClaimCounters,
    ExistingOrder,
    Line,
    OrderPlan,
    VoucherUse,
)

from crowdify.core.errors import NotFound
from crowdify.persistence.statements import SqlStatements

# It also takes the buyer's lock on this event (a transaction-scoped advisory lock on the pair): a purchase by the
# same buyer for the same event waits here until this transaction ends, so the hold statement that follows, whose
# snapshot is taken after the lock, counts every order of the buyer's that committed before (`_BUYER_LIMITS`).
_CATALOG = """
    SELECT e.id, e.name, e.status, e.currency, e.allow_children, e.max_tickets_per_buyer, now() AS database_now,
           e.capacity_total, e.seats_claimed,
           NOT e.claims_overstated
           AND NOT EXISTS (SELECT 1 FROM orders o
                            WHERE o.event_id = e.id AND o.status = 'pending' AND o.hold_expires_at <= now())
           AS claims_exact,
           e.waiting_room_opens_at IS NOT NULL AS has_waiting_room,
           (SELECT json_build_object('used', q.admission_used_at IS NOT NULL, 'valid', q.admitted_until > now())
              FROM queue_entries q
             WHERE q.event_id = e.id AND q.user_id = :buyer_id AND q.admitted_at IS NOT NULL) AS admission,
           (SELECT coalesce(json_agg(json_build_object(
                       'id', tt.id, 'name', tt.name, 'is_child', tt.is_child, 'is_default', tt.is_default,
                       'max_per_order', tt.max_per_order, 'is_hidden', tt.is_hidden,
                       'sales_start_at', tt.sales_start_at, 'sales_end_at', tt.sales_end_at,
                       'capacity', tt.capacity, 'seats_claimed', tt.seats_claimed)), '[]')
              FROM ticket_types tt WHERE tt.event_id = e.id) AS ticket_types,
           (SELECT coalesce(json_agg(json_build_object('id', s.id, 'name', s.name)), '[]')
              FROM event_services s WHERE s.event_id = e.id) AS services,
           (SELECT json_build_object('email', u.email) FROM users u WHERE u.id = :buyer_id) AS buyer,
           (SELECT json_build_object('id', o.id, 'status', o.status, 'fingerprint', o.request_fingerprint,
                                     'payment_link', o.payment_link, 'total', o.total::text,
                                     'discount_total', o.discount_total::text)
              FROM orders o WHERE o.user_id = :buyer_id AND o.idempotency_key = :idempotency_key) AS existing_order,
           (SELECT json_build_object('id', v.id, 'discount_type', v.discount_type, 'value', v.value::text,
                                     'ticket_type_ids', v.ticket_type_ids, 'max_redemptions', v.max_redemptions,
                                     'redeemed', v.redeemed, 'valid_from', v.valid_from, 'valid_until', v.valid_until,
                                     'is_active', v.is_active, 'reserve_seats', v.reserve_seats,
                                     'reserved_ticket_type_id', v.reserved_ticket_type_id, 'user_id', v.user_id)
              FROM vouchers v WHERE v.event_id = e.id AND v.code = upper(CAST(:voucher_code AS varchar))) AS voucher
      FROM events e,
           LATERAL (SELECT pg_advisory_xact_lock(
                        hashtextextended(e.id::text || '/' || CAST(:buyer_id AS uuid)::text, 0))) AS buyer_lock
     WHERE e.id = :event_id
    """

# The buyer's live pending orders and tickets (held or issued, not cancelled) on the event, and whether this order
# still fits under the per-buyer limits. Exact because the catalog statement took the buyer's lock on the event
# first. An order with this request's idempotency key is left out: a retry must find it, not be refused for it.
# The tickets are counted only when the event has a per-buyer limit (a CASE runs its subqueries only when taken).
_BUYER_LIMITS = """
    buyer_orders AS (
        SELECT o.id, o.status = 'pending' AND o.hold_expires_at > now() AS live_hold
          FROM orders o
         WHERE o.user_id = :buyer_id AND o.event_id = :event_id
           AND o.status IN ('pending', 'completed', 'partially_refunded')
           AND coalesce(o.idempotency_key <> CAST(:idempotency_key AS varchar), true)
    ), buyer_holds AS (
        SELECT (SELECT count(*) FROM buyer_orders WHERE live_hold) AS pending_orders,
               CASE WHEN CAST(:max_tickets_per_buyer AS int) IS NULL THEN 0
                    ELSE (SELECT coalesce(sum(oi.quantity), 0)
                            FROM order_items oi JOIN buyer_orders b ON b.id = oi.order_id
                           WHERE b.live_hold AND oi.ticket_type_id IS NOT NULL)
                         + (SELECT count(*) FROM tickets t JOIN buyer_orders b ON b.id = t.order_id
                             WHERE t.status <> 'cancelled')
               END AS tickets
    ), buyer_fits AS (
        SELECT pending_orders < :max_pending_orders AS pending_fit,
               (CAST(:max_tickets_per_buyer AS int) IS NULL
                OR tickets + :seats <= CAST(:max_tickets_per_buyer AS int)) AS tickets_fit,
               tickets
          FROM buyer_holds
    )"""

# The promo code's redemption, only once every claim fitted: within its maximum, its window, its per-buyer maximum
# (exact under the buyer's lock, as the limits above), and taking the seats its reservation kept when it reserves.
# Concurrent buyers of one code queue on its row; each re-reads `redeemed` once the one before commits.
_VOUCHER_CLAIM = """
    voucher_claim AS (
        UPDATE vouchers v
           SET redeemed = v.redeemed + :voucher_seats, seats_reserved = v.seats_reserved - :reserved_seats,
               updated_at = now()
          FROM claimed
         WHERE claimed.complete AND v.id = CAST(:voucher_id AS uuid) AND v.is_active
           AND (v.valid_from IS NULL OR v.valid_from <= now()) AND (v.valid_until IS NULL OR v.valid_until > now())
           AND v.redeemed + :voucher_seats <= v.max_redemptions
           AND v.reserve_seats = (:reserved_seats > 0) AND v.seats_reserved >= :reserved_seats
           AND (v.max_per_buyer IS NULL
                OR :voucher_seats + (SELECT coalesce(sum(o.voucher_seats), 0) FROM orders o
                                      WHERE o.voucher_id = v.id AND o.user_id = :buyer_id
                                        AND o.status NOT IN ('cancelled', 'expired')
                                        AND coalesce(o.idempotency_key <> CAST(:idempotency_key AS varchar), true))
                   <= v.max_per_buyer)
        RETURNING v.id
    )"""

# The buyer's limits first, then the claims (the event row, then its types and services); inserts only when every
# claim fitted. The limits hold whether or not the claim counters are enforced.
_HOLD = f"""
    WITH {_BUYER_LIMITS}, event_claim AS (
        UPDATE events SET seats_claimed = seats_claimed + :seats - :reserved_seats
         WHERE id = :event_id AND status = 'published'
           AND (SELECT pending_fit AND tickets_fit FROM buyer_fits)
           AND (NOT :enforce OR seats_claimed + :seats - :reserved_seats <= capacity_total)
        RETURNING id, currency
    ), type_claims AS (
        UPDATE ticket_types tt SET seats_claimed = tt.seats_claimed + line.quantity - line.reserved
          FROM jsonb_to_recordset(CAST(:type_lines AS jsonb))
                   AS line(id uuid, item_id uuid, quantity int, discounted boolean, reserved int),
               event_claim
         WHERE tt.id = line.id AND tt.event_id = event_claim.id
           AND (NOT :enforce OR tt.capacity IS NULL OR tt.seats_claimed + line.quantity - line.reserved <= tt.capacity)
        RETURNING line.item_id, tt.id AS ticket_type_id, line.quantity, tt.price AS list_price,
                  CASE WHEN NOT line.discounted THEN tt.price
                       WHEN :discount_type = 'percent'
                            THEN round(tt.price * (100 - CAST(:discount_value AS numeric)) / 100, 2)
                       WHEN :discount_type = 'fixed' THEN greatest(tt.price - CAST(:discount_value AS numeric), 0)
                       ELSE least(CAST(:discount_value AS numeric), tt.price)
                  END AS price
    ), service_claims AS (
        UPDATE event_services s SET units_claimed = s.units_claimed + line.quantity
          FROM jsonb_to_recordset(CAST(:service_lines AS jsonb)) AS line(id uuid, item_id uuid, quantity int),
               event_claim
         WHERE s.id = line.id AND s.event_id = event_claim.id
           AND (NOT :enforce OR s.units_claimed + line.quantity <= s.stock_total)
        RETURNING line.item_id, s.id AS event_service_id, line.quantity, s.price
    ), claimed AS (
        SELECT EXISTS (SELECT 1 FROM event_claim)
               AND (SELECT count(*) FROM type_claims) = :type_line_count
               AND (SELECT count(*) FROM service_claims) = :service_line_count AS complete
    ), {_VOUCHER_CLAIM}, redeemed AS (
        SELECT CAST(:voucher_id AS uuid) IS NULL OR EXISTS (SELECT 1 FROM voucher_claim) AS complete
    ), new_order AS (
        INSERT INTO orders (id, user_id, event_id, status, currency, total, buyer_email, idempotency_key,
                            request_fingerprint, hold_expires_at, voucher_id, voucher_seats, discount_total)
        SELECT :order_id, :buyer_id, event_claim.id, 'pending', event_claim.currency,
               (SELECT coalesce(sum(price * quantity), 0) FROM type_claims)
               + (SELECT coalesce(sum(price * quantity), 0) FROM service_claims),
               :buyer_email, :idempotency_key, :fingerprint, now() + :hold_minutes * interval '1 minute',
               CAST(:voucher_id AS uuid), :voucher_seats,
               (SELECT coalesce(sum((list_price - price) * quantity), 0) FROM type_claims)
          FROM event_claim, claimed, redeemed
         WHERE claimed.complete AND redeemed.complete
        ON CONFLICT (user_id, idempotency_key) DO NOTHING
        RETURNING id, status, total, currency, hold_expires_at, discount_total
    ), new_items AS (
        INSERT INTO order_items (id, order_id, ticket_type_id, event_service_id, quantity, unit_price)
        SELECT c.item_id, new_order.id, c.ticket_type_id, NULL, c.quantity, c.price FROM type_claims c, new_order
        UNION ALL
        SELECT c.item_id, new_order.id, NULL, c.event_service_id, c.quantity, c.price
          FROM service_claims c, new_order
        RETURNING id, quantity, unit_price
    ), new_attendees AS (
        INSERT INTO attendees (id, order_id, order_item_id, position, first_name, last_name, email,
                               document_type, document_number, is_child, child_details)
        SELECT gen_random_uuid(), new_order.id, a.item_id, a.position, a.first_name, a.last_name, a.email,
               a.document_type, a.document_number, a.is_child, a.child_details
          FROM jsonb_to_recordset(CAST(:attendees AS jsonb)) AS a(
                   position int, item_id uuid, first_name text, last_name text, email text, document_type text,
                   document_number text, is_child boolean, child_details jsonb),
               new_order
        RETURNING id
    )
    SELECT claimed.complete AS claimed, buyer_fits.pending_fit, buyer_fits.tickets_fit,
           NOT claimed.complete OR redeemed.complete AS voucher_fit,
           buyer_fits.tickets AS buyer_tickets, o.id AS order_id, o.status, o.total, o.currency, o.hold_expires_at,
           o.discount_total,
           (SELECT json_object_agg(i.id, json_build_object('quantity', i.quantity, 'unit_price', i.unit_price::text))
              FROM new_items i) AS items,
           (SELECT count(*) FROM new_attendees) AS attendee_count
      FROM claimed CROSS JOIN buyer_fits CROSS JOIN redeemed LEFT JOIN new_order o ON true
    """  # noqa: S608 - a constant CTE, no input

# Committed without waiting for the WAL flush: a crash can lose only the link, and the buyer's retry with the same
# idempotency key then opens a new checkout for the same order (a payment on the old one still completes it).
_SAVE_CHECKOUT = """
    WITH asynchronous_commit AS (
        SELECT set_config('synchronous_commit', 'off', true)
    ), saved AS (
        UPDATE orders SET preference_id = :preference_id, payment_link = :payment_link, updated_at = now()
         WHERE id = :order_id AND status = 'pending' AND payment_link IS NULL
           AND EXISTS (SELECT 1 FROM asynchronous_commit)
        RETURNING status, payment_link
    )
    SELECT status, payment_link FROM saved
    UNION ALL
    SELECT status, payment_link FROM orders WHERE id = :order_id AND NOT EXISTS (SELECT 1 FROM saved)
    """

# For an order found by its idempotency key that has no checkout yet (its first request died before MercadoPago).
_ORDER_FOR_CHECKOUT = """
    SELECT o.id, o.status, o.currency, o.hold_expires_at, o.buyer_email, o.payment_link, e.name AS event_name,
           json_agg(json_build_object('title', coalesce(tt.name, s.name), 'quantity', oi.quantity,
                                      'unit_price', oi.unit_price::text) ORDER BY oi.created_at, oi.id) AS items
      FROM orders o
      JOIN events e ON e.id = o.event_id
      JOIN order_items oi ON oi.order_id = o.id
      LEFT JOIN ticket_types tt ON tt.id = oi.ticket_type_id
      LEFT JOIN event_services s ON s.id = oi.event_service_id
     WHERE o.user_id = :buyer_id AND o.idempotency_key = :idempotency_key
     GROUP BY o.id, e.name
    """


def read_catalog(
    connection: SqlStatements,
    event_id: uuid.UUID,
    buyer_id: uuid.UUID,
    idempotency_key: str | None,
    voucher_code: str | None = None,
) -> Catalog:
    """The event, its ticket types and services, the buyer, and the order this idempotency key already made;
    takes the buyer's lock on the event for the rest of the transaction."""
    row = connection.first(
        _CATALOG,
        {"event_id": event_id, "buyer_id": buyer_id, "idempotency_key": idempotency_key, "voucher_code": voucher_code},
    )
    if row is None:
        raise NotFound("Event not found")
    ticket_types = {
        uuid.UUID(item["id"]): CatalogTicketType(
            id=uuid.UUID(item["id"]),
            name=item["name"],
            is_child=item["is_child"],
            is_default=item["is_default"],
            max_per_order=item["max_per_order"],
            sales_start_at=_timestamp(item["sales_start_at"]),
            sales_end_at=_timestamp(item["sales_end_at"]),
            is_hidden=item["is_hidden"],
            capacity=item["capacity"],
            seats_claimed=item["seats_claimed"],
        )
        for item in row.ticket_types
    }
    existing = row.existing_order
    return Catalog(
        event_id=row.id,
        event_name=row.name,
        status=row.status,
        currency=row.currency,
        allow_children=row.allow_children,
        max_tickets_per_buyer=row.max_tickets_per_buyer,
        now=row.database_now,
        ticket_types=ticket_types,
        services={uuid.UUID(item["id"]): item["name"] for item in row.services},
        buyer_exists=row.buyer is not None,
        buyer_email=row.buyer["email"] if row.buyer else None,
        existing_order=ExistingOrder(
            id=uuid.UUID(existing["id"]),
            status=existing["status"],
            fingerprint=existing["fingerprint"],
            payment_link=existing["payment_link"],
            total=Decimal(existing["total"]),
            discount=Decimal(existing["discount_total"]),
        )
        if existing
        else None,
        voucher=_catalog_voucher(row.voucher),
        counters=ClaimCounters(row.capacity_total, row.seats_claimed, row.claims_exact),
        has_waiting_room=row.has_waiting_room,
        admission=Admission(used=row.admission["used"], valid=row.admission["valid"]) if row.admission else None,
    )


def _catalog_voucher(voucher: dict[str, Any] | None) -> CatalogVoucher | None:
    if voucher is None:
        return None
    return CatalogVoucher(
        id=uuid.UUID(voucher["id"]),
        discount_type=voucher["discount_type"],
        value=Decimal(voucher["value"]),
        ticket_type_ids=frozenset(uuid.UUID(type_id) for type_id in voucher["ticket_type_ids"]),
        max_redemptions=voucher["max_redemptions"],
        redeemed=voucher["redeemed"],
        valid_from=_timestamp(voucher["valid_from"]),
        valid_until=_timestamp(voucher["valid_until"]),
        is_active=voucher["is_active"],
        reserve_seats=voucher["reserve_seats"],
        reserved_ticket_type_id=_uuid(voucher["reserved_ticket_type_id"]),
        user_id=_uuid(voucher["user_id"]),
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def hold_parameters(
    catalog: Catalog,
    plan: OrderPlan,
    order_id: uuid.UUID,
    buyer_id: uuid.UUID,
    idempotency_key: str | None,
    fingerprint: str,
    hold_minutes: int,
    max_pending_orders: int,
) -> dict[str, Any]:
    """The hold's parameters, all but `enforce`, which `hold` sets."""
    return {
        "event_id": catalog.event_id,
        "order_id": order_id,
        "buyer_id": buyer_id,
        "buyer_email": catalog.buyer_email,
        "idempotency_key": idempotency_key,
        "fingerprint": fingerprint,
        "hold_minutes": hold_minutes,
        "seats": plan.seats,
        "type_lines": _type_lines_json(plan),
        "service_lines": _lines_json(plan.service_lines),
        "type_line_count": len(plan.ticket_lines),
        "service_line_count": len(plan.service_lines),
        "attendees": json.dumps(plan.attendees),
        "max_pending_orders": max_pending_orders,
        "max_tickets_per_buyer": catalog.max_tickets_per_buyer,
        **_voucher_parameters(plan.voucher_use),
    }


def _voucher_parameters(use: VoucherUse | None) -> dict[str, Any]:
    if use is None:
        return {
            "voucher_id": None,
            "voucher_seats": 0,
            "reserved_seats": 0,
            "discount_type": None,
            "discount_value": None,
        }
    return {
        "voucher_id": use.voucher.id,
        "voucher_seats": use.seats,
        "reserved_seats": use.reserved_seats,
        "discount_type": use.voucher.discount_type,
        "discount_value": use.voucher.value,
    }


def _type_lines_json(plan: OrderPlan) -> str:
    use = plan.voucher_use
    return json.dumps(
        [
            {
                "id": str(type_id),
                "item_id": str(line.item_id),
                "quantity": line.quantity,
                "discounted": use is not None and type_id in use.discounted_types,
                "reserved": use.reserved_for_type(type_id, line.quantity) if use is not None else 0,
            }
            for type_id, line in plan.ticket_lines.items()
        ]
    )


def _lines_json(lines: dict[uuid.UUID, Line]) -> str:
    return json.dumps(
        [
            {"id": str(line_id), "item_id": str(line.item_id), "quantity": line.quantity}
            for line_id, line in lines.items()
        ]
    )


def hold(connection: SqlStatements, parameters: Mapping[str, Any], *, enforce: bool = True) -> Any:
    """Claims and inserts, or nothing (`enforce` false claims past the counters: the exact recount under the event
    lock found room they did not show). The row says whether every claim fitted (`claimed`), whether the buyer's
    limits held (`pending_fit`, `tickets_fit`, `buyer_tickets`) and, when the order was inserted, the order
    (`order_id` is null when a concurrent request with the same idempotency key inserted its order first)."""
    return _one(connection, _HOLD, {**parameters, "enforce": enforce})


def unit_prices(held: Any) -> dict[str, Decimal]:
    """The unit price the hold stored for each order item, by item id."""
    return {item_id: Decimal(item["unit_price"]) for item_id, item in held.items.items()}


def save_checkout(connection: SqlStatements, order_id: uuid.UUID, preference_id: str, payment_link: str) -> Any:
    """Stores the checkout on a pending order that has none yet; the order's status and link either way."""
    return _one(
        connection,
        _SAVE_CHECKOUT,
        {"order_id": order_id, "preference_id": preference_id, "payment_link": payment_link},
    )


def order_for_checkout(connection: SqlStatements, buyer_id: uuid.UUID, idempotency_key: str | None) -> Any:
    """The order this idempotency key made, with its event's name and its items (`items`: title, quantity,
    unit_price as text)."""
    return _one(connection, _ORDER_FOR_CHECKOUT, {"buyer_id": buyer_id, "idempotency_key": idempotency_key})


def _one(connection: SqlStatements, statement: str, parameters: Mapping[str, Any]) -> Any:
    row = connection.first(statement, parameters)
    if row is None:
        raise LookupError("the statement answered no row, though it always answers one")
    return row
