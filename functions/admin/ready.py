"""GET /ready — readiness: the database answers (503 when it does not)."""

from aws_lambda_powertools.event_handler import Response, content_types
from sqlalchemy import text

from crowdify.api import api_app, lambda_handler_for
from crowdify.database import transaction
from crowdify.errors import DependencyUnavailable

app = api_app()


@app.get("/ready")
def ready() -> Response[dict]:
    try:
        with transaction() as connection:
            connection.execute(text("SELECT 1"))
    except DependencyUnavailable:
        return Response(
            status_code=503,
            content_type=content_types.APPLICATION_JSON,
            body={"status": "unavailable", "checks": {"database": "unavailable"}},
        )
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body={"status": "ready", "checks": {"database": "ok"}},
    )


lambda_handler = lambda_handler_for(app)
