"""The local stack as `make run` starts it: what it writes, what answers, and how it stops."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import psutil
import pytest
import requests

from local.state import REPOSITORY_ROOT, STACK_KEYS
from tests.support.stack import StartedStack, stack_environment, token_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def local_dir() -> Iterator[Path]:
    """Outside pytest's tmp_path, which pytest keeps private (0700) to its user: as root, the embedded
    Postgres runs as another user, who must reach its data folder."""
    directory = Path(tempfile.mkdtemp(prefix="crowdify-local-stack-"))
    yield directory / "local"
    shutil.rmtree(directory, ignore_errors=True)


def test_stack_json_names_exactly_the_contract_keys(local_stack: dict[str, Any]) -> None:
    stack_json = json.loads((local_stack["local_dir"] / "stack.json").read_text())

    assert set(stack_json) == set(STACK_KEYS)
    assert stack_json["database_url"].startswith("postgresql://")
    for name in ("gateway", "mercadopago", "sendgrid", "moto"):
        assert stack_json[name].startswith("http://127.0.0.1:")


def test_the_gateway_serves_the_health_route(local_stack: dict[str, Any]) -> None:
    response = requests.get(f"{local_stack['gateway']}/health", timeout=10)

    assert response.status_code != 404, "GET /health has no route: the template has no health function yet"
    assert response.status_code == 200, response.text


def test_moto_has_the_tickets_bucket_and_the_paid_orders_queues(local_stack: dict[str, Any]) -> None:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=local_stack["moto"])
    sqs = session.client("sqs", endpoint_url=local_stack["moto"])

    assert "crowdify-tickets" in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    dead_letter_url = sqs.get_queue_url(QueueName="crowdify-paid-orders-dlq")["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.get_queue_url(QueueName="crowdify-paid-orders")["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"] == dead_letter_arn
    assert int(redrive["maxReceiveCount"]) == 5


def test_the_emulators_answer_with_the_local_secrets(local_stack: dict[str, Any]) -> None:
    outbox = requests.get(f"{local_stack['sendgrid']}/outbox", timeout=10)
    assert outbox.status_code == 200
    # Other e2e tests share this stack and may have sent mail already.
    assert isinstance(outbox.json(), list)

    search = requests.get(
        f"{local_stack['mercadopago']}/v1/payments/search",
        params={"external_reference": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {local_stack['secrets']['MERCADOPAGO_ACCESS_TOKEN']}"},
        timeout=10,
    )
    assert search.status_code == 200, search.text
    assert search.json()["results"] == []


def test_make_token_prints_a_backend_jwt_for_the_same_user_each_time(local_stack: dict[str, Any]) -> None:
    first = token_for(local_stack, "coordinator", email="door-lead@crowdify.local")
    again = token_for(local_stack, "coordinator", email="door-lead@crowdify.local")

    claims = jwt.decode(first, local_stack["secrets"]["JWT_SECRET"], algorithms=["HS256"], audience="crowdify")
    assert claims["typ"] == "user"
    assert uuid.UUID(claims["sub"])
    assert jwt.decode(again, options={"verify_signature": False})["sub"] == claims["sub"]


def test_ctrl_c_stops_the_stack_its_children_and_its_embedded_postgres(local_dir: Path) -> None:
    # No DATABASE_URL: this stack embeds its own Postgres, which must stop with it.
    stack = StartedStack(local_dir, stack_environment(local_dir, database_url=None))
    try:
        stack.wait_until_up()
        postgres_pid = int((local_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])
        postgres_server = psutil.Process(postgres_pid)
        children = psutil.Process(stack.process.pid).children(recursive=True)

        # What the terminal does on Ctrl-C: SIGINT to the foreground process group.
        os.killpg(stack.process.pid, signal.SIGINT)
        exit_status = stack.process.wait(30)
    finally:
        stack.stop()

    assert exit_status == 0, stack.output()
    assert not is_alive(postgres_server), "the embedded Postgres outlived the stack"
    assert not [child for child in children if is_alive(child)]
    assert not (local_dir / "stack.json").exists()

    token = subprocess.run(
        [sys.executable, "-m", "local.token", "--role", "admin"],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "CROWDIFY_LOCAL_DIR": str(local_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert token.returncode == 1
    assert "not running" in token.stderr


def is_alive(process: psutil.Process) -> bool:
    # An exited process whose parent never reaps it (PID 1 in some containers) stays a zombie.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
