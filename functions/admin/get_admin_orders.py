"""GET /api/v1/admin/orders — coordinators and admins find orders by event, status and buyer email (paginated)."""

import uuid
from typing import Annotated

from admin_order_responses import order_summary
from admin_orders import OrderFilters, list_orders
from admin_schemas import AdminOrdersListResponse, OrderStatus
from aws_lambda_powertools.event_handler.openapi.params import Query

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.get("/api/v1/admin/orders")
def get_orders(
    event_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[OrderStatus | None, Query()] = None,
    buyer_email: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AdminOrdersListResponse:
    with db_session() as session:
        page = list_orders(session, OrderFilters(event_id, status, buyer_email, limit, offset))
        orders = [order_summary(row) for row in page.rows]
    return AdminOrdersListResponse(orders=orders, total=page.total, limit=limit, offset=offset)


lambda_handler = lambda_handler_for(app)
