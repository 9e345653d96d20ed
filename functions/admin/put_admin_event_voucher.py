"""PUT /api/v1/admin/events/{event_id}/vouchers/{voucher_id} — new terms for a promo code (its code stays)."""

from voucher_admin import event_or_not_found, terms_from, voucher_response
from voucher_schemas import VoucherResponse, VoucherUpdate

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.vouchers import update_voucher
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.put("/api/v1/admin/events/<event_id>/vouchers/<voucher_id>")
def put_voucher(event_id: str, voucher_id: str, body: VoucherUpdate) -> VoucherResponse:
    with db_session() as session:
        event = event_or_not_found(session, uuid_or_not_found(event_id, "Event"))
        terms = terms_from(body, body.reserve_seats, event)
        voucher = update_voucher(session, event.id, uuid_or_not_found(voucher_id, "Promo code"), terms)
        return voucher_response(voucher, event.timezone)


lambda_handler = lambda_handler_for(app)
