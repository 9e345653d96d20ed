"""PUT /api/v1/admin/organizer — admins change the organiser's name and contact details (audited)."""

from admin_schemas import OrganizerResponse, OrganizerUpdate
from organizer_profile import update_organizer

from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.put("/api/v1/admin/organizer")
def put_organizer(body: OrganizerUpdate) -> OrganizerResponse:
    caller = caller_of(app)
    with db_session() as session:
        organizer = update_organizer(session, body.model_dump(exclude_unset=True), caller.id)
        return OrganizerResponse.model_validate(organizer, from_attributes=True)


lambda_handler = lambda_handler_for(app)
