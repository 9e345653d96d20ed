"""GET /api/v1/events — public list of published events; coordinators and admins also see drafts."""

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from event_catalog import EventFilters, list_events
from event_responses import event_response
from event_schemas import EventResponse

from crowdify.auth.callers import MANAGER_ROLES, authenticate
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import PUBLIC
from crowdify.persistence.sessions import db_session

app = api_app(PUBLIC)


@app.get("/api/v1/events")
def get_events(
    category: Annotated[str | None, Query(max_length=100)] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    date_from: Annotated[datetime | None, Query()] = None,
    date_to: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[EventResponse]:
    caller = authenticate(app.current_event.headers)
    filters = EventFilters(category, search, date_from, date_to, limit, offset)
    with db_session() as session:
        views = list_events(session, filters, include_unpublished=bool(caller and caller.has_role(*MANAGER_ROLES)))
        return [event_response(view) for view in views]


lambda_handler = lambda_handler_for(app)
