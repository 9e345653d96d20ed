"""Purchases: check the request against the catalogue, hold the seats and store the order in one short
transaction, then open a MercadoPago checkout outside it.

The hold is one statement (`_HOLD`): it raises the claim counters of the event, its ticket types and services
only where the new quantities still fit under them (crowdify.domain.seat_holds explains why that can never oversell),
and inserts the order, its items and its attendees, all priced from the database. When the counters say no, the
hold is made again in a transaction that recounts exactly under the event lock and either refuses (409 sold out)
or holds anyway. The same statement refuses (409) an order that would take the buyer past the event's per-buyer
limits (live pending orders, tickets held and owned), counted exactly because the catalogue read took the buyer's
lock on the event first. A fresh purchase costs four statements: the caller's role, the catalogue read, the hold, the
checkout link. An order that costs nothing (free tickets) skips the checkout: it is completed, its tickets issued
and its paid-order message written in the hold's own transaction.

The usual purchase runs on crowdify.persistence.pg_connection: pg8000 with each statement prepared once per warm
container, so Postgres neither parses nor plans the hold again (on the purchase benchmark this took Postgres's CPU per
purchase
from 2.9 to 1.7 ms and the handler's from 4.4 to 3.0). The exact recount and a free order's completion use the ORM,
so those orders are placed through SQLAlchemy, after the first transaction rolled back; a container that has done
so keeps a second connection, the engine's.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from purchase_schemas import PurchaseRequest

from crowdify.adapters.mercadopago_client import CheckoutItem, CheckoutRequest, payments
from crowdify.auth.callers import Caller
from crowdify.config.settings import get_settings
from crowdify.core.errors import (
    Conflict,
    DependencyUnavailable,
    DomainError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PurchaseLimitReached,
)
from crowdify.core.statuses import ORDER_PENDING
from crowdify.domain.outbox import publish_after_commit
from crowdify.domain.seat_holds import check_exact, lock_event_for_holds, recount_claims, release_hold
from crowdify.persistence import pg_connection
from crowdify.persistence.database import CoreStatements, statements_transaction, transaction

if TYPE_CHECKING:
    # The ORM serves only the rare paths (the exact recount, a free order): the usual purchase runs on pg8000, and
    # its cold start does not pay for the ORM and the models.
    from sqlalchemy.orm import Session

CHECKOUT_UNAVAILABLE = "MercadoPago is unavailable, so no seats were held; try again"
FREE_ORDER_PROVIDER = "free"

# It also takes the buyer's lock on this event (a transaction-scoped advisory lock on the pair): a purchase by the
# same buyer for the same event waits here until this transaction ends, so the hold statement that follows, whose
# snapshot is taken after the lock, counts every order of the buyer's that committed before (`_BUYER_LIMITS`).
_CATALOG = """
    SELECT e.id, e.name, e.status, e.currency, e.allow_children, e.max_tickets_per_buyer, now() AS database_now,
           (SELECT coalesce(json_agg(json_build_object(
                       'id', tt.id, 'name', tt.name, 'is_child', tt.is_child, 'is_default', tt.is_default,
                       'max_per_order', tt.max_per_order,
                       'sales_start_at', tt.sales_start_at, 'sales_end_at', tt.sales_end_at)), '[]')
              FROM ticket_types tt WHERE tt.event_id = e.id) AS ticket_types,
           (SELECT coalesce(json_agg(json_build_object('id', s.id, 'name', s.name)), '[]')
              FROM event_services s WHERE s.event_id = e.id) AS services,
           (SELECT json_build_object('email', u.email) FROM users u WHERE u.id = :buyer_id) AS buyer,
           (SELECT json_build_object('id', o.id, 'status', o.status, 'fingerprint', o.request_fingerprint,
                                     'payment_link', o.payment_link)
              FROM orders o WHERE o.user_id = :buyer_id AND o.idempotency_key = :idempotency_key) AS existing_order
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

