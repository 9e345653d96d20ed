"""The plan of a purchase: what a request asks for, checked against the event's catalogue before anything is held.

Pure: it reads no database, no settings and no clock of its own (the catalogue brings the database's `now`), so
every rule here is tested without Postgres (tests/unit/test_purchase_plan.py). What needs a lock, the seats left
and the buyer's orders on the event, is counted by the hold statement (purchase_statements); this module only
turns that statement's verdict into the buyer's error.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from purchase_schemas import PurchaseRequest

from crowdify.core.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PromoCodeExhausted,
    PurchaseLimitReached,
    SoldOut,
)
from crowdify.domain.waiting_room import ADMISSION_HAS_EXPIRED, ADMISSION_WAS_USED, JOIN_THE_QUEUE

if TYPE_CHECKING:
    from crowdify.auth.callers import Caller


@dataclass(frozen=True)
class CatalogTicketType:
    id: uuid.UUID
    name: str
    is_child: bool
    is_default: bool
    max_per_order: int | None
    sales_start_at: datetime | None
    sales_end_at: datetime | None
    is_hidden: bool = False
    capacity: int | None = None
    seats_claimed: int = 0


@dataclass(frozen=True)
class ClaimCounters:
    """The event's claim counters as the catalogue read them (crowdify.domain.seat_holds). `exact`: nothing has
    made them overstate (no hold past its deadline waits for the sweep, no ticket was cancelled since the last
    recount), so a purchase that does not fit under them does not fit at all."""

    capacity_total: int
    seats_claimed: int
    exact: bool


@dataclass(frozen=True)
class Admission:
    """The buyer's admission from the event's waiting room (crowdify.domain.waiting_room)."""

    used: bool
    valid: bool


@dataclass(frozen=True)
class CatalogVoucher:
    """The promo code the request names, as the catalogue read found it (the hold checks it again, atomically)."""

    id: uuid.UUID
    discount_type: str
    value: Decimal
    ticket_type_ids: frozenset[uuid.UUID]
    max_redemptions: int
    redeemed: int
    valid_from: datetime | None
    valid_until: datetime | None
    is_active: bool
    reserve_seats: bool
    reserved_ticket_type_id: uuid.UUID | None
    user_id: uuid.UUID | None

    def is_live(self, now: datetime) -> bool:
        return (
            self.is_active
            and (self.valid_from is None or self.valid_from <= now)
            and (self.valid_until is None or now < self.valid_until)
        )

    def applies_to(self, ticket_type: CatalogTicketType) -> bool:
        """A code names its types, or applies to every type but the hidden ones."""
        if self.ticket_type_ids:
            return ticket_type.id in self.ticket_type_ids
        return not ticket_type.is_hidden


@dataclass(frozen=True)
class VoucherUse:
    """How an order uses its code: which lines it discounts, how many seats it redeems, and how many of those come
    out of the code's reservation (already in the claim counters) instead of general sale."""

    voucher: CatalogVoucher
    discounted_types: frozenset[uuid.UUID]
    seats: int

    @property
    def reserved_seats(self) -> int:
        return self.seats if self.voucher.reserve_seats else 0

    def reserved_for_type(self, type_id: uuid.UUID, quantity: int) -> int:
        if self.voucher.reserve_seats and self.voucher.reserved_ticket_type_id == type_id:
            return quantity
        return 0


@dataclass(frozen=True)
class ExistingOrder:
    id: uuid.UUID
    status: str
    fingerprint: str | None
    payment_link: str | None
    total: Decimal
    discount: Decimal


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
    voucher: CatalogVoucher | None = None
    counters: ClaimCounters | None = None
    has_waiting_room: bool = False
    admission: Admission | None = None


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
    voucher_use: VoucherUse | None = None

    @property
    def seats(self) -> int:
        return sum(line.quantity for line in self.ticket_lines.values())

    def ticket_quantities(self) -> dict[uuid.UUID, int]:
        return {type_id: line.quantity for type_id, line in self.ticket_lines.items()}

    def quantities_from_general_sale(self) -> tuple[int, dict[uuid.UUID, int]]:
        """The event's seats and each type's that this order takes from general sale: all but those its code had
        reserved."""
        use = self.voucher_use
        if use is None:
            return self.seats, self.ticket_quantities()
        return self.seats - use.reserved_seats, {
            type_id: line.quantity - use.reserved_for_type(type_id, line.quantity)
            for type_id, line in self.ticket_lines.items()
        }

    def service_quantities(self) -> dict[uuid.UUID, int]:
        return {service_id: line.quantity for service_id, line in self.service_lines.items()}


@dataclass(frozen=True)
class PricedLine:
    """One line of an order as the buyer pays for it."""

    title: str
    quantity: int
    unit_price: Decimal


INVALID_PROMO_CODE = "This promo code is not valid for this event"


class BuyerLimitsVerdict(Protocol):
    """What the hold statement counted of the buyer's orders on the event (a row of it)."""

    pending_fit: bool
    tickets_fit: bool
    buyer_tickets: int
    voucher_fit: bool


def buyer_for(caller: Caller, user_id: uuid.UUID) -> uuid.UUID:
    """The old client sends user_id; only an admin may buy for someone else."""
    if user_id != caller.id and not caller.is_admin:
        raise Forbidden("user_id must be your own user id")
    return user_id


