"""PUT /api/v1/events/{event_id}/ticket-types/{ticket_type_id} — change price, capacity, window, limits."""

from event_catalog import update_ticket_type
from event_responses import ticket_type_response
from event_schemas import TicketTypeResponse, TicketTypeUpdate

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.put("/api/v1/events/<event_id>/ticket-types/<ticket_type_id>")
def put_ticket_type(event_id: str, ticket_type_id: str, body: TicketTypeUpdate) -> TicketTypeResponse:
    caller = caller_of(app)
    with db_session() as session:
        ticket_type, view = update_ticket_type(
            session,
            uuid_or_not_found(event_id, "Event"),
            uuid_or_not_found(ticket_type_id, "Ticket type"),
            body,
            caller.id,
        )
        return ticket_type_response(ticket_type, view)


lambda_handler = lambda_handler_for(app)