# The buyer's limits first, then the claims (the event row, then its types and services); inserts only when every
# claim fitted. The limits hold whether or not the claim counters are enforced.
_HOLD = f"""
    WITH {_BUYER_LIMITS}, event_claim AS (
        UPDATE events SET seats_claimed = seats_claimed + :seats
         WHERE id = :event_id AND status = 'published'
           AND (SELECT pending_fit AND tickets_fit FROM buyer_fits)
           AND (NOT :enforce OR seats_claimed + :seats <= capacity_total)
        RETURNING id, currency
    ), type_claims AS (
        UPDATE ticket_types tt SET seats_claimed = tt.seats_claimed + line.quantity
          FROM jsonb_to_recordset(CAST(:type_lines AS jsonb)) AS line(id uuid, item_id uuid, quantity int),
               event_claim
         WHERE tt.id = line.id AND tt.event_id = event_claim.id
           AND (NOT :enforce OR tt.capacity IS NULL OR tt.seats_claimed + line.quantity <= tt.capacity)
        RETURNING line.item_id, tt.id AS ticket_type_id, line.quantity, tt.price
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
    ), new_order AS (
        INSERT INTO orders (id, user_id, event_id, status, currency, total, buyer_email, idempotency_key,
                            request_fingerprint, hold_expires_at)
        SELECT :order_id, :buyer_id, event_claim.id, 'pending', event_claim.currency,
               (SELECT coalesce(sum(price * quantity), 0) FROM type_claims)
               + (SELECT coalesce(sum(price * quantity), 0) FROM service_claims),
               :buyer_email, :idempotency_key, :fingerprint, now() + :hold_minutes * interval '1 minute'
          FROM event_claim, claimed
         WHERE claimed.complete
        ON CONFLICT (user_id, idempotency_key) DO NOTHING
        RETURNING id, status, total, currency, hold_expires_at
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
           buyer_fits.tickets AS buyer_tickets, o.id AS order_id, o.status, o.total, o.currency, o.hold_expires_at,
           (SELECT json_object_agg(i.id, json_build_object('quantity', i.quantity, 'unit_price', i.unit_price::text))
              FROM new_items i) AS items,
           (SELECT count(*) FROM new_attendees) AS attendee_count
      FROM claimed CROSS JOIN buyer_fits LEFT JOIN new_order o ON true
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


@dataclass(frozen=True)
class CatalogTicketType:
    id: uuid.UUID
    name: str
    is_child: bool
    is_default: bool
    max_per_order: int | None
    sales_start_at: datetime | None
    sales_end_at: datetime | None


@dataclass(frozen=True)
class ExistingOrder:
    id: uuid.UUID
    status: str
    fingerprint: str | None
    payment_link: str | None


@dataclass(frozen=True)
class Catalog:
    """What a purchase needs to know about its event, read in one statement before anything is held."""

    event_id: uuid.UUID
    event_name: str
    status: str
    currency: str
    allow_children: bool
    max_tickets_per_buyer: int | None
    now: datetime
    ticket_types: dict[uuid.UUID, CatalogTicketType]
    services: dict[uuid.UUID, str]
    buyer_exists: bool
    buyer_email: str | None
    existing_order: ExistingOrder | None


@dataclass(frozen=True)
class Line:
    item_id: uuid.UUID
    quantity: int


@dataclass(frozen=True)
class OrderPlan:
    """The order a request asks for, checked against every rule that does not need a lock."""

    ticket_lines: dict[uuid.UUID, Line]
    service_lines: dict[uuid.UUID, Line]
    attendees: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seats(self) -> int:
        return sum(line.quantity for line in self.ticket_lines.values())

    def ticket_quantities(self) -> dict[uuid.UUID, int]:
        return {type_id: line.quantity for type_id, line in self.ticket_lines.items()}

    def service_quantities(self) -> dict[uuid.UUID, int]:
        return {service_id: line.quantity for service_id, line in self.service_lines.items()}


@dataclass(frozen=True)
class PlacedOrder:
    order_id: uuid.UUID
    status: str
    payment_link: str | None
    # Set when the order still needs a MercadoPago checkout.
    checkout: CheckoutRequest | None = None
    # Set when the order was completed (it was free): its outbox message, to publish once committed.
    paid_order_message: uuid.UUID | None = None


class _IdempotencyKeyTakenMeanwhile(Exception):
    """A concurrent request with the same key inserted its order first; this transaction must roll back."""


class _NeedsTheOrm(Exception):
    """The pg8000 path cannot finish this order (the claim counters said no, or it is free); its transaction must
    roll back, and the order is placed again through SQLAlchemy."""


class Statements(Protocol):
    """Plain SQL with `:name` parameters in one transaction: a crowdify.persistence.pg_connection.Connection (prepared
    statements, the usual path) or a crowdify.persistence.database.CoreStatements (SQLAlchemy, when the ORM is
    needed)."""

    def first(self, statement: str, parameters: Mapping[str, Any] | None = None) -> Any | None: ...


def buyer_for(caller: Caller, user_id: uuid.UUID) -> uuid.UUID:
    """The old client sends user_id; only an admin may buy for someone else."""
    if user_id != caller.id and not caller.is_admin:
        raise Forbidden("user_id must be your own user id")
    return user_id


def request_fingerprint(request: PurchaseRequest) -> str:
    """What makes two requests with one idempotency key "the same": every field that is read, canonically."""
    canonical = json.dumps(
        request.model_dump(mode="json", exclude={"idempotency_key"}), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_catalog(
    connection: Statements, event_id: uuid.UUID, buyer_id: uuid.UUID, idempotency_key: str | None
) -> Catalog:
    row = connection.first(_CATALOG, {"event_id": event_id, "buyer_id": buyer_id, "idempotency_key": idempotency_key})
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
        )
        if existing
        else None,
    )


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def check_event_sells(status: str) -> None:
    if status == "draft":
        raise NotFound("Event not found")
    if status == "cancelled":
        raise Conflict("This event is cancelled and sells nothing more")
    if status != "published":
        raise Conflict(f"This event is {status} and sells nothing")


def plan_order(catalog: Catalog, request: PurchaseRequest) -> OrderPlan:
    """Every rule that needs no lock: event state, ticket types, children, sales windows, per-order maximum."""
    check_event_sells(catalog.status)
    chosen: list[CatalogTicketType] = [_ticket_type_for(catalog, attendee) for attendee in request.attendees]
    counts = Counter(ticket_type.id for ticket_type in chosen)
    for type_id, quantity in counts.items():
        _check_sales(catalog.ticket_types[type_id], quantity, catalog.now)
    ticket_lines = {type_id: Line(uuid.uuid4(), quantity) for type_id, quantity in counts.items()}

    service_lines: dict[uuid.UUID, Line] = {}
    for service_id, quantity in (request.selected_services or {}).items():
        if service_id not in catalog.services:
            raise InvalidRequest(f"Service {service_id} is not offered for this event")
        if quantity > 0:
            service_lines[service_id] = Line(uuid.uuid4(), quantity)

    attendees = []
    for position, (attendee, ticket_type) in enumerate(zip(request.attendees, chosen, strict=True), start=1):
        first_name, _, last_name = attendee.name.partition(" ")
        attendees.append(
            {
                "position": position,
                "item_id": str(ticket_lines[ticket_type.id].item_id),
                "first_name": first_name,
                "last_name": last_name.strip(),
                "email": attendee.email,
                "document_type": attendee.document_type,
                "document_number": attendee.document_number,
                "is_child": attendee.is_child,
                "child_details": attendee.child_details.model_dump(mode="json")
                if attendee.is_child and attendee.child_details
                else None,
            }
        )
    return OrderPlan(ticket_lines, service_lines, attendees)


def _ticket_type_for(catalog: Catalog, attendee: Any) -> CatalogTicketType:
    if attendee.is_child and not catalog.allow_children:
        raise InvalidRequest("This event does not admit children")
    if attendee.ticket_type_id is not None:
        ticket_type = catalog.ticket_types.get(attendee.ticket_type_id)
        if ticket_type is None:
            raise InvalidRequest(f"Ticket type {attendee.ticket_type_id} is not sold for this event")
        if ticket_type.is_child != attendee.is_child:
            kind = "children" if ticket_type.is_child else "adults"
            raise InvalidRequest(f"Ticket type {ticket_type.name!r} is for {kind}; set is_child accordingly")
        return ticket_type
    default = next(
        (tt for tt in catalog.ticket_types.values() if tt.is_default and tt.is_child == attendee.is_child), None
    )
    if default is None:
        kind = "child" if attendee.is_child else "adult"
        raise InvalidRequest(f"This event has no default {kind} ticket type; choose a ticket_type_id")
    return default


def _check_sales(ticket_type: CatalogTicketType, quantity: int, now: datetime) -> None:
    if ticket_type.sales_start_at is not None and now < ticket_type.sales_start_at:
        raise InvalidRequest(f"Sales of {ticket_type.name!r} open at {ticket_type.sales_start_at.isoformat()}")
    if ticket_type.sales_end_at is not None and now >= ticket_type.sales_end_at:
        raise InvalidRequest(f"Sales of {ticket_type.name!r} closed at {ticket_type.sales_end_at.isoformat()}")
    if ticket_type.max_per_order is not None and quantity > ticket_type.max_per_order:
        raise InvalidRequest(
            f"At most {ticket_type.max_per_order} tickets of {ticket_type.name!r} per order ({quantity} requested)"
        )


def place_order(
    connection: Statements,
    buyer_id: uuid.UUID,
    request: PurchaseRequest,
    idempotency_key: str | None,
    fingerprint: str,
    notification_url: str,
    orm: Callable[[], Session] | None,
) -> PlacedOrder:
    """Holds the seats and stores the pending order (completed at once when it is free), or finds the order this
    idempotency key already made.

    `orm` opens an ORM session in the same transaction; without it (the pg8000 path) an order that needs one raises
    `_NeedsTheOrm` before anything is committed.
    """
    catalog = read_catalog(connection, request.event_id, buyer_id, idempotency_key)
    if catalog.existing_order is not None:
        return _replay(connection, catalog.existing_order, buyer_id, idempotency_key, fingerprint, notification_url)
    if not catalog.buyer_exists:
        raise InvalidRequest("user_id names no user")
    plan = plan_order(catalog, request)
    order_id = uuid.uuid4()
    parameters = {
        "event_id": catalog.event_id,
        "order_id": order_id,
        "buyer_id": buyer_id,
        "buyer_email": catalog.buyer_email,
        "idempotency_key": idempotency_key,
        "fingerprint": fingerprint,
        "hold_minutes": get_settings().hold_minutes,
        "seats": plan.seats,
        "type_lines": _lines_json(plan.ticket_lines),
        "service_lines": _lines_json(plan.service_lines),
        "type_line_count": len(plan.ticket_lines),
        "service_line_count": len(plan.service_lines),
        "attendees": json.dumps(plan.attendees),
        "max_pending_orders": get_settings().max_pending_orders_per_buyer,
        "max_tickets_per_buyer": catalog.max_tickets_per_buyer,
        "enforce": True,
    }
    held = _one(connection, _HOLD, parameters)
    check_buyer_limits(held, catalog.max_tickets_per_buyer, plan.seats)
    if not held.claimed:
        if orm is None:
            raise _NeedsTheOrm
        _check_exactly(orm, catalog.event_id, plan)
        held = _one(connection, _HOLD, {**parameters, "enforce": False})
        if not held.claimed:
            raise Conflict("The event changed while you were buying; try again")
    if held.order_id is None:
        raise _IdempotencyKeyTakenMeanwhile
    if held.total == 0:
        if orm is None:
            raise _NeedsTheOrm
        return _complete_free_order(orm, held.order_id)
    return PlacedOrder(
        order_id=held.order_id,
        status=held.status,
        payment_link=None,
        checkout=_checkout_request(catalog, plan, held, notification_url),
    )


def check_buyer_limits(held: Any, max_tickets_per_buyer: int | None, seats: int) -> None:
    """Refuses (409) an order the hold statement found over a per-buyer limit; nothing was held then."""
    if not held.pending_fit:
        pending = get_settings().max_pending_orders_per_buyer
        raise PurchaseLimitReached(
            f"Ya tienes {pending} compras pendientes de pago para este evento: págalas o cancélalas antes de"
            " iniciar otra"
        )
    if not held.tickets_fit:
        raise PurchaseLimitReached(
            f"Este evento permite como máximo {max_tickets_per_buyer} entradas por comprador: ya tienes"
            f" {held.buyer_tickets} y pides {seats}"
        )


def _one(connection: Statements, statement: str, parameters: Mapping[str, Any]) -> Any:
    row = connection.first(statement, parameters)
    assert row is not None, "the statement always answers one row"
    return row


def _check_exactly(orm: Callable[[], Session], event_id: uuid.UUID, plan: OrderPlan) -> None:
    """Under the event lock: the counters are recomputed, then the request is checked against exact figures."""
    with orm() as session:
        event = lock_event_for_holds(session, event_id)
        check_event_sells(event.status)
        recount_claims(session, event.id)
        check_exact(
            session,
            event.id,
            event.capacity_total,
            {tt.id: (tt.name, tt.capacity) for tt in event.ticket_types},
            {service.id: (service.name, service.stock_total) for service in event.services},
            plan.ticket_quantities(),
            plan.service_quantities(),
        )


def _lines_json(lines: dict[uuid.UUID, Line]) -> str:
    return json.dumps(
        [
            {"id": str(line_id), "item_id": str(line.item_id), "quantity": line.quantity}
            for line_id, line in lines.items()
        ]
    )


def _checkout_request(catalog: Catalog, plan: OrderPlan, held: Any, notification_url: str) -> CheckoutRequest:
    named = [(catalog.ticket_types[type_id].name, line) for type_id, line in plan.ticket_lines.items()]
    named += [(catalog.services[service_id], line) for service_id, line in plan.service_lines.items()]
    checkout_items = [
        CheckoutItem(
            title=f"{catalog.event_name} — {name}",
            quantity=line.quantity,
            unit_price=Decimal(held.items[str(line.item_id)]["unit_price"]),
            currency_id=catalog.currency,
        )
        for name, line in named
    ]
    return _checkout(held.order_id, checkout_items, catalog.buyer_email, held.hold_expires_at, notification_url)


def _checkout(
    order_id: uuid.UUID,
    items: list[CheckoutItem],
    payer_email: str | None,
    expires_at: datetime,
    notification_url: str,
) -> CheckoutRequest:
    return CheckoutRequest(
        order_id=str(order_id),
        # MercadoPago refuses an item priced at zero: a free ticket in a paid order (a child's, say) stays in the
        # order and out of the checkout, whose items still add up to the order's total.
        items=[item for item in items if item.unit_price > 0],
        payer_email=payer_email,
        expires_at=expires_at,
        notification_url=notification_url,
        back_urls={outcome: _back_url(outcome, order_id) for outcome in ("success", "failure", "pending")},
    )


def _back_url(outcome: str, order_id: uuid.UUID) -> str:
    """Where the web client shows the purchase's outcome (MercadoPago sends the buyer back there)."""
    return f"{get_settings().frontend_base_url.rstrip('/')}/purchase/{outcome}?order_id={order_id}"


