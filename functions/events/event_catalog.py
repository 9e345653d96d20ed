"""Events, their ticket types and add-on services: the rules for creating and changing them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from event_schemas import (
    EventCreate,
    EventUpdate,
    ServiceInput,
    TicketTypeCreate,
    TicketTypeUpdate,
    WaitingRoomSettings,
)
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crowdify.config.settings import get_settings
from crowdify.core.errors import Conflict, InvalidRequest, NotFound
from crowdify.core.timezones import in_event_zone, zone
from crowdify.domain.audit import record_change
from crowdify.domain.capacity import EventUsage, usage_for_events
from crowdify.persistence.models import Event, EventService, Order, Organizer, TicketType
from crowdify.persistence.search_patterns import LIKE_ESCAPE, contains_pattern

DEFAULT_ADULT_TYPE_NAME = "General"
DEFAULT_CHILD_TYPE_NAME = "Niño"
PUBLIC_LISTED_STATUSES = ("published",)
PUBLIC_VISIBLE_STATUSES = ("published", "cancelled")


@dataclass(frozen=True)
class EventView:
    event: Event
    usage: EventUsage
    # Hidden ticket types are listed to organisers only; the public finds them through a promo code.
    shows_hidden_types: bool = True


@dataclass(frozen=True)
class EventFilters:
    category: str | None = None
    search: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    limit: int = 50
    offset: int = 0


def list_events(session: Session, filters: EventFilters, include_unpublished: bool) -> list[EventView]:
    query = select(Event)
    if not include_unpublished:
        query = query.where(Event.status.in_(PUBLIC_LISTED_STATUSES))
    if filters.category:
        query = query.where(func.lower(Event.category) == filters.category.strip().lower())
    if filters.search and filters.search.strip():
        pattern = contains_pattern(filters.search)
        query = query.where(
            or_(
                Event.name.ilike(pattern, escape=LIKE_ESCAPE),
                Event.location_text.ilike(pattern, escape=LIKE_ESCAPE),
                Event.description.ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    if filters.date_from:
        query = query.where(Event.starts_at >= filters.date_from)
    if filters.date_to:
        query = query.where(Event.starts_at <= filters.date_to)
    query = query.order_by(Event.starts_at, Event.id).limit(filters.limit).offset(filters.offset)
    events = list(session.scalars(query))
    usage = usage_for_events(session, [event.id for event in events])
    return [EventView(event, usage, shows_hidden_types=include_unpublished) for event in events]


def _load_event(session: Session, event_id: uuid.UUID, lock: bool = False) -> Event:
    query = select(Event).where(Event.id == event_id)
    if lock:
        # Purchases lock the event row while they hold seats: capacity changes wait for them, and they for us.
        query = query.with_for_update()
    event = session.scalars(query).first()
    if event is None:
        raise NotFound("Event not found")
    return event


def get_event(session: Session, event_id: uuid.UUID, include_unpublished: bool) -> EventView:
    event = _load_event(session, event_id)
    if not include_unpublished and event.status not in PUBLIC_VISIBLE_STATUSES:
        raise NotFound("Event not found")
    return EventView(event, usage_for_events(session, [event.id]), shows_hidden_types=include_unpublished)


def _check_time_window(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at < starts_at:
        raise InvalidRequest("ends_at must not be before starts_at")


def _new_service(event_id: uuid.UUID, service: ServiceInput) -> EventService:
    _check_age_range(service)
    return EventService(
        event_id=event_id,
        name=service.name,
        description=service.description,
        price=service.price,
        service_type=service.service_type,
        stock_total=service.stock_total,
        min_age=service.min_age,
        max_age=service.max_age,
    )


def _check_age_range(service: ServiceInput) -> None:
    if service.min_age is not None and service.max_age is not None and service.min_age > service.max_age:
        raise InvalidRequest(f"Service {service.name!r}: min_age must not exceed max_age")


def _default_type(event: Event, is_child: bool) -> TicketType | None:
    return next((tt for tt in event.ticket_types if tt.is_default and tt.is_child == is_child), None)


def _add_default_child_type(session: Session, event: Event, price: Decimal) -> None:
    session.add(
        TicketType(event_id=event.id, name=DEFAULT_CHILD_TYPE_NAME, price=price, is_child=True, is_default=True)
    )


def _snapshot(event: Event) -> dict[str, Any]:
    fields = (
        "name",
        "status",
        "starts_at",
        "ends_at",
        "capacity_total",
        "allow_children",
        "currency",
        "timezone",
        "max_tickets_per_buyer",
        "waiting_list_offer_hours",
        "waiting_room_opens_at",
        "waiting_room_admissions_per_minute",
        "waiting_room_admission_minutes",
    )
    return {field: getattr(event, field) for field in fields}


def _set_waiting_room(event: Event, settings: WaitingRoomSettings | None) -> None:
    """Turns the waiting room on with these settings, or off (None); people already in line keep their places."""
    if settings is None:
        event.waiting_room_opens_at = None
        return
    event.waiting_room_opens_at = in_event_zone(settings.opens_at, event.timezone)
    event.waiting_room_admissions_per_minute = settings.admissions_per_minute
    event.waiting_room_admission_minutes = settings.admission_minutes


def create_event(session: Session, data: EventCreate, actor_id: uuid.UUID) -> EventView:
    settings = get_settings()
    timezone_name = data.timezone or settings.default_timezone
    zone(timezone_name)
    starts_at = in_event_zone(data.starts_at, timezone_name)
    ends_at = in_event_zone(data.ends_at, timezone_name)
    _check_time_window(starts_at, ends_at)
    organizer_id = data.organizer_id or _default_organizer_id(session)
    if data.organizer_id and session.get(Organizer, data.organizer_id) is None:
        raise InvalidRequest("organizer_id names no organiser")

    event = Event(
        organizer_id=organizer_id,
        name=data.name,
        description=data.description,
        category=data.category,
        location_text=data.location_text,
        point_location=data.point_location,
        image_url=data.image_url,
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=timezone_name,
        currency=data.currency or settings.default_currency,
        capacity_total=data.capacity_total,
        allow_children=data.allow_children,
        status=data.status or "published",
        max_tickets_per_buyer=data.max_tickets_per_buyer,
        waiting_list_offer_hours=data.waiting_list_offer_hours,
    )
    _set_waiting_room(event, data.waiting_room)
    session.add(event)
    session.flush()
    if data.price is not None:
        session.add(TicketType(event_id=event.id, name=DEFAULT_ADULT_TYPE_NAME, price=data.price, is_default=True))
        if data.allow_children:
            _add_default_child_type(session, event, data.price)
    for service in data.services or []:
        session.add(_new_service(event.id, service))
    record_change(session, actor_id, "event.create", "event", event.id, None, _snapshot(event))
    session.flush()
    session.refresh(event)
    return EventView(event, usage_for_events(session, [event.id]))


def _default_organizer_id(session: Session) -> uuid.UUID:
    organizer_id = session.scalar(select(Organizer.id).where(Organizer.is_default))
    if organizer_id is None:
        raise Conflict("No default organiser exists; pass organizer_id")
    return organizer_id


def update_event(session: Session, event_id: uuid.UUID, data: EventUpdate, actor_id: uuid.UUID) -> EventView:
    if data.capacity_available is not None:
        raise InvalidRequest(
            "capacity_available is derived from capacity_total, sales and holds; set capacity_total instead"
        )
    event = _load_event(session, event_id, lock=True)
    before = _snapshot(event)
    if event.status == "cancelled" and data.model_fields_set - {"capacity_available"}:
        raise Conflict("A cancelled event cannot be changed")
    changes = data.model_dump(exclude_unset=True, exclude={"capacity_available", "services", "price", "waiting_room"})
    if "status" in changes and changes["status"] is None:
        changes.pop("status")

    timezone_name = changes.get("timezone") or event.timezone
    zone(timezone_name)
    for field in ("starts_at", "ends_at"):
        if field in changes:
            changes[field] = in_event_zone(changes[field], timezone_name)
    if changes.get("starts_at", event.starts_at) is None:
        raise InvalidRequest("starts_at cannot be removed")
    _check_time_window(changes.get("starts_at", event.starts_at), changes.get("ends_at", event.ends_at))

    # Under the event's lock no purchase can change what is sold or held: one reading serves every check below and
    # the answer (types and services added here have sold nothing). What people waiting ask for is no claim: a
    # capacity may go below it.
    usage = usage_for_events(session, [event.id], count_waiting_demand=False)
    new_capacity = changes.get("capacity_total")
    if new_capacity is not None and new_capacity < usage.event(event.id).taken:
        raise Conflict(f"capacity_total cannot go below the {usage.event(event.id).taken} seats already sold or held")
    if "currency" in changes and changes["currency"] != event.currency and _has_orders(session, event.id):
        raise Conflict("The currency of an event with orders cannot change")
    for field, value in changes.items():
        if value is None and field in (
            "name",
            "capacity_total",
            "allow_children",
            "currency",
            "timezone",
            "waiting_list_offer_hours",
        ):
            continue
        setattr(event, field, value)

    if "waiting_room" in data.model_fields_set:
        _set_waiting_room(event, data.waiting_room)
    if data.price is not None:
        _set_default_price(session, event, data.price)
    elif data.allow_children and not _default_type(event, is_child=True):
        adult = _default_type(event, is_child=False)
        if adult is not None:
            _add_default_child_type(session, event, adult.price)
    for service in data.services or []:
        _apply_service(session, event, service, usage)
    record_change(session, actor_id, "event.update", "event", event.id, before, _snapshot(event))
    session.flush()
    session.refresh(event)
    return EventView(event, usage)


def _set_default_price(session: Session, event: Event, price: Decimal) -> None:
    """`price` from the old client changes the default adult type's price for later purchases."""
    adult = _default_type(event, is_child=False)
    if adult is None:
        session.add(TicketType(event_id=event.id, name=DEFAULT_ADULT_TYPE_NAME, price=price, is_default=True))
    else:
        adult.price = price
    if event.allow_children and _default_type(event, is_child=True) is None:
        _add_default_child_type(session, event, price)


