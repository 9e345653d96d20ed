"""POST /api/v1/admin/orders/{order_id}/confirm — admins mark a pending order paid by other means, with a reason
(audited); its tickets are issued and emailed as for any paid order."""

from admin_order_responses import order_detail_response
from admin_orders import confirm_order, order_detail
from admin_schemas import AdminOrderDetail, ConfirmOrderRequest

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.outbox import publish_after_commit
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.post("/api/v1/admin/orders/<order_id>/confirm")
def post_confirm(order_id: str, body: ConfirmOrderRequest) -> AdminOrderDetail:
    caller = caller_of(app)
    order_uuid = uuid_or_not_found(order_id, "Order")
    with db_session() as session:
        message = confirm_order(session, order_uuid, body.reason, body.payment_reference, caller.id)
    publish_after_commit([message.id])
    with db_session() as session:
        return order_detail_response(order_detail(session, order_uuid))


lambda_handler = lambda_handler_for(app)