def _complete_free_order(orm: Callable[[], Session], order_id: uuid.UUID) -> PlacedOrder:
    """An order that costs nothing has nothing to pay (and MercadoPago takes no zero-amount checkout): it is
    completed in the transaction that holds its seats, and its link is the success page a paid checkout ends on."""
    from crowdify.domain.order_payments import complete_order
    from crowdify.persistence.models import Order

    with orm() as session:
        order = session.get_one(Order, order_id, with_for_update=True)
        message = complete_order(session, order, payment_id=None, paid_at=datetime.now(UTC), reason="free order")
        order.payment_provider = FREE_ORDER_PROVIDER
        order.payment_link = _back_url("success", order_id)
        session.flush()
        return PlacedOrder(order.id, order.status, order.payment_link, paid_order_message=message.id)


def _replay(
    connection: Statements,
    existing: ExistingOrder,
    buyer_id: uuid.UUID,
    idempotency_key: str | None,
    fingerprint: str,
    notification_url: str,
) -> PlacedOrder:
    if existing.fingerprint != fingerprint:
        raise Conflict("This idempotency key was already used for a different purchase")
    if existing.payment_link is not None:
        return PlacedOrder(existing.id, existing.status, existing.payment_link)
    if existing.status != ORDER_PENDING:
        raise Conflict(f"The purchase made with this idempotency key is {existing.status}; use a new key")
    row = _one(connection, _ORDER_FOR_CHECKOUT, {"buyer_id": buyer_id, "idempotency_key": idempotency_key})
    items = [
        CheckoutItem(
            title=f"{row.event_name} — {item['title']}",
            quantity=item["quantity"],
            unit_price=Decimal(item["unit_price"]),
            currency_id=row.currency,
        )
        for item in row.items
    ]
    checkout = _checkout(row.id, items, row.buyer_email, row.hold_expires_at, notification_url)
    return PlacedOrder(existing.id, existing.status, None, checkout)


