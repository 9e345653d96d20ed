"""DELETE /api/v1/admin/scanners/{scanner_id} — admins take the scanner role away (the user stays, as `user`)."""

from admin_schemas import DeleteScannerResponse
from user_roles import remove_scanner

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.delete("/api/v1/admin/scanners/<scanner_id>")
def delete_scanner(scanner_id: str) -> DeleteScannerResponse:
    caller = caller_of(app)
    with db_session() as session:
        user = remove_scanner(session, uuid_or_not_found(scanner_id, "Scanner"), caller.id)
    return DeleteScannerResponse(message="Scanner role removed; the user is now a regular user", user_id=user.id)


lambda_handler = lambda_handler_for(app)