def request_fingerprint(request: PurchaseRequest) -> str:
    """What makes two requests with one idempotency key "the same": every field that is read, canonically."""
    # A request without a code reads as it did before codes existed, so its retries still match.
    excluded = {"idempotency_key"} | ({"voucher_code"} if request.voucher_code is None else set())
    canonical = json.dumps(request.model_dump(mode="json", exclude=excluded), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_event_sells(status: str) -> None:
    if status == "draft":
        raise NotFound("Event not found")
    if status == "cancelled":
        raise Conflict("This event is cancelled and sells nothing more")
    if status != "published":
        raise Conflict(f"This event is {status} and sells nothing")


def plan_order(catalog: Catalog, request: PurchaseRequest, buyer_id: uuid.UUID | None = None) -> OrderPlan:
    """Every rule that needs no lock: event state, ticket types, children, sales windows, per-order maximum, and the
    promo code's own rules (its redemption limits are the hold's)."""
    check_event_sells(catalog.status)
    chosen: list[CatalogTicketType] = [_ticket_type_for(catalog, attendee) for attendee in request.attendees]
    counts = Counter(ticket_type.id for ticket_type in chosen)
    for type_id, quantity in counts.items():
        _check_sales(catalog.ticket_types[type_id], quantity, catalog.now)
    voucher_use = _voucher_use(catalog, request.voucher_code, buyer_id, counts)
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
    return OrderPlan(ticket_lines, service_lines, attendees, voucher_use)


def _voucher_use(
    catalog: Catalog, code: str | None, buyer_id: uuid.UUID | None, counts: Counter[uuid.UUID]
) -> VoucherUse | None:
    """The code's use by this order; a hidden type is sold only with a code that names it."""
    voucher = catalog.voucher
    for type_id in counts:
        ticket_type = catalog.ticket_types[type_id]
        if ticket_type.is_hidden and (voucher is None or type_id not in voucher.ticket_type_ids):
            raise InvalidRequest(f"Ticket type {type_id} is not sold for this event")
    if code is None:
        return None
    # Unknown, expired, inactive and someone else's codes look alike.
    if voucher is None or not voucher.is_live(catalog.now) or voucher.user_id not in (None, buyer_id):
        raise InvalidRequest(INVALID_PROMO_CODE)
    discounted = frozenset(type_id for type_id in counts if voucher.applies_to(catalog.ticket_types[type_id]))
    seats = sum(counts[type_id] for type_id in discounted)
    if seats == 0:
        raise InvalidRequest("This promo code does not apply to the tickets chosen")
    left = voucher.max_redemptions - voucher.redeemed
    if seats > left:
        raise PromoCodeExhausted(f"This promo code has {max(left, 0)} uses left and the order needs {seats}")
    return VoucherUse(voucher, discounted, seats)


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


def check_admission(catalog: Catalog) -> None:
    """An event behind a waiting room sells only to a buyer it admitted, once per admission and in its time."""
    if not catalog.has_waiting_room:
        return
    admission = catalog.admission
    if admission is None:
        raise Forbidden(JOIN_THE_QUEUE.format(event_id=catalog.event_id))
    if admission.used:
        raise Forbidden(ADMISSION_WAS_USED)
    if not admission.valid:
        raise Forbidden(ADMISSION_HAS_EXPIRED)


def refuse_when_plainly_sold_out(catalog: Catalog, plan: OrderPlan) -> None:
    """A sold-out answer without the hold: when the counters are exact and the order does not fit under them, no
    lock and no recount could find it room. Otherwise the hold decides (and, when its counters say no, the exact
    recount under the event lock)."""
    counters = catalog.counters
    if counters is None or not counters.exact:
        return
    seats, ticket_quantities = plan.quantities_from_general_sale()
    left = counters.capacity_total - counters.seats_claimed
    if seats > left:
        raise SoldOut(f"This event is sold out: {max(left, 0)} seats left, {seats} requested")
    for type_id, quantity in ticket_quantities.items():
        ticket_type = catalog.ticket_types[type_id]
        if ticket_type.capacity is None:
            continue
        remaining = ticket_type.capacity - ticket_type.seats_claimed
        if quantity > remaining:
            raise SoldOut(f"{ticket_type.name!r} is sold out: {max(remaining, 0)} left, {quantity} requested")


def check_buyer_limits(
    verdict: BuyerLimitsVerdict, max_pending_orders: int, max_tickets_per_buyer: int | None, seats: int
) -> None:
    """Refuses (409) an order the hold statement found over a per-buyer limit; nothing was held then."""
    if not verdict.pending_fit:
        raise PurchaseLimitReached(
            f"Ya tienes {max_pending_orders} compras pendientes de pago para este evento: págalas o cancélalas antes"
            " de iniciar otra"
        )
    if not verdict.tickets_fit:
        raise PurchaseLimitReached(
            f"Este evento permite como máximo {max_tickets_per_buyer} entradas por comprador: ya tienes"
            f" {verdict.buyer_tickets} y pides {seats}"
        )
    if not verdict.voucher_fit:
        raise PromoCodeExhausted("This promo code has no uses left for this order (or for you)")


def priced_lines(catalog: Catalog, plan: OrderPlan, unit_prices: Mapping[str, Decimal]) -> list[PricedLine]:
    """The plan's lines named for the buyer and priced as the hold stored them (`unit_prices` by item id): tickets
    first, then services, in the order the request named them."""
    named = [(catalog.ticket_types[type_id].name, line) for type_id, line in plan.ticket_lines.items()]
    named += [(catalog.services[service_id], line) for service_id, line in plan.service_lines.items()]
    return [
        PricedLine(f"{catalog.event_name} — {name}", line.quantity, unit_prices[str(line.item_id)])
        for name, line in named
    ]
