"""GET /health — liveness: the function runs. No dependency is touched."""

from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import PUBLIC

app = api_app(PUBLIC)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