def _apply_service(session: Session, event: Event, service: ServiceInput, usage: EventUsage) -> None:
    """Services with an id are updated, services without one are added; none is removed (it may have sales)."""
    if service.id is None:
        session.add(_new_service(event.id, service))
        return
    existing = next((s for s in event.services if s.id == service.id), None)
    if existing is None:
        raise NotFound(f"Service {service.id} not found on this event")
    _check_age_range(service)
    taken = usage.service(existing.id).taken
    if service.stock_total < taken:
        raise Conflict(f"stock_total of {existing.name!r} cannot go below the {taken} units already sold or held")
    for field in ("name", "description", "price", "service_type", "stock_total", "min_age", "max_age"):
        setattr(existing, field, getattr(service, field))


def _has_orders(session: Session, event_id: uuid.UUID) -> bool:
    return session.scalar(select(Order.id).where(Order.event_id == event_id).limit(1)) is not None


def delete_event(session: Session, event_id: uuid.UUID, actor_id: uuid.UUID) -> None:
    event = _load_event(session, event_id, lock=True)
    if _has_orders(session, event.id):
        raise Conflict("The event has orders and cannot be deleted; cancel it instead (status: cancelled)")
    record_change(session, actor_id, "event.delete", "event", event.id, _snapshot(event), None)
    for ticket_type in event.ticket_types:
        session.delete(ticket_type)
    for service in event.services:
        session.delete(service)
    session.delete(event)


