"""Purchases: check the request against the catalogue, hold the seats and store the order in one short
transaction, then open a MercadoPago checkout outside it.

The rules that need no lock are purchase_plan's; the statements and what they count are purchase_statements'. A
fresh purchase costs four statements: the caller's role, the catalogue read, the hold, the checkout link. When the
claim counters say no, the hold is made again in a transaction that recounts exactly under the event lock and
either refuses (409 sold out) or holds anyway. An order that costs nothing (free tickets) skips the checkout: it is
completed, its tickets issued and its paid-order message written in the hold's own transaction.

The usual purchase runs on crowdify.persistence.pg_connection: pg8000 with each statement prepared once per warm
container, so Postgres neither parses nor plans the hold again. The exact recount and a free order's completion use
the ORM, so those orders are placed through SQLAlchemy, after the first transaction rolled back; a container that
has done so keeps a second connection, the engine's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import purchase_statements
from purchase_plan import (
    ExistingOrder,
    OrderPlan,
    PricedLine,
    buyer_for,
    check_admission,
    check_buyer_limits,
    check_event_sells,
    plan_order,
    priced_lines,
    refuse_when_plainly_sold_out,
    request_fingerprint,
)
from purchase_schemas import PurchaseRequest

from crowdify.adapters.mercadopago_client import CheckoutItem, CheckoutRequest, payments
from crowdify.auth.callers import Caller
from crowdify.config.settings import get_settings
from crowdify.core.errors import Conflict, DependencyUnavailable, DomainError, InvalidRequest
from crowdify.core.statuses import ORDER_PENDING
from crowdify.domain.outbox import publish_after_commit
from crowdify.domain.seat_holds import check_exact, lock_event_for_holds, recount_claims, release_hold
from crowdify.domain.waiting_room import use_admission
from crowdify.persistence import pg_connection
from crowdify.persistence.database import CoreStatements, statements_transaction, transaction
from crowdify.persistence.statements import SqlStatements

if TYPE_CHECKING:
    # The ORM serves only the rare paths (the exact recount, a free order): the usual purchase runs on pg8000, and
    # its cold start does not pay for the ORM and the models.
    from sqlalchemy.orm import Session

CHECKOUT_UNAVAILABLE = "MercadoPago is unavailable, so no seats were held; try again"
FREE_ORDER_PROVIDER = "free"


@dataclass(frozen=True)
class PlacedOrder:
    order_id: uuid.UUID
    status: str
    payment_link: str | None
    total: Decimal
    discount: Decimal
    # Set when the order still needs a MercadoPago checkout.
    checkout: CheckoutRequest | None = None
    # Set when the order was completed (it was free): its outbox message, to publish once committed.
    paid_order_message: uuid.UUID | None = None


class _IdempotencyKeyTakenMeanwhile(Exception):
    """A concurrent request with the same key inserted its order first; this transaction must roll back."""


class _NeedsTheOrm(Exception):
    """The pg8000 path cannot finish this order (the claim counters said no, or it is free); its transaction must
    roll back, and the order is placed again through SQLAlchemy."""


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
        with pg_connection.transaction() as connection:
            placed = replay_existing(connection, request, buyer_id, idempotency_key, fingerprint, notification_url)
    if placed.paid_order_message is not None:
        publish_after_commit([placed.paid_order_message])
    if placed.checkout is None:
        return placed
    return open_checkout(placed)


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


def place_order(
    connection: SqlStatements,
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
    catalog = purchase_statements.read_catalog(
        connection, request.event_id, buyer_id, idempotency_key, request.voucher_code
    )
    if catalog.existing_order is not None:
        return _replay(connection, catalog.existing_order, buyer_id, idempotency_key, fingerprint, notification_url)
    if not catalog.buyer_exists:
        raise InvalidRequest("user_id names no user")
    check_admission(catalog)
    plan = plan_order(catalog, request, buyer_id)
    refuse_when_plainly_sold_out(catalog, plan)
    settings = get_settings()
    parameters = purchase_statements.hold_parameters(
        catalog,
        plan,
        uuid.uuid4(),
        buyer_id,
        idempotency_key,
        fingerprint,
        settings.hold_minutes,
        settings.max_pending_orders_per_buyer,
    )
    held = purchase_statements.hold(connection, parameters)
    check_buyer_limits(held, settings.max_pending_orders_per_buyer, catalog.max_tickets_per_buyer, plan.seats)
    if not held.claimed:
        if orm is None:
            raise _NeedsTheOrm
        _check_exactly(orm, catalog.event_id, plan)
        held = purchase_statements.hold(connection, parameters, enforce=False)
        if not held.claimed:
            raise Conflict("The event changed while you were buying; try again")
    if held.order_id is None:
        raise _IdempotencyKeyTakenMeanwhile
    if catalog.has_waiting_room:
        use_admission(connection, catalog.event_id, buyer_id, held.order_id)
    if held.total == 0:
        if orm is None:
            raise _NeedsTheOrm
        return _complete_free_order(orm, held.order_id)
    lines = priced_lines(catalog, plan, purchase_statements.unit_prices(held))
    checkout = _checkout(
        held.order_id, lines, catalog.currency, catalog.buyer_email, held.hold_expires_at, notification_url
    )
    return PlacedOrder(held.order_id, held.status, None, held.total, held.discount_total, checkout=checkout)


def _check_exactly(orm: Callable[[], Session], event_id: uuid.UUID, plan: OrderPlan) -> None:
    """Under the event lock: the counters are recomputed, then the request is checked against exact figures."""
    # Seats a promo code had reserved are this order's already: only the rest must fit.
    seats, ticket_quantities = plan.quantities_from_general_sale()
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
            ticket_quantities,
            plan.service_quantities(),
            seats=seats,
        )


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
        return PlacedOrder(
            order.id, order.status, order.payment_link, order.total, order.discount_total, paid_order_message=message.id
        )


def replay_existing(
    connection: SqlStatements,
    request: PurchaseRequest,
    buyer_id: uuid.UUID,
    idempotency_key: str | None,
    fingerprint: str,
    notification_url: str,
) -> PlacedOrder:
    """The order a concurrent request with this idempotency key placed first, once that request has committed."""
    catalog = purchase_statements.read_catalog(connection, request.event_id, buyer_id, idempotency_key)
    if catalog.existing_order is None:
        raise Conflict("A purchase with this idempotency key is being made; try again")
    return _replay(connection, catalog.existing_order, buyer_id, idempotency_key, fingerprint, notification_url)


def _replay(
    connection: SqlStatements,
    existing: ExistingOrder,
    buyer_id: uuid.UUID,
    idempotency_key: str | None,
    fingerprint: str,
    notification_url: str,
) -> PlacedOrder:
    if existing.fingerprint != fingerprint:
        raise Conflict("This idempotency key was already used for a different purchase")
    if existing.payment_link is not None:
        return PlacedOrder(existing.id, existing.status, existing.payment_link, existing.total, existing.discount)
    if existing.status != ORDER_PENDING:
        raise Conflict(f"The purchase made with this idempotency key is {existing.status}; use a new key")
    # Its first request died before MercadoPago: the checkout is opened now, from the order as stored.
    row = purchase_statements.order_for_checkout(connection, buyer_id, idempotency_key)
    lines = [
        PricedLine(f"{row.event_name} — {item['title']}", item["quantity"], Decimal(item["unit_price"]))
        for item in row.items
    ]
    checkout = _checkout(row.id, lines, row.currency, row.buyer_email, row.hold_expires_at, notification_url)
    return PlacedOrder(existing.id, existing.status, None, existing.total, existing.discount, checkout=checkout)


def _checkout(
    order_id: uuid.UUID,
    lines: list[PricedLine],
    currency: str,
    payer_email: str | None,
    expires_at: datetime,
    notification_url: str,
) -> CheckoutRequest:
    return CheckoutRequest(
        order_id=str(order_id),
        # MercadoPago refuses an item priced at zero: a free ticket in a paid order (a child's, say) stays in the
        # order and out of the checkout, whose items still add up to the order's total.
        items=[
            CheckoutItem(title=line.title, quantity=line.quantity, unit_price=line.unit_price, currency_id=currency)
            for line in lines
            if line.unit_price > 0
        ],
        payer_email=payer_email,
        expires_at=expires_at,
        notification_url=notification_url,
        back_urls={outcome: _back_url(outcome, order_id) for outcome in ("success", "failure", "pending")},
    )


def _back_url(outcome: str, order_id: uuid.UUID) -> str:
    """Where the web client shows the purchase's outcome (MercadoPago sends the buyer back there)."""
    return f"{get_settings().frontend_base_url.rstrip('/')}/purchase/{outcome}?order_id={order_id}"


def open_checkout(placed: PlacedOrder) -> PlacedOrder:
    """Creates the MercadoPago preference of an order placed with its checkout request, outside any transaction; on
    failure nothing stays held."""
    if placed.checkout is None:
        raise ValueError(f"Order {placed.order_id} has no checkout to open")
    order_id = placed.order_id
    try:
        checkout = payments().create_checkout(placed.checkout)
    except Exception as error:
        _release_failed_checkout(order_id)
        if isinstance(error, DomainError):
            raise DependencyUnavailable(CHECKOUT_UNAVAILABLE) from error
        raise
    with pg_connection.transaction() as connection:
        saved = purchase_statements.save_checkout(connection, order_id, checkout.preference_id, checkout.init_point)
    if saved.payment_link is None:
        raise Conflict(f"This purchase is {saved.status}; start a new one")
    return replace(placed, status=saved.status, payment_link=saved.payment_link, checkout=None)


def _release_failed_checkout(order_id: uuid.UUID) -> None:
    # The key is forgotten too: the buyer's retry with it starts afresh instead of finding a dead order.
    with transaction() as connection:
        release_hold(connection, order_id, "cancelled", forget_idempotency_key=True)
