"""POST /api/v1/events — admins and coordinators create an event (published unless `status: draft`)."""

from event_catalog import create_event
from event_responses import event_response
from event_schemas import EventCreate, EventResponse

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.post("/api/v1/events", status_code=201)
def post_event(body: EventCreate) -> EventResponse:
    caller = caller_of(app)
    with db_session() as session:
        return event_response(create_event(session, body, caller.id))


lambda_handler = lambda_handler_for(app)
