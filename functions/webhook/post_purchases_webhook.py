"""POST /api/v1/purchases/webhook: MercadoPago's payment notifications (public, signed with x-signature)."""

from webhook_notification import PAYMENT_TOPIC, WebhookAnswer, read_notification, signed_data_id, verify_notification

from crowdify.config.settings import get_settings
from crowdify.domain.payment_settlement import settle_payment
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import PUBLIC

app = api_app(PUBLIC)


@app.post("/api/v1/purchases/webhook")
def mercadopago_webhook() -> WebhookAnswer:
    event = app.current_event
    verify_notification(get_settings(), event.headers, signed_data_id(event.query_string_parameters))
    notification = read_notification(event.query_string_parameters, event.decoded_body)
    if notification.topic != PAYMENT_TOPIC:
        return WebhookAnswer(action="ignored")
    outcome = settle_payment(notification.payment_id())
    return WebhookAnswer(action=outcome.action)


lambda_handler = lambda_handler_for(app)
