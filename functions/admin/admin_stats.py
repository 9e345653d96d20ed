"""Sales and door figures for the dashboards, exact and in a fixed number of statements.

Definitions (one place, every dashboard uses them):
- an order *pays* revenue while it is `completed` or `partially_refunded`; its revenue is `total - refunded_amount`,
  counted once per order (never once per item or ticket); `refunded` and `charged_back` orders bring nothing;
- a ticket is *sold* while it is not cancelled, *checked in* once it has a `used_at`;
- a seat is *held* by an item of a `pending` order whose hold has not passed its deadline (crowdify.domain.capacity);
- amounts of different currencies are never added: money figures are per currency;
- the date filters of the global figures apply to when an order was paid (`paid_at`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from crowdify.core.errors import NotFound
from crowdify.domain.vouchers import TagFigures, tag_figures

# -- the global dashboard -----------------------------------------------------------------------

_EVENT_COUNTS = text(
    """
    SELECT count(*) AS total_events,
           count(*) FILTER (WHERE status = 'published' AND coalesce(ends_at, starts_at) >= now()) AS active_events
      FROM events
    """
)

_MONEY_BY_CURRENCY = text(
    """
    SELECT o.currency,
           count(*) FILTER (WHERE o.status IN ('completed', 'partially_refunded')) AS orders_paid,
           coalesce(sum(o.total - o.refunded_amount)
                        FILTER (WHERE o.status IN ('completed', 'partially_refunded')), 0) AS revenue,
           coalesce(sum(o.refunded_amount), 0) AS refunded
      FROM orders o
     WHERE o.paid_at IS NOT NULL
       AND (CAST(:date_from AS timestamptz) IS NULL OR o.paid_at >= CAST(:date_from AS timestamptz))
       AND (CAST(:date_to AS timestamptz) IS NULL OR o.paid_at <= CAST(:date_to AS timestamptz))
     GROUP BY o.currency
    """
)

# Tickets exist only for paid orders, and an order's currency is its event's: without a period, the tickets are
# counted against their event (200 rows to join) rather than their order (one per sale).
_TICKETS_BY_CURRENCY = text(
    """
    SELECT e.currency,
           count(*) FILTER (WHERE t.status <> 'cancelled') AS sold,
           count(*) FILTER (WHERE t.used_at IS NOT NULL) AS checked_in
      FROM tickets t JOIN events e ON e.id = t.event_id
     GROUP BY e.currency
    """
)
_TICKETS_BY_CURRENCY_IN_PERIOD = text(
    """
    SELECT o.currency,
           count(*) FILTER (WHERE t.status <> 'cancelled') AS sold,
           count(*) FILTER (WHERE t.used_at IS NOT NULL) AS checked_in
      FROM tickets t JOIN orders o ON o.id = t.order_id
     WHERE o.paid_at IS NOT NULL
       AND (CAST(:date_from AS timestamptz) IS NULL OR o.paid_at >= CAST(:date_from AS timestamptz))
       AND (CAST(:date_to AS timestamptz) IS NULL OR o.paid_at <= CAST(:date_to AS timestamptz))
     GROUP BY o.currency
    """
)

_LIVE_HOLDS = text(
    """
    SELECT coalesce(sum(oi.quantity), 0)
      FROM orders o JOIN order_items oi ON oi.order_id = o.id
     WHERE o.status = 'pending' AND o.hold_expires_at > now() AND oi.ticket_type_id IS NOT NULL
    """
)


@dataclass(frozen=True)
class CurrencyFigures:
    orders_paid: int = 0
    revenue: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    tickets_sold: int = 0
    tickets_checked_in: int = 0


@dataclass(frozen=True)
class DashboardFigures:
    total_events: int
    active_events: int
    tickets_held: int
    by_currency: dict[str, CurrencyFigures]

    @property
    def tickets_sold(self) -> int:
        return sum(figures.tickets_sold for figures in self.by_currency.values())

    @property
    def tickets_checked_in(self) -> int:
        return sum(figures.tickets_checked_in for figures in self.by_currency.values())

    @property
    def orders_paid(self) -> int:
        return sum(figures.orders_paid for figures in self.by_currency.values())


def dashboard_figures(session: Session, date_from: datetime | None, date_to: datetime | None) -> DashboardFigures:
    """Four statements, whatever the number of events or orders."""
    period = {"date_from": date_from, "date_to": date_to}
    counts = session.execute(_EVENT_COUNTS).one()
    money = {row.currency: row for row in session.execute(_MONEY_BY_CURRENCY, period)}
    if date_from is None and date_to is None:
        tickets = {row.currency: row for row in session.execute(_TICKETS_BY_CURRENCY)}
    else:
        tickets = {row.currency: row for row in session.execute(_TICKETS_BY_CURRENCY_IN_PERIOD, period)}
    by_currency = {}
    for currency in sorted(money.keys() | tickets.keys()):
        paid, sold = money.get(currency), tickets.get(currency)
        by_currency[currency] = CurrencyFigures(
            orders_paid=int(paid.orders_paid) if paid else 0,
            revenue=Decimal(paid.revenue) if paid else Decimal(0),
            refunded=Decimal(paid.refunded) if paid else Decimal(0),
            tickets_sold=int(sold.sold) if sold else 0,
            tickets_checked_in=int(sold.checked_in) if sold else 0,
        )
    held = int(session.execute(_LIVE_HOLDS).scalar_one())
    return DashboardFigures(int(counts.total_events), int(counts.active_events), held, by_currency)


# -- the events overview ------------------------------------------------------------------------

EVENT_STATUS_FILTERS = {
    "all": "true",
    "upcoming": "e.starts_at > now()",
    "ongoing": "e.starts_at <= now() AND coalesce(e.ends_at, e.starts_at) >= now()",
    "past": "coalesce(e.ends_at, e.starts_at) < now()",
}
# Revenue is ordered as a number whatever its currency: an ordering, never a sum.
EVENT_SORTS = {
    "starts_at_desc": "e.starts_at DESC, e.id",
    "starts_at_asc": "e.starts_at ASC, e.id",
    "revenue_desc": "revenue DESC, e.starts_at DESC, e.id",
}

_EVENT_FIGURES = """
    WITH ticket_figures AS (
        SELECT t.event_id,
               count(*) FILTER (WHERE t.status <> 'cancelled') AS sold,
               count(*) FILTER (WHERE t.used_at IS NOT NULL) AS checked_in,
               count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled
          FROM tickets t {ticket_filter}
         GROUP BY t.event_id
    ), hold_figures AS (
        SELECT o.event_id, sum(oi.quantity) AS held
          FROM orders o JOIN order_items oi ON oi.order_id = o.id
         WHERE o.status = 'pending' AND o.hold_expires_at > now() AND oi.ticket_type_id IS NOT NULL {order_filter}
         GROUP BY o.event_id
    ), money_figures AS (
        SELECT o.event_id,
               count(*) FILTER (WHERE o.status IN ('completed', 'partially_refunded')) AS orders_paid,
               sum(o.total - o.refunded_amount)
                   FILTER (WHERE o.status IN ('completed', 'partially_refunded')) AS revenue,
               sum(o.refunded_amount) AS refunded
          FROM orders o
         WHERE o.paid_at IS NOT NULL {order_filter}
         GROUP BY o.event_id
    )
    SELECT e.id, e.name, e.description, e.location_text, e.point_location, e.starts_at, e.ends_at, e.timezone,
           e.currency, e.capacity_total, e.category, e.image_url, e.status, e.allow_children,
           e.created_at, e.updated_at, org.id AS organizer_id, org.org_name,
           coalesce(tf.sold, 0) AS sold, coalesce(tf.checked_in, 0) AS checked_in,
           coalesce(tf.cancelled, 0) AS cancelled, coalesce(hf.held, 0) AS held,
           coalesce(mf.orders_paid, 0) AS orders_paid, coalesce(mf.revenue, 0) AS revenue,
           coalesce(mf.refunded, 0) AS refunded
      FROM events e
      JOIN organizers org ON org.id = e.organizer_id
      LEFT JOIN ticket_figures tf ON tf.event_id = e.id
      LEFT JOIN hold_figures hf ON hf.event_id = e.id
      LEFT JOIN money_figures mf ON mf.event_id = e.id
     WHERE {event_filter}
     ORDER BY {order_by}
