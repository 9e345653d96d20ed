"""The deploy-time migration custom resource: upgrades the schema and always answers CloudFormation."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from crowdify.config.settings import reset_settings
from crowdify.persistence.database import driver_url_and_arguments
from crowdify.persistence.migrations import alembic_config
from local.postgres import create_database, drop_database, test_server_url
from tests.support.api_gateway import LambdaContext


@pytest.fixture
def cloudformation_responses() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Stands in for the pre-signed S3 URL CloudFormation waits on."""
    received: list[dict[str, Any]] = []

    class ResponseHandler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ResponseHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/response", received
    server.shutdown()


def custom_resource_event(response_url: str, request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/crowdify-dev/guid",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "DatabaseMigration",
        "ResourceType": "Custom::DatabaseMigration",
        "ResourceProperties": {},
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def invoke(event: dict[str, Any], database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import deploy_run_migrations

    monkeypatch.setenv("DATABASE_URL", database_url)
    reset_settings()
    try:
        deploy_run_migrations.lambda_handler(event, LambdaContext(function_name="migrate"))
    finally:
        reset_settings()


def test_create_upgrades_an_empty_database_to_head(
    cloudformation_responses: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    response_url, received = cloudformation_responses
    server_url = test_server_url()
    name = f"crowdify_deploy_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, name)
    try:
        invoke(custom_resource_event(response_url, "Create"), database_url, monkeypatch)
        invoke(custom_resource_event(response_url, "Update"), database_url, monkeypatch)
        url, connect_args = driver_url_and_arguments(database_url)
        engine = create_engine(url, connect_args=connect_args)
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        engine.dispose()
    finally:
        drop_database(server_url, name)
    assert [answer["Status"] for answer in received] == ["SUCCESS", "SUCCESS"]
    assert version == ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def test_a_failed_migration_fails_the_deploy(
    cloudformation_responses: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    response_url, received = cloudformation_responses
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    invoke(custom_resource_event(response_url, "Update"), unreachable, monkeypatch)
    (answer,) = received
    assert answer["Status"] == "FAILED" and "migration failed" in answer["Reason"]
    assert answer["LogicalResourceId"] == "DatabaseMigration"


def test_delete_leaves_the_data_alone(
    cloudformation_responses: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    response_url, received = cloudformation_responses
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    invoke(custom_resource_event(response_url, "Delete"), unreachable, monkeypatch)
    assert [answer["Status"] for answer in received] == ["SUCCESS"]
