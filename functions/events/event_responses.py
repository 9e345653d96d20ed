"""Domain views to response models: availability folded in, times shown in the event's zone."""

from __future__ import annotations

from event_catalog import EventView
from event_schemas import EventResponse, EventServiceResponse, TicketTypeResponse, WaitingRoomSettings

from crowdify.core.timezones import shown_in_zone
from crowdify.domain.capacity import available
from crowdify.persistence.models import TicketType


def ticket_type_response(ticket_type: TicketType, view: EventView) -> TicketTypeResponse:
    event = view.event
    event_left = available(event.capacity_total, view.usage.event(event.id)) or 0
    own_left = available(ticket_type.capacity, view.usage.ticket_type(ticket_type.id))
    return TicketTypeResponse(
        id=ticket_type.id,
        event_id=ticket_type.event_id,
        name=ticket_type.name,
        price=ticket_type.price,
        currency=event.currency,
        is_child=ticket_type.is_child,
        is_default=ticket_type.is_default,
        is_hidden=ticket_type.is_hidden,
        capacity=ticket_type.capacity,
        capacity_available=event_left if own_left is None else min(own_left, event_left),
        sales_start_at=shown_in_zone(ticket_type.sales_start_at, event.timezone),
        sales_end_at=shown_in_zone(ticket_type.sales_end_at, event.timezone),
        max_per_order=ticket_type.max_per_order,
        created_at=ticket_type.created_at,
        updated_at=ticket_type.updated_at,
    )


def event_response(view: EventView) -> EventResponse:
    event = view.event
    default_adult = next((tt for tt in event.ticket_types if tt.is_default and not tt.is_child), None)
    return EventResponse(
        id=event.id,
        organizer_id=event.organizer_id,
        name=event.name,
        location_text=event.location_text,
        point_location=event.point_location,
        starts_at=shown_in_zone(event.starts_at, event.timezone),
        ends_at=shown_in_zone(event.ends_at, event.timezone),
        capacity_total=event.capacity_total,
        capacity_available=available(event.capacity_total, view.usage.event(event.id)) or 0,
        allow_children=event.allow_children,
        category=event.category,
        description=event.description,
        image_url=event.image_url,
        price=default_adult.price if default_adult else None,
        currency=event.currency,
        timezone=event.timezone,
        status=event.status,
        max_tickets_per_buyer=event.max_tickets_per_buyer,
        waiting_list_offer_hours=event.waiting_list_offer_hours,
        waiting_room=WaitingRoomSettings(
            opens_at=shown_in_zone(event.waiting_room_opens_at, event.timezone),
            admissions_per_minute=event.waiting_room_admissions_per_minute,
            admission_minutes=event.waiting_room_admission_minutes,
        )
        if event.waiting_room_opens_at is not None
        else None,
        ticket_types=[
            ticket_type_response(tt, view) for tt in event.ticket_types if view.shows_hidden_types or not tt.is_hidden
        ],
        event_services=[
            EventServiceResponse(
                id=service.id,
                event_id=service.event_id,
                name=service.name,
                description=service.description,
                price=service.price,
                service_type=service.service_type,
                stock_total=service.stock_total,
                stock_available=available(service.stock_total, view.usage.service(service.id)) or 0,
                min_age=service.min_age,
                max_age=service.max_age,
                created_at=service.created_at,
            )
            for service in event.services
        ],
        created_at=event.created_at,
        updated_at=event.updated_at,
    )
