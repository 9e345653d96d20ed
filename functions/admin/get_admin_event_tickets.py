"""GET /api/v1/admin/events/{event_id}/tickets — coordinators and admins list an event's tickets (all rows unless
`limit` is given), with the old API's filters and summary."""

from typing import Annotated, Literal

from admin_schemas import (
    AdminTicketResponse,
    AdminTicketsListResponse,
    ChildDetails,
    EventInfo,
    OrderInfo,
    OrderItemInfo,
    OrderUserInfo,
    TicketsSummary,
)
from attendee_export import TicketFilters, child_record, event_tickets
from aws_lambda_powertools.event_handler.openapi.params import Query

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.core.statuses import TICKET_STATUSES
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))

TicketStatus = Literal[TICKET_STATUSES]  # type: ignore[valid-type]


@app.get("/api/v1/admin/events/<event_id>/tickets")
def get_event_tickets(
    event_id: str,
    ticket_status: Annotated[TicketStatus | None, Query()] = None,
    is_child: Annotated[bool | None, Query()] = None,
    include_child_details: Annotated[bool, Query()] = True,
    search: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AdminTicketsListResponse:
    filters = TicketFilters(ticket_status, is_child, search, limit, offset)
    with db_session() as session:
        found = event_tickets(session, uuid_or_not_found(event_id, "Event"), filters)
    event_day = found.event.local_day
    tickets = [
        AdminTicketResponse(
            id=row.id,
            holder_first_name=row.holder_first_name,
            holder_last_name=row.holder_last_name,
            holder_document_type=row.holder_document_type,
            holder_document_number=row.holder_document_number,
            is_child=row.is_child,
            status=row.status,
            qr_signature=row.qr_signature,
            issued_at=row.issued_at,
            validated_at=row.validated_at,
            used_at=row.used_at,
            order_item=OrderItemInfo(
                order_id=row.order_id,
                order=OrderInfo(
                    user=OrderUserInfo(
                        email=row.user_email or row.buyer_email or "",
                        first_name=row.buyer_first_name,
                        last_name=row.buyer_last_name,
                    )
                ),
            ),
            child_details=(
                ChildDetails(**child_record(row, event_day)) if include_child_details and row.is_child else None
            ),
            ticket_type_id=row.ticket_type_id,
            ticket_type_name=row.ticket_type_name,
            attendee_email=row.attendee_email,
        )
        for row in found.rows
    ]
    summary = found.summary
    return AdminTicketsListResponse(
        event=EventInfo(id=found.event.id, name=found.event.name),
        tickets=tickets,
        summary=TicketsSummary(
            total=summary.total, adults=summary.adults, children=summary.children, by_status=summary.by_status
        ),
    )


lambda_handler = lambda_handler_for(app)
