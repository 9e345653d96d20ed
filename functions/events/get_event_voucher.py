"""GET /api/v1/events/{event_id}/vouchers/{code} — anyone: whether a promo code can be used now, and what it does.

Unknown, inactive, expired, used-up and personal codes are the same 404. Guessing is kept out by the code space
(generated codes are 12 characters of 31) and by API Gateway's throttling of this route (template.yaml).
"""

from event_schemas import VoucherCheck

from crowdify.core.errors import NotFound
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.core.timezones import shown_in_zone
from crowdify.domain.vouchers import find_live_code
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import PUBLIC
from crowdify.persistence.sessions import db_session

app = api_app(PUBLIC)


@app.get("/api/v1/events/<event_id>/vouchers/<code>")
def get_voucher(event_id: str, code: str) -> VoucherCheck:
    with db_session() as session:
        voucher = find_live_code(session, uuid_or_not_found(event_id, "Event"), code) if len(code) <= 40 else None
        if voucher is None or voucher.event.status != "published":
            raise NotFound("Promo code not found")
        return VoucherCheck(
            valid=True,
            code=voucher.code,
            discount_type=voucher.discount_type,
            value=voucher.value,
            ticket_type_ids=voucher.ticket_type_ids,
            valid_until=shown_in_zone(voucher.valid_until, voucher.event.timezone),
        )


lambda_handler = lambda_handler_for(app)
