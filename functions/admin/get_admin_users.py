"""GET /api/v1/admin/users — admins list users by role (default `user`, as the old API; `all` for every role)."""

from typing import Annotated, Literal

from admin_schemas import UserResponse, UsersListResponse
from aws_lambda_powertools.event_handler.openapi.params import Query
from user_roles import list_users

from crowdify.core.statuses import ROLES
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))

RoleFilter = Literal[(*ROLES, "all")]  # type: ignore[valid-type]


@app.get("/api/v1/admin/users")
def get_users(
    role: Annotated[RoleFilter, Query()] = "user",
    search: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UsersListResponse:
    with db_session() as session:
        page = list_users(session, role, search, limit, offset)
        users = [UserResponse.model_validate(user, from_attributes=True) for user in page.users]
    return UsersListResponse(users=users, total=page.total, limit=limit, offset=offset)


lambda_handler = lambda_handler_for(app)
