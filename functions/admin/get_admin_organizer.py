"""GET /api/v1/admin/organizer — admins read the installation's organiser."""

from admin_schemas import OrganizerResponse
from organizer_profile import get_organizer

from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.get("/api/v1/admin/organizer")
def get_organizer_info() -> OrganizerResponse:
    with db_session() as session:
        return OrganizerResponse.model_validate(get_organizer(session), from_attributes=True)


lambda_handler = lambda_handler_for(app)
