"""The embedded Postgres the local stack falls back to: TCP on 127.0.0.1, trust, data kept between starts, wherever
the clone lives."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pg8000.native
import psutil
import pytest

from local import postgres
from local.postgres import EmbeddedPostgres, create_database, drop_database, server_answers


def query(port: int, database: str, sql: str) -> list[list]:
    connection = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=port, database=database)
    try:
        return connection.run(sql)
    finally:
        connection.close()


@pytest.fixture
def data_parent() -> Iterator[Path]:
    """A folder others may enter, as most clones live in (a folder only its owner may enter is the test below)."""
    directory = Path(tempfile.mkdtemp(prefix="crowdify-embedded-postgres-"))
    directory.chmod(0o755)
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


@pytest.fixture
def private_folder() -> Iterator[Path]:
    """A folder only its owner may enter (mode 700), as root's home or a `mktemp -d` folder is."""
    directory = Path(tempfile.mkdtemp(prefix="crowdify-private-"))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def shared_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """local.postgres.SHARED_FOLDER, fresh for this test: root's, readable by all (as /var/lib's folders are)."""
    directory = Path(tempfile.mkdtemp(prefix="crowdify-shared-"))
    directory.chmod(0o755)
    monkeypatch.setattr(postgres, "SHARED_FOLDER", directory / "embedded-postgres")
    yield directory / "embedded-postgres"
    shutil.rmtree(directory, ignore_errors=True)


def test_a_clone_in_a_folder_no_one_else_may_enter_starts_embedded_postgres_without_opening_that_folder(
    private_folder: Path, shared_folder: Path
) -> None:
    # As root the server runs as an unprivileged user, who can neither run binaries nor keep data in this folder.
    packages = private_folder / "site-packages"
    installation = packages / "embedded_postgres" / "pginstall"
    shutil.copytree(postgres.INSTALLATION, installation, symlinks=True)
    shutil.copytree(postgres.INSTALLATION.parent.parent / "embedded_postgres.libs", packages / "embedded_postgres.libs")
    server = EmbeddedPostgres(private_folder / ".local" / "postgres", installation=installation)
    server.start()
    try:
        assert query(server.port, "postgres", "SELECT 1") == [[1]]
        postmaster = psutil.Process(int((server.data_dir / "postmaster.pid").read_text().splitlines()[0]))
        if os.geteuid() == 0:
            assert postmaster.username() == postgres.SYSTEM_USER
            copy = shared_folder / f"pginstall-{version('embedded-postgres')}"
            assert server.binaries == copy / "embedded_postgres" / "pginstall" / "bin"
            assert server.data_dir.parent == shared_folder
            assert (private_folder / ".local" / "postgres").resolve() == server.data_dir
        else:
            assert postmaster.username() == pwd.getpwuid(os.geteuid()).pw_name
            assert server.data_dir == private_folder / ".local" / "postgres"
        query(server.port, "postgres", "CREATE TABLE kept_between_starts (id int)")
    finally:
        server.stop()
    assert not server_answers("127.0.0.1", server.port)
    # Nothing was opened up to make it work.
    assert stat.S_IMODE(private_folder.stat().st_mode) == 0o700

    # The same clone starts on the same data again.
    restarted = EmbeddedPostgres(private_folder / ".local" / "postgres", installation=installation)
    restarted.start()
    try:
        assert restarted.data_dir == server.data_dir
        assert query(restarted.port, "postgres", "SELECT count(*) FROM kept_between_starts") == [[0]]
    finally:
        restarted.stop()

    if os.geteuid() == 0:
        # The clone is deleted: the next start of another one removes the data placed for it.
        shutil.rmtree(private_folder / ".local")
        other = EmbeddedPostgres(private_folder / "other" / "postgres", installation=installation)
        other._prepare_directory()
        assert not server.data_dir.exists()
        assert other.data_dir.exists()
