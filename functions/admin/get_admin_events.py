"""GET /api/v1/admin/events — coordinators and admins see every event with its sales and door figures."""

from typing import Annotated, Literal

from admin_schemas import AdminEventsListResponse
from admin_stats import events_overview
from admin_stats_responses import admin_event_response
from aws_lambda_powertools.event_handler.openapi.params import Query

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/events")
def get_admin_events(
    event_status: Annotated[Literal["all", "upcoming", "ongoing", "past"], Query()] = "all",
    sort: Annotated[Literal["starts_at_desc", "starts_at_asc", "revenue_desc"], Query()] = "starts_at_desc",
) -> AdminEventsListResponse:
    with db_session() as session:
        events = events_overview(session, event_status, sort)
    return AdminEventsListResponse(events=[admin_event_response(figures) for figures in events])


lambda_handler = lambda_handler_for(app)
