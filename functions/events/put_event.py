"""PUT /api/v1/events/{event_id} — admins and coordinators change an event; `status: cancelled` cancels it."""

from event_catalog import update_event
from event_responses import event_response
from event_schemas import EventResponse, EventUpdate

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.put("/api/v1/events/<event_id>")
def put_event(event_id: str, body: EventUpdate) -> EventResponse:
    caller = caller_of(app)
    with db_session() as session:
        return event_response(update_event(session, uuid_or_not_found(event_id, "Event"), body, caller.id))


lambda_handler = lambda_handler_for(app)
