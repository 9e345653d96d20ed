"""POST /api/v1/events/{event_id}/waiting-list — a signed-in user joins a sold-out type's (or the event's) waiting
list, or changes their seats there: 201 when this put them in line, 200 when it updated their entry."""

from aws_lambda_powertools.event_handler import Response
from waiting_list_schemas import WaitingListEntryResponse, WaitingListJoin

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_list import join
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in())


@app.post(
    "/api/v1/events/<event_id>/waiting-list",
    responses={
        200: {"description": "The entry was updated; it keeps its place"},
        201: {"description": "The caller is in line"},
    },
)
def post_waiting_list(event_id: str, body: WaitingListJoin) -> Response[WaitingListEntryResponse]:
    caller = caller_of(app)
    with transaction() as connection:
        joined = join(connection, uuid_or_not_found(event_id, "Event"), caller.id, body.ticket_type_id, body.seats)
    return Response(
        status_code=201 if joined.placed else 200,
        content_type="application/json",
        body=WaitingListEntryResponse.model_validate(joined.entry, from_attributes=True),
    )


lambda_handler = lambda_handler_for(app)
