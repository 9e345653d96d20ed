"""PUT /api/v1/admin/users/{user_id}/role — admins set a user's role; the last admin keeps theirs."""

from admin_schemas import UpdateUserRoleRequest, UserResponse
from user_roles import change_role

from crowdify.core.identifiers import uuid_or_not_found
from crowdify.http.api import api_app, caller_of, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.put("/api/v1/admin/users/<user_id>/role")
def put_user_role(user_id: str, body: UpdateUserRoleRequest) -> UserResponse:
    caller = caller_of(app)
    with db_session() as session:
        user = change_role(session, uuid_or_not_found(user_id, "User"), body.role, caller.id)
        return UserResponse.model_validate(user, from_attributes=True)


lambda_handler = lambda_handler_for(app)
