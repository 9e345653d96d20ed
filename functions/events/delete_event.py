"""DELETE /api/v1/events/{event_id} — admins delete an event that has no orders (409 otherwise: cancel it)."""

from aws_lambda_powertools.event_handler import Response
from event_catalog import delete_event

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.delete("/api/v1/events/<event_id>", status_code=204)
def remove_event(event_id: str) -> Response[None]:
    caller = caller_of(app)
    with db_session() as session:
        delete_event(session, uuid_or_not_found(event_id, "Event"), caller.id)
    return Response(status_code=204, body="")


lambda_handler = lambda_handler_for(app)
