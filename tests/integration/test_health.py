"""Liveness and readiness."""

from tests.support.api_gateway import call


def test_health_answers_without_dependencies() -> None:
    response = call("health", "GET", "/health")
    assert response.status == 200 and response.json() == {"status": "ok"}


def test_ready_checks_the_database(db: str) -> None:
    response = call("ready", "GET", "/ready")
    assert response.status == 200 and response.json()["checks"]["database"] == "ok"
