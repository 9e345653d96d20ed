"""GET /api/v1/admin/events/{event_id}/tickets/children/export — the children's records of one event, as the old
client turns them into a spreadsheet (cancelled tickets included, with their status); texts that a spreadsheet
would run as formulas come back neutralised as in the CSV."""

from admin_schemas import ChildComprador, ChildExportData, ChildrenExportResponse, EventInfo
from attendee_export import buyer_name, child_record, child_tickets, load_event, spreadsheet_text, spreadsheet_values

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/events/<event_id>/tickets/children/export")
def export_children(event_id: str) -> ChildrenExportResponse:
    with db_session() as session:
        event = load_event(session, uuid_or_not_found(event_id, "Event"))
        rows = child_tickets(session, event.id, None, with_cancelled=True)
    event_day = event.local_day
    children = [
        ChildExportData(
            **spreadsheet_values(child_record(row, event_day)),
            ticket_id=row.id,
            ticket_status=row.status,
            comprador=ChildComprador(
                nombre=spreadsheet_text(buyer_name(row)),
                email=spreadsheet_text(row.user_email or row.buyer_email or ""),
            ),
        )
        for row in rows
    ]
    return ChildrenExportResponse(event=EventInfo(id=event.id, name=spreadsheet_text(event.name)), children=children)


lambda_handler = lambda_handler_for(app)
