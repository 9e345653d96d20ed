"""DELETE /api/v1/admin/events/{event_id}/vouchers/{voucher_id} — deactivates a promo code (its orders keep it);
its reserved seats return to sale."""

from voucher_admin import event_or_not_found, voucher_response
from voucher_schemas import VoucherResponse

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.vouchers import deactivate_voucher
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.delete("/api/v1/admin/events/<event_id>/vouchers/<voucher_id>")
def delete_voucher(event_id: str, voucher_id: str) -> VoucherResponse:
    with db_session() as session:
        event = event_or_not_found(session, uuid_or_not_found(event_id, "Event"))
        voucher = deactivate_voucher(session, event.id, uuid_or_not_found(voucher_id, "Promo code"))
        return voucher_response(voucher, event.timezone)


lambda_handler = lambda_handler_for(app)
