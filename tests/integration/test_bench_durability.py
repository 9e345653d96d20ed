"""Benchmarks refuse a Postgres whose writes are not durable, such as the embedded one of `make run`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench._durable_postgres import DURABILITY_SETTINGS, NotDurable, durability_settings, require_durable
from local.postgres import EmbeddedPostgres, test_server_url


@pytest.fixture
def embedded_server_url() -> Iterator[str]:
    # Outside pytest's tmp_path (private to root): as root, the server runs as another user who must reach it.
    parent = Path(tempfile.mkdtemp(prefix="crowdify-bench-durability-"))
    server = EmbeddedPostgres(parent / "postgres")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(parent, ignore_errors=True)


def test_the_embedded_postgres_is_refused_naming_what_is_off(embedded_server_url: str) -> None:
    with pytest.raises(NotDurable) as refused:
        require_durable(embedded_server_url)

    assert str(refused.value).startswith("REFUSING TO BENCHMARK")
    assert "fsync, synchronous_commit, full_page_writes off" in str(refused.value)


def test_the_settings_are_read_from_the_server() -> None:
    settings = durability_settings(test_server_url())

    assert tuple(settings) == DURABILITY_SETTINGS
    assert set(settings.values()) <= {"on", "off", "local", "remote_write", "remote_apply"}
