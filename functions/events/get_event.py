"""GET /api/v1/events/{event_id} — one event with its ticket types, services and live availability."""

from event_catalog import get_event
from event_responses import event_response
from event_schemas import EventResponse

from crowdify.auth.callers import MANAGER_ROLES, authenticate
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import PUBLIC
from crowdify.persistence.sessions import db_session

app = api_app(PUBLIC)


@app.get("/api/v1/events/<event_id>")
def get_one_event(event_id: str) -> EventResponse:
    caller = authenticate(app.current_event.headers)
    with db_session() as session:
        view = get_event(
            session,
            uuid_or_not_found(event_id, "Event"),
            include_unpublished=bool(caller and caller.has_role(*MANAGER_ROLES)),
        )
        return event_response(view)


lambda_handler = lambda_handler_for(app)
