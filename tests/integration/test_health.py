"""Liveness and readiness."""

from tests.support.api_gateway import call


def test_health_answers_without_dependencies() -> None:
    response = call("get_health", "GET", "/health")
    assert response.status == 200 and response.json() == {"status": "ok"}


def test_ready_checks_the_database(aws_resources: object) -> None:
    # /ready also checks the queue and the bucket (moto here); see tests/integration/test_admin_ready_and_email.py.
    response = call("get_ready", "GET", "/ready")
    assert response.status == 200 and response.json()["checks"]["database"] == "ok"
