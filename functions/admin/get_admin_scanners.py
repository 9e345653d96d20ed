"""GET /api/v1/admin/scanners — admins list the users with the scanner role (the old API's scanners)."""

from admin_schemas import ScannerResponse, ScannersListResponse
from user_roles import list_scanners

from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.get("/api/v1/admin/scanners")
def get_scanners() -> ScannersListResponse:
    with db_session() as session:
        scanners = [ScannerResponse.model_validate(user, from_attributes=True) for user in list_scanners(session)]
    return ScannersListResponse(scanners=scanners)


lambda_handler = lambda_handler_for(app)
