"""GET /api/v1/admin/events/{event_id}/tickets.csv — the attendee list for the door, as a spreadsheet-safe CSV."""

from attendee_export import TicketFilters, attendees_csv, event_tickets
from aws_lambda_powertools.event_handler import Response

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/events/<event_id>/tickets.csv")
def get_attendees_csv(event_id: str) -> Response[str]:
    with db_session() as session:
        tickets = event_tickets(session, uuid_or_not_found(event_id, "Event"), TicketFilters())
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=attendees_csv(tickets),
        headers={"Content-Disposition": f'attachment; filename="attendees-{tickets.event.id}.csv"'},
    )


lambda_handler = lambda_handler_for(app)
