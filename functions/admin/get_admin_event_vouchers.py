"""GET /api/v1/admin/events/{event_id}/vouchers — the event's promo codes with their redemptions."""

from voucher_admin import event_or_not_found, event_vouchers, voucher_response
from voucher_schemas import VoucherResponse

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/events/<event_id>/vouchers")
def get_vouchers(event_id: str) -> list[VoucherResponse]:
    with db_session() as session:
        event = event_or_not_found(session, uuid_or_not_found(event_id, "Event"))
        return [voucher_response(voucher, event.timezone) for voucher in event_vouchers(session, event.id)]


lambda_handler = lambda_handler_for(app)