def replay_existing(
    connection: Statements,
    request: PurchaseRequest,
    buyer_id: uuid.UUID,
    idempotency_key: str,
    fingerprint: str,
    notification_url: str,
) -> PlacedOrder:
    catalog = read_catalog(connection, request.event_id, buyer_id, idempotency_key)
    if catalog.existing_order is None:
        raise Conflict("A purchase with this idempotency key is being made; try again")
    return _replay(connection, catalog.existing_order, buyer_id, idempotency_key, fingerprint, notification_url)


def open_checkout(placed: PlacedOrder) -> PlacedOrder:
    """Creates the MercadoPago preference, outside any transaction; on failure nothing stays held."""
    assert placed.checkout is not None
    try:
        checkout = payments().create_checkout(placed.checkout)
    except Exception as error:
        _release_failed_checkout(placed.order_id)
        if isinstance(error, DomainError):
            raise DependencyUnavailable(CHECKOUT_UNAVAILABLE) from error
        raise
    with pg_connection.transaction() as connection:
        saved = _one(
            connection,
            _SAVE_CHECKOUT,
            {"order_id": placed.order_id, "preference_id": checkout.preference_id, "payment_link": checkout.init_point},
        )
    if saved.payment_link is None:
        raise Conflict(f"This purchase is {saved.status}; start a new one")
    return PlacedOrder(placed.order_id, saved.status, saved.payment_link)


