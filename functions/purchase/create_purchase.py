"""POST /api/v1/purchases — any signed-in user holds seats and gets a MercadoPago payment link (200). A free order
is completed at once; its link is the web client's success page."""

from purchase_schemas import MAX_IDEMPOTENCY_KEY_LENGTH, PurchaseRequest, PurchaseResponse
from purchases import purchase

from crowdify import pg_connection
from crowdify.api import api_app, caller_of, lambda_handler_for
from crowdify.errors import InvalidRequest
from crowdify.settings import get_settings

app = api_app()


@app.post("/api/v1/purchases")
def post_purchase(body: PurchaseRequest) -> PurchaseResponse:
    caller = caller_of(app, transaction=pg_connection.transaction)
    placed = purchase(caller, body, _idempotency_key(body), _public_base_url())
    assert placed.payment_link is not None
    return PurchaseResponse(order_id=placed.order_id, payment_link=placed.payment_link, status=placed.status)


def _idempotency_key(body: PurchaseRequest) -> str | None:
    """The old client sends it in the body; newer clients may send the Idempotency-Key header instead."""
    if body.idempotency_key:
        return body.idempotency_key
    header = (app.current_event.get_header_value("Idempotency-Key", case_sensitive=False) or "").strip()
    if len(header) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return header or None


def _public_base_url() -> str:
    # Empty in a stack without a custom domain: the API is then reached at the host this request came to.
    return get_settings().public_base_url or f"https://{app.current_event.request_context.domain_name}"


lambda_handler = lambda_handler_for(app)
