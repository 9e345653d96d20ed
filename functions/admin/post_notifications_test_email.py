"""POST /api/v1/notifications/test-email?to_email=… — admins send a test email through SendGrid (as the old API)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from email_probe import send_test_email

from crowdify.config.settings import get_settings
from crowdify.core.email_address import EMAIL_ADDRESS_PATTERN
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in

app = api_app(signed_in("admin"))


@app.post("/api/v1/notifications/test-email")
def post_test_email(
    to_email: Annotated[str, Query(max_length=320, pattern=EMAIL_ADDRESS_PATTERN)],
) -> dict[str, str | None]:
    message_id = send_test_email(get_settings(), to_email)
    return {"message": f"Test email sent to {to_email}", "to_email": to_email, "message_id": message_id}


lambda_handler = lambda_handler_for(app)
