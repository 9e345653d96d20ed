"""POST /api/v1/admin/orders/{order_id}/refund — admins refund an order in full (no `amount`) or in part (an amount,
optionally with the tickets to cancel), through MercadoPago.

Send an idempotency key (`Idempotency-Key` header or `idempotency_key`) to make a retry safe: the same key refunds
once. MercadoPago refusing answers 422 and leaves the order as it was; MercadoPago not answering answers 503 and the
refund is settled by the scheduled sweep (crowdify.domain.admin_refunds).
"""

import uuid

from admin_order_responses import order_detail_response
from admin_orders import order_detail
from admin_schemas import MAX_REFUND_KEY_LENGTH, REFUND_KEY_PREFIX, AdminOrderDetail, RefundRequest

from crowdify.adapters.mercadopago_client import payments
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.admin_refunds import refund_order
from crowdify.http.api import api_app, caller_of, idempotency_key, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


def _idempotency_key(body: RefundRequest) -> str:
    sent = idempotency_key(app, body.idempotency_key, MAX_REFUND_KEY_LENGTH)
    # Without a key every request is a new refund.
    return f"{REFUND_KEY_PREFIX}{sent or uuid.uuid4()}"


@app.post("/api/v1/admin/orders/<order_id>/refund")
def post_refund(order_id: str, body: RefundRequest) -> AdminOrderDetail:
    caller = caller_of(app)
    order_uuid = uuid_or_not_found(order_id, "Order")
    refund_order(payments(), order_uuid, body.amount, body.ticket_ids, body.reason, _idempotency_key(body), caller.id)
    with db_session() as session:
        return order_detail_response(order_detail(session, order_uuid))


lambda_handler = lambda_handler_for(app)
