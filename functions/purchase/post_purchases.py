"""POST /api/v1/purchases — any signed-in user holds seats and gets a MercadoPago payment link (200). A free order
is completed at once; its link is the web client's success page."""

from purchase_schemas import MAX_IDEMPOTENCY_KEY_LENGTH, PurchaseRequest, PurchaseResponse
from purchases import purchase

from crowdify.config.settings import get_settings
from crowdify.http.api import api_app, caller_of, idempotency_key, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence import pg_connection

app = api_app(signed_in(transaction=pg_connection.transaction))


@app.post("/api/v1/purchases")
def post_purchase(body: PurchaseRequest) -> PurchaseResponse:
    caller = caller_of(app)
    placed = purchase(
        caller, body, idempotency_key(app, body.idempotency_key, MAX_IDEMPOTENCY_KEY_LENGTH), _public_base_url()
    )
    if placed.payment_link is None:
        # purchase() answers with the checkout opened or the free order completed, and both give the order a link.
        raise RuntimeError(f"Order {placed.order_id} was placed without a payment link")
    return PurchaseResponse(
        order_id=placed.order_id,
        payment_link=placed.payment_link,
        status=placed.status,
        total=placed.total,
        discount=placed.discount,
    )


def _public_base_url() -> str:
    # Empty in a stack without a custom domain: the API is then reached at the host this request came to.
    return get_settings().public_base_url or f"https://{app.current_event.request_context.domain_name}"


lambda_handler = lambda_handler_for(app)
