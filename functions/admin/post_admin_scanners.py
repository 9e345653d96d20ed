"""POST /api/v1/admin/scanners — admins create (or promote) a scanner user; 201 as the old API.

With SUPABASE_SERVICE_ROLE_KEY set, the account is also created in Supabase Auth; the password goes there only.
That call is made between two transactions, never inside one.
"""

from admin_schemas import CreateScannerRequest, ScannerResponse
from user_roles import add_scanner, new_scanner_id, promote_to_scanner

from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.post("/api/v1/admin/scanners", status_code=201)
def post_scanner(body: CreateScannerRequest) -> ScannerResponse:
    caller = caller_of(app)
    with db_session() as session:
        promoted = promote_to_scanner(session, body.email, body.first_name, body.last_name, caller.id)
        if promoted is not None:
            return ScannerResponse.model_validate(promoted, from_attributes=True)
    user_id = new_scanner_id(body.email, body.password.get_secret_value(), body.first_name, body.last_name)
    with db_session() as session:
        user = add_scanner(session, user_id, body.email, body.first_name, body.last_name, caller.id)
        return ScannerResponse.model_validate(user, from_attributes=True)


lambda_handler = lambda_handler_for(app)
