"""POST /api/v1/events — admins and coordinators create an event (published unless `status: draft`)."""

from aws_lambda_powertools.event_handler import Response, content_types
from event_catalog import create_event
from event_responses import event_response
from event_schemas import EventCreate, EventResponse

from crowdify.api import api_app, caller_of, lambda_handler_for
from crowdify.auth import MANAGER_ROLES
from crowdify.sessions import db_session

app = api_app()


@app.post("/api/v1/events")
def post_event(body: EventCreate) -> Response[EventResponse]:
    caller = caller_of(app, *MANAGER_ROLES)
    with db_session() as session:
        created = event_response(create_event(session, body, caller.id))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=created.model_dump(mode="json"))


lambda_handler = lambda_handler_for(app)
