"""GET /api/v1/admin/events/{event_id}/waiting-list — coordinators and admins see the event's waiting lists, per
ticket type (and the event-wide one), every entry with its status, in the order people joined."""

from admin_waiting_list_schemas import AdminWaitingListResponse

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_list import event_entries
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/events/<event_id>/waiting-list")
def get_waiting_list(event_id: str) -> AdminWaitingListResponse:
    event = uuid_or_not_found(event_id, "Event")
    with transaction() as connection:
        entries = event_entries(connection, event)
    return AdminWaitingListResponse.of(event, entries)


lambda_handler = lambda_handler_for(app)
