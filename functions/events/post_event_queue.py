"""POST /api/v1/events/{event_id}/queue — a signed-in visitor joins the event's waiting room: 201 when this put
them in line, 200 when they already were (they keep their place).

A flash sale's rush arrives here, so the usual join is one statement and one round trip: only the token is checked
before it (any signed-in person may join; a device may not), and the statement itself finds the person's row. A
person never seen before is created first, as every other route does on their first request."""

import uuid

from aws_lambda_powertools.event_handler import Response
from waiting_room_schemas import QueueStatusResponse

from crowdify.auth.backend_tokens import DEVICE_TOKEN
from crowdify.auth.callers import VerifiedToken
from crowdify.auth.users import find_or_create_user
from crowdify.core.errors import Forbidden
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_room import Joined, UserNotSeenYet, join
from crowdify.http.api import api_app, lambda_handler_for, verified_token_of
from crowdify.http.route_access import signed_in
from crowdify.persistence import pg_connection

app = api_app(signed_in(role_checked_by_route=True))


@app.post(
    "/api/v1/events/<event_id>/queue",
    responses={
        200: {"description": "Already in line: the place is kept"},
        201: {"description": "In line"},
        409: {"description": "The event has no waiting room, or is not on sale"},
    },
)
def post_queue(event_id: str) -> Response[QueueStatusResponse]:
    token = verified_token_of(app)
    if token.kind == DEVICE_TOKEN:
        raise Forbidden("Scanner devices cannot use this route")
    joined = _join(uuid_or_not_found(event_id, "Event"), token)
    return Response(
        status_code=201 if joined.placed_now else 200,
        content_type="application/json",
        body=QueueStatusResponse.model_validate(joined.status, from_attributes=True),
        headers={"Cache-Control": "no-store"},
    )


def _join(event_id: uuid.UUID, token: VerifiedToken) -> Joined:
    try:
        return join(pg_connection.StatementsAlone(), event_id, token.subject)
    except UserNotSeenYet:
        with pg_connection.transaction() as connection:
            find_or_create_user(connection, token.subject, token.email, token.role_for_new_user)
        return join(pg_connection.StatementsAlone(), event_id, token.subject)


lambda_handler = lambda_handler_for(app)
