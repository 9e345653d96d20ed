"""POST /api/v1/admin/events/{event_id}/vouchers — coordinators and admins create one promo code, or `count` generated
ones with one tag (201). A reserving code's seats leave general sale now: 409 when they are not free."""

from voucher_admin import event_or_not_found, terms_from, voucher_response
from voucher_schemas import VoucherCreate, VouchersCreated

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.vouchers import create_vouchers, generate_code
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.post("/api/v1/admin/events/<event_id>/vouchers", status_code=201)
def post_vouchers(event_id: str, body: VoucherCreate) -> VouchersCreated:
    codes = [body.code] if body.code else [generate_code() for _ in range(body.count)]
    with db_session() as session:
        event = event_or_not_found(session, uuid_or_not_found(event_id, "Event"))
        vouchers = create_vouchers(session, event.id, terms_from(body, body.reserve_seats, event), codes)
        return VouchersCreated(vouchers=[voucher_response(voucher, event.timezone) for voucher in vouchers])


lambda_handler = lambda_handler_for(app)
