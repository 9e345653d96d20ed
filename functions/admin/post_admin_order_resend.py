"""POST /api/v1/admin/orders/{order_id}/resend — coordinators and admins have the order's tickets emailed again
(a new paid-order message through the outbox: exactly one more email)."""

from admin_orders import resend_tickets
from admin_schemas import ResendResponse

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.outbox import publish_after_commit
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in(*MANAGER_ROLES))


@app.post("/api/v1/admin/orders/<order_id>/resend", status_code=202)
def post_resend(order_id: str) -> ResendResponse:
    caller = caller_of(app)
    order_uuid = uuid_or_not_found(order_id, "Order")
    with db_session() as session:
        message = resend_tickets(session, order_uuid, caller.id)
    # After the commit; what SQS does not take now, the outbox relay publishes within a minute.
    queued = publish_after_commit([message.id]) == 1
    return ResendResponse(order_id=order_uuid, message_id=message.id, queued=queued)


lambda_handler = lambda_handler_for(app)
