"""The `local_stack` fixture: `python -m local.stack` as a subprocess, on free ports, in a folder of its own.

Its database is a fresh one on the test server (docs/architecture.md, "How we test"), dropped at the end, so a
running `make run` and other test runs are never touched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local import postgres
from local.stack import DEFAULT_CORS_ORIGINS
from local.state import REPOSITORY_ROOT, read_secrets, stack_file
from tests.support.pgbouncer import POOLER_ENVIRONMENT, PgBouncer

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
PORT_VARIABLES = (
    "GATEWAY_PORT",
    "MERCADOPAGO_EMULATOR_PORT",
    "SENDGRID_EMULATOR_PORT",
    "MOTO_PORT",
    "CROWDIFY_POSTGRES_PORT",
)


class StartedStack:
    """A `python -m local.stack` process and its folder; `wait_until_up` returns stack.json's content."""

    def __init__(self, local_dir: Path, environment: dict[str, str]) -> None:
        self.local_dir = local_dir
        self.log_path = local_dir / "stack.log"
        local_dir.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: nobody reads the stack's output while it runs, and a full pipe would block it.
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.stack"],
            cwd=REPOSITORY_ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group, so the whole of it can be stopped at the end whatever it started.
            start_new_session=True,
        )

    def wait_until_up(self, timeout: float = START_TIMEOUT_SECONDS) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        path = stack_file(self.local_dir)
        while time.monotonic() < deadline:
            if path.exists():
                return json.loads(path.read_text())
            if self.process.poll() is not None:
                raise RuntimeError(f"The local stack exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.1)
        raise RuntimeError(f"The local stack did not write {path} within {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM to the process group, SIGKILL if it lingers; returns the stack's exit status."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._log.close()
        return self.process.returncode


def stack_environment(
    local_dir: Path, database_url: str | None, web_client_origin: str | None = None
) -> dict[str, str]:
    """The environment for a stack on free ports in `local_dir`; without a database URL it embeds Postgres.
    `web_client_origin` is allowed by CORS beside the defaults (a browser test serves its page there)."""
    environment = {**os.environ, "CROWDIFY_LOCAL_DIR": str(local_dir), "PYTHONUNBUFFERED": "1"}
    if web_client_origin is not None:
        environment["CORS_ORIGINS"] = f"{DEFAULT_CORS_ORIGINS},{web_client_origin}"
    environment.update(dict.fromkeys(PORT_VARIABLES, "0"))
    environment.pop("DATABASE_URL", None)
    if database_url is not None:
        environment["DATABASE_URL"] = database_url
    return environment


@contextmanager
def started_local_stack(local_dir: Path, pooler: PgBouncer | None = None) -> Iterator[dict[str, Any]]:
    """A stack of its own in `local_dir` on a fresh database: stack.json's content, plus `local_dir` (a Path),
    `secrets` (the local secrets) and `web_client_origin` (http://localhost:<a free port>, an origin CORS allows,
    where nothing is served yet). With the run's pooler, the stack (its migrations and its functions) reaches the
    database through it."""
    server_url = postgres.test_server_url()
    database_name = f"crowdify_e2e_{uuid.uuid4().hex[:10]}"
    database_url = postgres.create_database(server_url, database_name)
    web_client_origin = f"http://localhost:{free_port()}"
    if pooler is None:
        environment = stack_environment(local_dir, database_url, web_client_origin)
    else:
        environment = {
            **stack_environment(local_dir, pooler.url_for(database_url), web_client_origin),
            **POOLER_ENVIRONMENT,
        }
    stack = StartedStack(local_dir, environment)
    try:
        try:
            addresses = stack.wait_until_up()
        except RuntimeError as error:
            stack.stop()
            pytest.fail(str(error), pytrace=False)
        yield {
            **addresses,
            "local_dir": local_dir,
            "secrets": read_secrets(local_dir),
            "web_client_origin": web_client_origin,
        }
    finally:
        stack.stop()
        postgres.drop_database(server_url, database_name)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, pooler: PgBouncer | None) -> Iterator[dict[str, Any]]:
    """The stack the end-to-end tests share (see started_local_stack)."""
    with started_local_stack(tmp_path_factory.mktemp("local-stack"), pooler) as stack:
        yield stack


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def token_for(stack: dict[str, Any], role: str, email: str | None = None) -> str:
    """A backend JWT from `python -m local.token` for a user with `role` in that stack's database."""
    command = [sys.executable, "-m", "local.token", "--role", role]
    if email is not None:
        command += ["--email", email]
    completed = subprocess.run(
        command,
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "CROWDIFY_LOCAL_DIR": str(stack["local_dir"])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"local.token failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    return completed.stdout.strip().splitlines()[-1]


def user_tokens(stack: dict[str, Any], emails: list[str], role: str = "user") -> list[str]:
    """Backend JWTs for many users at once, made as `local.token` makes them but without a process per user."""
    from crowdify.auth.backend_tokens import issue_user_token
    from crowdify.auth.users import set_role_by_email

    secret = stack["secrets"]["JWT_SECRET"]
    return [issue_user_token(set_role_by_email(stack["database_url"], email, role), secret) for email in emails]
