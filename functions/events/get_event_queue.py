"""GET /api/v1/events/{event_id}/queue — the caller's state in the event's waiting room: position, people ahead,
estimated wait. One read of one statement, no write, checked against the token alone (any signed-in person; no
device); a cache in front (CloudFront, keyed on the Authorization header) may keep it for two seconds, which is how
often the waiting-room page asks."""

from aws_lambda_powertools.event_handler import Response
from waiting_room_schemas import QueueStatusResponse

from crowdify.auth.backend_tokens import DEVICE_TOKEN
from crowdify.core.errors import Forbidden
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_room import status
from crowdify.http.api import api_app, lambda_handler_for, verified_token_of
from crowdify.http.route_access import signed_in
from crowdify.persistence import pg_connection

app = api_app(signed_in(role_checked_by_route=True))

CACHE_SECONDS = 2


@app.get("/api/v1/events/<event_id>/queue", responses={409: {"description": "The event has no waiting room"}})
def get_queue(event_id: str) -> Response[QueueStatusResponse]:
    token = verified_token_of(app)
    if token.kind == DEVICE_TOKEN:
        raise Forbidden("Scanner devices cannot use this route")
    current = status(pg_connection.StatementsAlone(), uuid_or_not_found(event_id, "Event"), token.subject)
    return Response(
        status_code=200,
        content_type="application/json",
        body=QueueStatusResponse.model_validate(current, from_attributes=True),
        headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": "Authorization"},
    )


lambda_handler = lambda_handler_for(app)
