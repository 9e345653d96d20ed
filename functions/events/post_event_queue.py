"""POST /api/v1/events/{event_id}/queue — a signed-in visitor joins the event's waiting room: 201 when this put
them in line, 200 when they already were (they keep their place)."""

from aws_lambda_powertools.event_handler import Response
from waiting_room_schemas import QueueStatusResponse

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_room import join
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence import pg_connection

app = api_app(signed_in(transaction=pg_connection.transaction))


@app.post(
    "/api/v1/events/<event_id>/queue",
    responses={
        200: {"description": "Already in line: the place is kept"},
        201: {"description": "In line"},
        409: {"description": "The event has no waiting room, or is not on sale"},
    },
)
def post_queue(event_id: str) -> Response[QueueStatusResponse]:
    caller = caller_of(app)
    with pg_connection.transaction() as connection:
        joined = join(connection, uuid_or_not_found(event_id, "Event"), caller.id)
    return Response(
        status_code=201 if joined.placed_now else 200,
        content_type="application/json",
        body=QueueStatusResponse.model_validate(joined.status, from_attributes=True),
        headers={"Cache-Control": "no-store"},
    )


lambda_handler = lambda_handler_for(app)
