"""GET /api/v1/admin/events/{event_id}/stats — one event per ticket type, sales per day, check-ins per 15 min."""

from admin_schemas import EventDetailStatsResponse
from admin_stats import event_detail
from admin_stats_responses import event_detail_response

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/events/<event_id>/stats")
def get_event_stats(event_id: str) -> EventDetailStatsResponse:
    with db_session() as session:
        detail = event_detail(session, uuid_or_not_found(event_id, "Event"))
    return event_detail_response(detail)


lambda_handler = lambda_handler_for(app)
