"""POST /api/v1/purchases/{order_id}/cancel — the owner cancels a pending order and its seats are released."""

from purchase_orders import cancel_order
from purchase_schemas import OrderStatusResponse

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in())


@app.post("/api/v1/purchases/<order_id>/cancel")
def post_cancel(order_id: str) -> OrderStatusResponse:
    caller = caller_of(app)
    with transaction() as connection:
        return cancel_order(connection, uuid_or_not_found(order_id, "Order"), caller)


lambda_handler = lambda_handler_for(app)
