"""Dashboard figures to response models: money as numbers, times in the event's zone."""

from __future__ import annotations

from admin_schemas import (
    AdminEventResponse,
    CheckinSlot,
    DaySalesStats,
    EventDetailStatsResponse,
    EventServiceInfo,
    EventStats,
    OrganizerInfo,
    PromoCodeTagStats,
    ServiceStats,
    TicketTypeInfo,
    TicketTypeStats,
)
from admin_stats import EventDetailFigures, EventFigures

from crowdify.core.timezones import shown_in_zone

DEFAULT_CATEGORY = "otro"


def admin_event_response(figures: EventFigures) -> AdminEventResponse:
    row = figures.row
    return AdminEventResponse(
        id=row.id,
        name=row.name,
        description=row.description,
        location_text=row.location_text,
        point_location=row.point_location,
        starts_at=shown_in_zone(row.starts_at, row.timezone),
        ends_at=shown_in_zone(row.ends_at, row.timezone),
        capacity_total=row.capacity_total,
        capacity_available=figures.remaining,
        category=row.category or DEFAULT_CATEGORY,
        image_url=row.image_url,
        organizer=OrganizerInfo(id=row.organizer_id, org_name=row.org_name),
        ticket_types=[
            TicketTypeInfo(
                id=tt.id,
                name=tt.name,
                price=tt.price,
                is_child=tt.is_child,
                is_default=tt.is_default,
                capacity=tt.capacity,
            )
            for tt in figures.ticket_types
        ],
        event_services=[
            EventServiceInfo(
                id=service.id,
                name=service.name,
                description=service.description,
                price=service.price,
                service_type=service.service_type,
                stock_total=service.stock_total,
                stock_available=service.remaining,
                min_age=service.min_age,
                max_age=service.max_age,
            )
            for service in figures.services
        ],
        stats=EventStats(
            tickets_sold=figures.sold,
            tickets_remaining=figures.remaining,
            revenue=row.revenue,
            sales_percentage=float(figures.sales_percentage),
            services_stats=[
                ServiceStats(
                    id=service.id,
                    name=service.name,
                    service_type=service.service_type,
                    stock=service.stock_total,
                    sold=service.sold,
                    remaining=service.remaining,
                    held=service.held,
                )
                for service in figures.services
            ],
            tickets_held=figures.held,
            tickets_checked_in=int(row.checked_in),
            tickets_cancelled=int(row.cancelled),
            orders_paid=int(row.orders_paid),
            refunded=row.refunded,
            currency=row.currency,
        ),
        status=row.status,
        currency=row.currency,
        timezone=row.timezone,
        allow_children=row.allow_children,
    )


def event_detail_response(detail: EventDetailFigures) -> EventDetailStatsResponse:
    zone_name = detail.event.row.timezone
    return EventDetailStatsResponse(
        event=admin_event_response(detail.event),
        ticket_types=[
            TicketTypeStats(
                id=tt.id,
                name=tt.name,
                price=tt.price,
                is_child=tt.is_child,
                is_default=tt.is_default,
                capacity=tt.capacity,
                tickets_sold=tt.sold,
                tickets_held=tt.held,
                tickets_checked_in=tt.checked_in,
                tickets_cancelled=tt.cancelled,
                remaining=tt.remaining,
                gross_sales=tt.gross_sales,
            )
            for tt in detail.event.ticket_types
        ],
        sales_by_day=[
            DaySalesStats(date=day.day.isoformat(), orders=day.orders, tickets=day.tickets, revenue=day.revenue)
            for day in detail.sales_by_day
        ],
        checkins_by_quarter_hour=[
            CheckinSlot(
                starts_at=shown_in_zone(slot.starts_at, zone_name),
                checked_in=slot.checked_in,
                offline_double_entries=slot.offline_double_entries,
            )
            for slot in detail.checkins
        ],
        offline_double_entries=detail.offline_double_entries,
        promo_codes_by_tag=[
            PromoCodeTagStats(tag=tag.tag, codes=tag.codes, seats=tag.seats, revenue=tag.revenue)
            for tag in detail.promo_codes_by_tag
        ],
    )