"""

_TICKET_TYPES = text(
    """
    SELECT tt.id, tt.event_id, tt.name, tt.price, tt.is_child, tt.is_default, tt.capacity
      FROM ticket_types tt
     WHERE tt.event_id = ANY(:event_ids)
     ORDER BY tt.created_at, tt.id
    """
)

_TICKET_TYPE_FIGURES = text(
    """
    SELECT t.ticket_type_id,
           count(*) FILTER (WHERE t.status <> 'cancelled') AS sold,
           count(*) FILTER (WHERE t.used_at IS NOT NULL) AS checked_in,
           count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled,
           coalesce(sum(oi.unit_price) FILTER (WHERE t.status <> 'cancelled'), 0) AS gross_sales
      FROM tickets t JOIN order_items oi ON oi.id = t.order_item_id
     WHERE t.event_id = :event_id
     GROUP BY t.ticket_type_id
    """
)

_TICKET_TYPE_HOLDS = text(
    """
    SELECT oi.ticket_type_id, sum(oi.quantity) AS held
      FROM orders o JOIN order_items oi ON oi.order_id = o.id
     WHERE o.event_id = :event_id AND o.status = 'pending' AND o.hold_expires_at > now()
       AND oi.ticket_type_id IS NOT NULL
     GROUP BY oi.ticket_type_id
    """
)

_SERVICES = text(
    """
    SELECT s.id, s.event_id, s.name, s.description, s.price, s.service_type, s.stock_total, s.min_age, s.max_age,
           coalesce(u.sold, 0) AS sold, coalesce(u.held, 0) AS held
      FROM event_services s
      LEFT JOIN (
            SELECT oi.event_service_id,
                   sum(oi.quantity) FILTER (WHERE o.status IN ('completed', 'partially_refunded')) AS sold,
                   sum(oi.quantity) FILTER (WHERE o.status = 'pending' AND o.hold_expires_at > now()) AS held
              FROM order_items oi JOIN orders o ON o.id = oi.order_id
             WHERE oi.event_service_id IS NOT NULL AND o.event_id = ANY(:event_ids)
             GROUP BY oi.event_service_id
           ) u ON u.event_service_id = s.id
     WHERE s.event_id = ANY(:event_ids)
     ORDER BY s.created_at, s.id
    """
)


@dataclass(frozen=True)
class TicketTypeFigures:
    id: uuid.UUID
    name: str
    price: Decimal
    is_child: bool
    is_default: bool
    capacity: int | None
    sold: int = 0
    held: int = 0
    checked_in: int = 0
    cancelled: int = 0
    gross_sales: Decimal = Decimal(0)

    @property
    def remaining(self) -> int | None:
        return None if self.capacity is None else max(self.capacity - self.sold - self.held, 0)


@dataclass(frozen=True)
class ServiceFigures:
    id: uuid.UUID
    name: str
    description: str | None
    price: Decimal
    service_type: str
    stock_total: int
    min_age: int | None
    max_age: int | None
    sold: int
    held: int

    @property
    def remaining(self) -> int:
        return max(self.stock_total - self.sold - self.held, 0)


@dataclass(frozen=True)
class EventFigures:
    """One event with its figures; `row` carries the event's own columns."""

    row: Any
    ticket_types: list[TicketTypeFigures] = field(default_factory=list)
    services: list[ServiceFigures] = field(default_factory=list)

    @property
    def sold(self) -> int:
        return int(self.row.sold)

    @property
    def held(self) -> int:
        return int(self.row.held)

    @property
    def remaining(self) -> int:
        return max(int(self.row.capacity_total) - self.sold - self.held, 0)

    @property
    def sales_percentage(self) -> Decimal:
        capacity = int(self.row.capacity_total)
        if capacity == 0:
            return Decimal(0)
        return (Decimal(self.sold) * 100 / capacity).quantize(Decimal("0.01"))