def _release_failed_checkout(order_id: uuid.UUID) -> None:
    # The key is forgotten too: the buyer's retry with it starts afresh instead of finding a dead order.
    with transaction() as connection:
        release_hold(connection, order_id, "cancelled", forget_idempotency_key=True)


def _place(
    buyer_id: uuid.UUID, request: PurchaseRequest, idempotency_key: str | None, fingerprint: str, notification_url: str
) -> PlacedOrder:
    """Through pg8000's prepared statements when the claim counters say yes and the order costs something (almost
    always); otherwise, the first transaction rolled back, through SQLAlchemy, whose ORM the exact recount under the
    event's lock and a free order's completion use."""
    try:
        with pg_connection.transaction() as connection:
            return place_order(connection, buyer_id, request, idempotency_key, fingerprint, notification_url, None)
    except _NeedsTheOrm:
        pass
    with statements_transaction() as statements:
        return place_order(
            statements, buyer_id, request, idempotency_key, fingerprint, notification_url, _session_on(statements)
        )


def _session_on(statements: CoreStatements) -> Callable[[], Session]:
    from sqlalchemy.orm import Session

    return lambda: Session(bind=statements.connection)


def purchase(
    caller: Caller, request: PurchaseRequest, idempotency_key: str | None, public_base_url: str
) -> PlacedOrder:
    """The whole purchase: hold in one transaction, then the checkout, then the link saved on the order."""
    buyer_id = buyer_for(caller, request.user_id)
    fingerprint = request_fingerprint(request)
    notification_url = f"{public_base_url.rstrip('/')}/api/v1/purchases/webhook?source_news=webhooks"
    try:
        placed = _place(buyer_id, request, idempotency_key, fingerprint, notification_url)
    except _IdempotencyKeyTakenMeanwhile:
        assert idempotency_key is not None
        with pg_connection.transaction() as connection:
            placed = replay_existing(connection, request, buyer_id, idempotency_key, fingerprint, notification_url)
    if placed.paid_order_message is not None:
        publish_after_commit([placed.paid_order_message])
    if placed.checkout is None:
        return placed
    return open_checkout(placed)
