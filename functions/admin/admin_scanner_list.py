"""GET /api/v1/admin/scanners — admins list the users with the scanner role (the old API's scanners)."""

from admin_schemas import ScannerResponse, ScannersListResponse
from user_roles import list_scanners

from crowdify.api import api_app, caller_of, lambda_handler_for
from crowdify.sessions import db_session

app = api_app()


@app.get("/api/v1/admin/scanners")
def get_scanners() -> ScannersListResponse:
    caller_of(app, "admin")
    with db_session() as session:
        scanners = [ScannerResponse.model_validate(user, from_attributes=True) for user in list_scanners(session)]
    return ScannersListResponse(scanners=scanners)


lambda_handler = lambda_handler_for(app)