def events_overview(session: Session, event_status: str, sort: str) -> list[EventFigures]:
    """Every event (of the status window) with its figures: three statements whatever the number of events."""
    statement = _EVENT_FIGURES.format(
        ticket_filter="",
        order_filter="",
        event_filter=EVENT_STATUS_FILTERS[event_status],
        order_by=EVENT_SORTS[sort],
    )
    rows = list(session.execute(text(statement)))
    return _with_types_and_services(session, rows)


def _with_types_and_services(session: Session, rows: list[Any]) -> list[EventFigures]:
    event_ids = [row.id for row in rows]
    if not event_ids:
        return []
    types: dict[uuid.UUID, list[TicketTypeFigures]] = defaultdict(list)
    for row in session.execute(_TICKET_TYPES, {"event_ids": event_ids}):
        types[row.event_id].append(
            TicketTypeFigures(row.id, row.name, row.price, row.is_child, row.is_default, row.capacity)
        )
    services: dict[uuid.UUID, list[ServiceFigures]] = defaultdict(list)
    for row in session.execute(_SERVICES, {"event_ids": event_ids}):
        services[row.event_id].append(
            ServiceFigures(
                row.id,
                row.name,
                row.description,
                row.price,
                row.service_type,
                row.stock_total,
                row.min_age,
                row.max_age,
                int(row.sold),
                int(row.held),
            )
        )
    return [EventFigures(row, types[row.id], services[row.id]) for row in rows]


# -- one event in detail ------------------------------------------------------------------------

