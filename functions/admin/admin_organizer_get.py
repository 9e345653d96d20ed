"""GET /api/v1/admin/organizer — admins read the installation's organiser."""

from admin_schemas import OrganizerResponse
from organizer_profile import get_organizer

from crowdify.api import api_app, caller_of, lambda_handler_for
from crowdify.sessions import db_session

app = api_app()


@app.get("/api/v1/admin/organizer")
def get_organizer_info() -> OrganizerResponse:
    caller_of(app, "admin")
    with db_session() as session:
        return OrganizerResponse.model_validate(get_organizer(session), from_attributes=True)


lambda_handler = lambda_handler_for(app)
