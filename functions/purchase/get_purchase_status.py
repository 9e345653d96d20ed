"""GET /api/v1/purchases/{order_id}/status — the order's owner, coordinators and admins."""

from purchase_orders import order_status
from purchase_schemas import OrderStatusResponse

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in())


@app.get("/api/v1/purchases/<order_id>/status")
def get_order_status(order_id: str) -> OrderStatusResponse:
    caller = caller_of(app)
    with transaction() as connection:
        return order_status(connection, uuid_or_not_found(order_id, "Order"), caller)


lambda_handler = lambda_handler_for(app)
