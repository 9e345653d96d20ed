"""GET /api/v1/admin/orders/{order_id} — coordinators and admins see an order whole: items, tickets, payments,
refunds and its history."""

from admin_order_responses import order_detail_response
from admin_orders import order_detail
from admin_schemas import AdminOrderDetail

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/orders/<order_id>")
def get_order(order_id: str) -> AdminOrderDetail:
    with db_session() as session:
        return order_detail_response(order_detail(session, uuid_or_not_found(order_id, "Order")))


lambda_handler = lambda_handler_for(app)
