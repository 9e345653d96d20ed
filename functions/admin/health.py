"""GET /health — liveness: the function runs. No dependency is touched."""

from crowdify.api import api_app, lambda_handler_for

app = api_app()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


lambda_handler = lambda_handler_for(app)