_SALES_BY_DAY = text(
    """
    WITH paid AS (
        SELECT o.id, o.status, o.total - o.refunded_amount AS net,
               CAST(o.paid_at AT TIME ZONE :zone AS date) AS day
          FROM orders o
         WHERE o.event_id = :event_id AND o.paid_at IS NOT NULL
    ), by_day AS (
        SELECT day, count(*) FILTER (WHERE status IN ('completed', 'partially_refunded')) AS orders,
               coalesce(sum(net) FILTER (WHERE status IN ('completed', 'partially_refunded')), 0) AS revenue
          FROM paid GROUP BY day
    ), tickets_by_day AS (
        SELECT p.day, count(*) AS tickets
          FROM paid p JOIN tickets t ON t.order_id = p.id
         WHERE t.status <> 'cancelled'
         GROUP BY p.day
    )
    SELECT d.day, d.orders, d.revenue, coalesce(t.tickets, 0) AS tickets
      FROM by_day d LEFT JOIN tickets_by_day t ON t.day = d.day
     WHERE d.orders > 0 OR t.tickets > 0
     ORDER BY d.day
    """
)

# Check-ins come from the tickets (a ticket enters once); offline double entries from the scan log: a scan that
# was accepted offline at the door but found the ticket already used when the device synced.
_CHECKINS_BY_QUARTER_HOUR = text(
    """
    WITH entries AS (
        SELECT date_bin('15 minutes', t.used_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS slot, count(*) AS checked_in
          FROM tickets t
         WHERE t.event_id = :event_id AND t.used_at IS NOT NULL
         GROUP BY 1
    ), doubles AS (
        SELECT date_bin('15 minutes', coalesce(c.device_time, c.recorded_at), TIMESTAMPTZ '2000-01-01 00:00:00+00')
                   AS slot,
               count(*) AS offline_double_entries
          FROM checkins c
         WHERE c.event_id = :event_id AND c.result = 'already_used' AND c.offline
         GROUP BY 1
    )
    SELECT coalesce(e.slot, d.slot) AS slot, coalesce(e.checked_in, 0) AS checked_in,
           coalesce(d.offline_double_entries, 0) AS offline_double_entries
      FROM entries e FULL JOIN doubles d ON d.slot = e.slot
     ORDER BY 1
    """
)


@dataclass(frozen=True)
class DaySales:
    day: date
    orders: int
    tickets: int
    revenue: Decimal


@dataclass(frozen=True)
class QuarterHour:
    starts_at: datetime
    checked_in: int
    offline_double_entries: int


@dataclass(frozen=True)
class EventDetailFigures:
    event: EventFigures
    sales_by_day: list[DaySales]
    checkins: list[QuarterHour]
    promo_codes_by_tag: list[TagFigures]

    @property
    def offline_double_entries(self) -> int:
        return sum(slot.offline_double_entries for slot in self.checkins)


def event_detail(session: Session, event_id: uuid.UUID) -> EventDetailFigures:
    """One event: totals, per ticket type, sales per day (in the event's zone), check-ins per 15 minutes."""
    statement = _EVENT_FIGURES.format(
        ticket_filter="WHERE t.event_id = :event_id",
        order_filter="AND o.event_id = :event_id",
        event_filter="e.id = :event_id",
        order_by="e.id",
    )
    row = session.execute(text(statement), {"event_id": event_id}).first()
    if row is None:
        raise NotFound("Event not found")
    [event] = _with_types_and_services(session, [row])
    figures = {r.ticket_type_id: r for r in session.execute(_TICKET_TYPE_FIGURES, {"event_id": event_id})}
    holds = {r.ticket_type_id: int(r.held) for r in session.execute(_TICKET_TYPE_HOLDS, {"event_id": event_id})}
    ticket_types = []
    for ticket_type in event.ticket_types:
        found = figures.get(ticket_type.id)
        ticket_types.append(
            TicketTypeFigures(
                ticket_type.id,
                ticket_type.name,
                ticket_type.price,
                ticket_type.is_child,
                ticket_type.is_default,
                ticket_type.capacity,
                sold=int(found.sold) if found else 0,
                held=holds.get(ticket_type.id, 0),
                checked_in=int(found.checked_in) if found else 0,
                cancelled=int(found.cancelled) if found else 0,
                gross_sales=Decimal(found.gross_sales) if found else Decimal(0),
            )
        )
    sales = [
        DaySales(r.day, int(r.orders), int(r.tickets), Decimal(r.revenue))
        for r in session.execute(_SALES_BY_DAY, {"event_id": event_id, "zone": row.timezone})
    ]
    checkins = [
        QuarterHour(r.slot, int(r.checked_in), int(r.offline_double_entries))
        for r in session.execute(_CHECKINS_BY_QUARTER_HOUR, {"event_id": event_id})
    ]
    return EventDetailFigures(
        EventFigures(row, ticket_types, event.services), sales, checkins, tag_figures(session, event_id)
    )
