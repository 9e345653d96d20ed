"""Fuzzing: every route of openapi.json, with an admin's valid token, against the local stack over HTTP.

Schemathesis generates requests from the same document the handlers' models produce (`make openapi`). Every
answer must be something other than a 5xx, and a documented status must carry a body of the documented shape.
CI runs a fixed seed with a small example budget; `CROWDIFY_FUZZ_EXAMPLES=500 make test` is the release run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.stack import token_for

pytestmark = pytest.mark.e2e

SCHEMA = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "openapi.json")
EXAMPLES_PER_ROUTE = int(os.environ.get("CROWDIFY_FUZZ_EXAMPLES", "15"))
requests_sent: list[str] = []


@pytest.fixture(scope="module")
def admin_headers(local_stack: dict[str, Any]) -> Iterator[dict[str, str]]:
    yield {"Authorization": f"Bearer {token_for(local_stack, 'admin', 'fuzz-admin@example.test')}"}
    print(f"\nfuzz: {len(requests_sent)} requests, {len(set(requests_sent))} distinct method and path pairs")


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_documented_shapes(
    case: Any, local_stack: dict[str, Any], admin_headers: dict[str, str]
) -> None:
    requests_sent.append(f"{case.method} {case.path}")
    case.call_and_validate(
        base_url=local_stack["gateway"],
        headers=admin_headers,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )
