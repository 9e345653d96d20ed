"""GET /api/v1/events/{event_id}/queue — the caller's state in the event's waiting room: position, people ahead,
estimated wait. One read, no write; a cache in front (CloudFront, keyed on the Authorization header) may keep it
for two seconds, which is how often the waiting-room page asks."""

from aws_lambda_powertools.event_handler import Response
from waiting_room_schemas import QueueStatusResponse

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_room import status
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence import pg_connection

app = api_app(signed_in(transaction=pg_connection.transaction))

CACHE_SECONDS = 2


@app.get("/api/v1/events/<event_id>/queue", responses={409: {"description": "The event has no waiting room"}})
def get_queue(event_id: str) -> Response[QueueStatusResponse]:
    caller = caller_of(app)
    with pg_connection.transaction() as connection:
        current = status(connection, uuid_or_not_found(event_id, "Event"), caller.id)
    return Response(
        status_code=200,
        content_type="application/json",
        body=QueueStatusResponse.model_validate(current, from_attributes=True),
        headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": "Authorization"},
    )


lambda_handler = lambda_handler_for(app)
