"""POST /api/v1/tickets/sync — apply a batch of offline scans (≤ 500) in arrival order; the first applied wins."""

from collections import Counter

from checkin import Scan, Scanner, sync_offline_scans
from validate_schemas import SyncRequest, SyncResponse

from crowdify.auth.callers import STAFF_ROLES
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.observability import business_metrics
from crowdify.persistence.pg_connection import transaction

app = api_app(signed_in(*STAFF_ROLES, allow_device=True, transaction=transaction))


@app.post("/api/v1/tickets/sync")
def sync_tickets(body: SyncRequest) -> SyncResponse:
    caller = caller_of(app)
    scans = [
        Scan(
            qr_signature=scan.qr_signature,
            requested_event_id=body.event_id,
            inspector_id=scan.inspector_id,
            nonce=scan.nonce,
            offline=True,
            device_time=scan.scanned_at,
        )
        for scan in body.scans
    ]
    verdicts = sync_offline_scans(Scanner.of_caller(caller), scans)
    for verdict, count in Counter(verdict.status for verdict in verdicts).items():
        business_metrics.checked_in(verdict, count)
    return SyncResponse.from_verdicts(body.scans, verdicts)


lambda_handler = lambda_handler_for(app)
