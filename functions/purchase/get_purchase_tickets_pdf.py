"""GET /api/v1/purchases/{order_id}/tickets.pdf — a redirect to a freshly presigned S3 URL of the order's PDF.

Emails link here with a download token (`?t=`), never to a presigned URL, which would die with the credentials of
the function that signed it. The owner's bearer token works too.
"""

import uuid

import jwt
from aws_lambda_powertools.event_handler import Response
from purchase_orders import tickets_pdf_key

from crowdify.adapters import tickets_bucket
from crowdify.auth.backend_tokens import DOWNLOAD_TOKEN, decode_backend_token
from crowdify.config.settings import get_settings
from crowdify.core.errors import NotAuthenticated, NotFound
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in(link_parameter="t"))

# Long enough to start a download, short enough that a leaked URL is soon useless.
PRESIGNED_URL_SECONDS = 300


@app.get("/api/v1/purchases/<order_id>/tickets.pdf")
def get_tickets_pdf(order_id: str) -> Response[None]:
    order = uuid_or_not_found(order_id, "Order")
    download_token = app.current_event.get_query_string_value("t")
    owner = None if download_token else caller_of(app)
    if download_token:
        _check_download_token(download_token, order)
    with transaction() as connection:
        key = tickets_pdf_key(connection, order, owner)
    url = tickets_bucket.presigned_download_url(key, PRESIGNED_URL_SECONDS)
    return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"}, body="")


def _check_download_token(token: str, order_id: uuid.UUID) -> None:
    try:
        claims = decode_backend_token(token, get_settings().jwt_secret, DOWNLOAD_TOKEN)
    except jwt.InvalidTokenError as error:
        raise NotAuthenticated("This download link is invalid or has expired") from error
    if claims["sub"] != str(order_id):
        # A valid link for another order says nothing about this one.
        raise NotFound("Order not found")


lambda_handler = lambda_handler_for(app)
