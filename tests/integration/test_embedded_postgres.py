"""The embedded Postgres the local stack falls back to: TCP on 127.0.0.1, trust, data kept between starts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pg8000.native
import pytest

from local.postgres import EmbeddedPostgres, create_database, drop_database, server_answers


def query(port: int, database: str, sql: str) -> list[list]:
    connection = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=port, database=database)
    try:
        return connection.run(sql)
    finally:
        connection.close()


@pytest.fixture
def data_parent() -> Iterator[Path]:
    """A folder outside pytest's tmp_path: pytest keeps that one private (0700) to its user, and when we
    run as root the server runs as another user, who could then not reach its data."""
    directory = Path(tempfile.mkdtemp(prefix="crowdify-embedded-postgres-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_an_embedded_server_starts_on_a_free_port_answers_and_stops(data_parent: Path) -> None:
    server = EmbeddedPostgres(data_parent / "postgres")
    url = server.start()
    try:
        assert url == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        assert server.port != 0
        assert query(server.port, "postgres", "SELECT 1") == [[1]]

        database_url = create_database(url, "crowdify_embedded")
        assert database_url.endswith(f":{server.port}/crowdify_embedded")
        assert query(server.port, "crowdify_embedded", "SELECT current_database()") == [["crowdify_embedded"]]
        drop_database(url, "crowdify_embedded")
        query(server.port, "postgres", "CREATE TABLE kept_between_starts (id int)")
        assert query(
            server.port, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'crowdify_embedded'"
        ) == [[0]]
    finally:
        server.stop()
    assert not server_answers("127.0.0.1", server.port)

    # The data folder is kept: a second start re-uses it instead of initialising a new one.
    restarted = EmbeddedPostgres(data_parent / "postgres")
    restarted.start()
    try:
        assert query(restarted.port, "postgres", "SELECT count(*) FROM kept_between_starts") == [[0]]
    finally:
        restarted.stop()
