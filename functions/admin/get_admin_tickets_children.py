"""GET /api/v1/admin/tickets/children — every event's valid child tickets, searchable by name, RUT or church; the
web client exports them to a spreadsheet, so texts that would run as formulas come back neutralised as in the CSV."""

from typing import Annotated

from admin_schemas import ChildTicketInfo, GlobalChildTicketsResponse
from attendee_export import child_record, child_tickets, spreadsheet_text, spreadsheet_values
from aws_lambda_powertools.event_handler.openapi.params import Query

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.timezones import shown_in_zone
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))

_FIELDS = tuple(name for name in ChildTicketInfo.model_fields if name not in ("ticket_id", "event_id", "event_name"))


@app.get("/api/v1/admin/tickets/children")
def get_children_tickets(search: Annotated[str | None, Query(max_length=200)] = None) -> GlobalChildTicketsResponse:
    with db_session() as session:
        rows = child_tickets(session, None, search, with_cancelled=False)
    tickets = []
    for row in rows:
        starts_at = shown_in_zone(row.event_starts_at, row.event_timezone)
        record = spreadsheet_values(child_record(row, starts_at.date()))
        tickets.append(
            ChildTicketInfo(
                ticket_id=row.id,
                event_id=row.event_id,
                event_name=spreadsheet_text(row.event_name),
                event_date=starts_at.isoformat(),
                issued_at=row.issued_at.isoformat(),
                **{name: value for name, value in record.items() if name in _FIELDS},
            )
        )
    return GlobalChildTicketsResponse(tickets=tickets, total_count=len(tickets))


lambda_handler = lambda_handler_for(app)