def create_ticket_type(
    session: Session, event_id: uuid.UUID, data: TicketTypeCreate, actor_id: uuid.UUID
) -> tuple[TicketType, EventView]:
    event = _load_event(session, event_id, lock=True)
    if event.status == "cancelled":
        raise Conflict("A cancelled event sells nothing more")
    if data.is_child and not event.allow_children:
        raise InvalidRequest("This event does not allow children; set allow_children first")
    sales_start_at = in_event_zone(data.sales_start_at, event.timezone)
    sales_end_at = in_event_zone(data.sales_end_at, event.timezone)
    _check_sales_window(sales_start_at, sales_end_at)
    if data.is_default:
        _clear_default(event, data.is_child)
        session.flush()
    ticket_type = TicketType(
        event_id=event.id,
        name=data.name,
        price=data.price,
        capacity=data.capacity,
        sales_start_at=sales_start_at,
        sales_end_at=sales_end_at,
        max_per_order=data.max_per_order,
        is_child=data.is_child,
        is_default=data.is_default,
        is_hidden=data.is_hidden,
    )
    session.add(ticket_type)
    session.flush()
    record_change(session, actor_id, "ticket_type.create", "ticket_type", ticket_type.id, None, data.model_dump())
    session.refresh(event)
    return ticket_type, EventView(event, usage_for_events(session, [event.id]))


def update_ticket_type(
    session: Session, event_id: uuid.UUID, ticket_type_id: uuid.UUID, data: TicketTypeUpdate, actor_id: uuid.UUID
) -> tuple[TicketType, EventView]:
    event = _load_event(session, event_id, lock=True)
    ticket_type = next((tt for tt in event.ticket_types if tt.id == ticket_type_id), None)
    if ticket_type is None:
        raise NotFound("Ticket type not found")
    changes = data.model_dump(exclude_unset=True)
    before = {field: getattr(ticket_type, field) for field in changes}
    for field in ("sales_start_at", "sales_end_at"):
        if field in changes:
            changes[field] = in_event_zone(changes[field], event.timezone)
    _check_sales_window(
        changes.get("sales_start_at", ticket_type.sales_start_at), changes.get("sales_end_at", ticket_type.sales_end_at)
    )
    usage = usage_for_events(session, [event.id])  # fixed while the event is locked
    if changes.get("capacity") is not None:
        taken = usage.ticket_type(ticket_type.id).taken
        if changes["capacity"] < taken:
            raise Conflict(f"capacity cannot go below the {taken} seats already sold or held")
    if changes.get("is_default") and not ticket_type.is_default:
        _clear_default(event, ticket_type.is_child)
        session.flush()
    for field, value in changes.items():
        if value is None and field in ("name", "price", "is_default", "is_hidden"):
            continue
        setattr(ticket_type, field, value)
    record_change(session, actor_id, "ticket_type.update", "ticket_type", ticket_type.id, before, changes)
    session.flush()
    session.refresh(event)
    return ticket_type, EventView(event, usage)


def _check_sales_window(sales_start_at: datetime | None, sales_end_at: datetime | None) -> None:
    if sales_start_at and sales_end_at and sales_end_at <= sales_start_at:
        raise InvalidRequest("sales_end_at must be after sales_start_at")


def _clear_default(event: Event, is_child: bool) -> None:
    current = _default_type(event, is_child)
    if current is not None:
        current.is_default = False
