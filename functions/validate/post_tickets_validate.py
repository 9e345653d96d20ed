"""POST /api/v1/tickets/validate — check a ticket in at the door (scanner, coordinator, admin, or a scanner device).

Every verdict is HTTP 200, as the old client expects; 401/403 only for who scans. The request runs one SQL
statement when the scanner is known (see checkin.py), and never loads the ORM or boto3.
"""

from checkin import Scan, Scanner, check_in
from validate_schemas import TicketValidationRequest, TicketValidationResponse

from crowdify.auth.callers import STAFF_ROLES
from crowdify.http.api import api_app, lambda_handler_for, verified_token_of
from crowdify.http.route_access import signed_in
from crowdify.observability import business_metrics

app = api_app(signed_in(*STAFF_ROLES, allow_device=True, role_checked_by_route=True))


@app.post("/api/v1/tickets/validate")
def validate_ticket(body: TicketValidationRequest) -> TicketValidationResponse:
    scanner = Scanner.of_token(verified_token_of(app))
    scan = Scan(
        qr_signature=body.qr_signature,
        requested_event_id=body.event_id,
        inspector_id=body.inspector_id,
        nonce=body.nonce,
    )
    verdict = check_in(scanner, scan)
    business_metrics.checked_in(verdict.status)
    return TicketValidationResponse.from_verdict(verdict)


lambda_handler = lambda_handler_for(app)
