"""GET /api/v1/tickets/user/{user_id} — that user's tickets (or any user's, for an admin), as a bare array."""

from purchase_orders import user_tickets

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.ticket_views import TicketResponse
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in())


@app.get("/api/v1/tickets/user/<user_id>")
def get_user_tickets(user_id: str) -> list[TicketResponse]:
    caller = caller_of(app)
    with transaction() as connection:
        return user_tickets(connection, uuid_or_not_found(user_id, "User"), caller)


lambda_handler = lambda_handler_for(app)
