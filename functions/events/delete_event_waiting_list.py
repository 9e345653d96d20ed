"""DELETE /api/v1/events/{event_id}/waiting-list — the caller leaves the list (of `ticket_type_id`, or the
event-wide one); an offer they hold is withdrawn and its seats go to the next in line."""

import uuid
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from waiting_list_schemas import WaitingListEntryResponse

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_list import leave
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in())


@app.delete("/api/v1/events/<event_id>/waiting-list")
def delete_waiting_list(
    event_id: str, ticket_type_id: Annotated[uuid.UUID | None, Query()] = None
) -> WaitingListEntryResponse:
    caller = caller_of(app)
    with transaction() as connection:
        entry = leave(connection, uuid_or_not_found(event_id, "Event"), caller.id, ticket_type_id)
    return WaitingListEntryResponse.model_validate(entry, from_attributes=True)


lambda_handler = lambda_handler_for(app)
