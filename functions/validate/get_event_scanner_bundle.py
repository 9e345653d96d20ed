"""GET /api/v1/events/{event_id}/scanner-bundle — keys, event, ticket types and refused tickets for offline scanning.

Scanner, coordinator and admin users, or a device of that event. The ETag is the content's hash: a scanner that
sends it back in If-None-Match gets a 304 while nothing changed. `include_tickets` adds every ticket with its holder's
name (the door app greets guests and counts the hall offline).
"""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from offline_bundle import entity_tag, matches, scanner_bundle
from validate_schemas import ScannerBundle

from crowdify.auth.callers import STAFF_ROLES
from crowdify.core.errors import Forbidden
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.pg_connection import transaction

app = api_app(signed_in(*STAFF_ROLES, allow_device=True, transaction=transaction))


@app.get("/api/v1/events/<event_id>/scanner-bundle")
def get_scanner_bundle(
    event_id: str,
    include_used: Annotated[bool, Query()] = False,
    include_tickets: Annotated[bool, Query()] = False,
) -> Response[ScannerBundle | None]:
    caller = caller_of(app)
    event = uuid_or_not_found(event_id, "Event")
    if caller.is_device and not caller.may_scan_event(event):
        raise Forbidden("This scanner device is not issued for this event")
    with transaction() as connection:
        bundle = scanner_bundle(connection, event, include_used, include_tickets)
    # Dumped once, for the hash and the body: with every ticket listed, the dump is most of the work.
    content = bundle.model_dump(mode="json")
    tag = entity_tag(content)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if matches(app.current_event.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers, body=None)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=content,
        headers=headers,
    )


lambda_handler = lambda_handler_for(app)
