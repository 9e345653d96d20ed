"""GET /api/v1/tickets/{ticket_id} — one ticket with its event, for its owner or the door staff (others: 404)."""

from ticket_lookup import ticket_for

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.ticket_views import TicketResponse
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.pg_connection import transaction

app = api_app(signed_in(allow_device=True, transaction=transaction))


@app.get("/api/v1/tickets/<ticket_id>")
def get_ticket(ticket_id: str) -> TicketResponse:
    caller = caller_of(app)
    with transaction() as connection:
        return ticket_for(connection, caller, uuid_or_not_found(ticket_id, "Ticket"))


lambda_handler = lambda_handler_for(app)
