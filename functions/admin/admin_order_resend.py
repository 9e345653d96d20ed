"""POST /api/v1/admin/orders/{order_id}/resend — coordinators and admins have the order's tickets emailed again
(a new paid-order message through the outbox: exactly one more email)."""

from admin_orders import resend_tickets
from admin_schemas import ResendResponse
from aws_lambda_powertools.event_handler import Response, content_types

from crowdify.api import api_app, caller_of, lambda_handler_for
from crowdify.auth import MANAGER_ROLES
from crowdify.identifiers import uuid_or_not_found
from crowdify.outbox import publish_after_commit
from crowdify.sessions import db_session

app = api_app()


@app.post("/api/v1/admin/orders/<order_id>/resend")
def post_resend(order_id: str) -> Response[ResendResponse]:
    caller = caller_of(app, *MANAGER_ROLES)
    with db_session() as session:
        message = resend_tickets(session, uuid_or_not_found(order_id, "Order"), caller.id)
    # After the commit; what SQS does not take now, the outbox relay publishes within a minute.
    queued = publish_after_commit([message.id]) == 1
    answer = ResendResponse(order_id=uuid_or_not_found(order_id, "Order"), message_id=message.id, queued=queued)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=answer.model_dump(mode="json"))


lambda_handler = lambda_handler_for(app)
