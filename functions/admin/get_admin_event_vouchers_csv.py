"""GET /api/v1/admin/events/{event_id}/vouchers.csv — the event's promo codes as a spreadsheet-safe CSV."""

from aws_lambda_powertools.event_handler import Response
from voucher_admin import event_or_not_found, event_vouchers, vouchers_csv

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/events/<event_id>/vouchers.csv")
def get_vouchers_csv(event_id: str) -> Response[str]:
    with db_session() as session:
        event = event_or_not_found(session, uuid_or_not_found(event_id, "Event"))
        body = vouchers_csv(event_vouchers(session, event.id), event.timezone)
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=body,
        headers={"Content-Disposition": f'attachment; filename="promo-codes-{event.id}.csv"'},
    )


lambda_handler = lambda_handler_for(app)
