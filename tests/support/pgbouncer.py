"""A PgBouncer of the tests' own in `pool_mode = transaction`, as production's pooler (Supabase's, RDS Proxy) runs:
on a free 127.0.0.1 port, its configuration and auth file in a temporary folder, in front of the test server.

`pytest --pooler=pgbouncer` runs the suites through it (tests/conftest.py), and `make bench` measures the
functions' modes behind it (bench/pooler.py). Transaction mode hands each transaction whichever server connection
is free, so anything that outlives a transaction on a connection (named prepared statements, SET, advisory locks)
meets another client's backend, or none.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

PACKAGE_HINT = (
    "PgBouncer is not installed: the pooler run of the tests needs it "
    "(Debian/Ubuntu: apt-get install pgbouncer; macOS: brew install pgbouncer)"
)
# Debian installs the binary in /usr/sbin, which is not on an ordinary user's PATH.
_KNOWN_LOCATIONS = ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer")
# PgBouncer refuses to run as root; as root it switches to this user after reading its configuration.
_UNPRIVILEGED_USER = "nobody"
START_TIMEOUT_SECONDS = 20
# Server connections per database and user. Tests run up to 30 threads against one database; the rest queue in
# PgBouncer, as they would in production's pooler. Two databases at once (integration, the e2e stack) stay well
# under a fresh server's max_connections of 100.
POOL_SIZE = 20
# A client queued longer than this gets an error rather than hanging the run (a test that waits for a transaction
# it keeps from starting).
QUERY_WAIT_TIMEOUT_SECONDS = 60


# What the functions are told behind a transaction-mode pooler (README, "Configuration").
POOLER_ENVIRONMENT = {"DATABASE_BEHIND_POOLER": "true"}


class PoolerUnavailable(RuntimeError):
    pass


def pgbouncer_binary(search_path: str | None = None) -> str:
    """The pgbouncer executable, or PoolerUnavailable naming the package to install."""
    found = shutil.which("pgbouncer", path=search_path)
    if found:
        return found
    if search_path is None:
        for location in _KNOWN_LOCATIONS:
            if os.access(location, os.X_OK):
                return location
    raise PoolerUnavailable(PACKAGE_HINT)


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A key and a self-signed certificate for 127.0.0.1 (clients with sslmode=require check neither)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_file, certificate_file = folder / "server.key", folder / "server.crt"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, certificate_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


class PgBouncer:
    """A PgBouncer process in front of the server at `server_url`; `url_for(database_url)` is the same database
    reached through it."""

    def __init__(self, server_url: str, pool_size: int = POOL_SIZE, tls: bool = False) -> None:
        self.server = make_url(server_url)
        self.pool_size = pool_size
        # Clients may then ask for TLS (a self-signed certificate), as production's pooler expects them to.
        self.tls = tls
        self.port = 0
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        binary = pgbouncer_binary()
        self.folder = Path(tempfile.mkdtemp(prefix="crowdify-pgbouncer-"))
        self.port = _free_port()
        configuration = self._write_configuration(self.folder)
        command = [binary, str(configuration)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", _UNPRIVILEGED_USER]
        log = (self.folder / "pgbouncer.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self._wait_until_it_answers()
        return self

    def _write_configuration(self, folder: Path) -> Path:
        user = self.server.username or "postgres"
        auth_file = folder / "userlist.txt"
        # The client is trusted; PgBouncer logs in to the server with this password (none on the test server).
        auth_file.write_text(f"{_quoted(user)} {_quoted(self.server.password or '')}\n")
        owned = [folder, auth_file]
        tls_settings = ""
        if self.tls:
            key_file, certificate_file = _self_signed_certificate(folder)
            owned += [key_file, certificate_file]
            tls_settings = (
                f"client_tls_sslmode = allow\nclient_tls_key_file = {key_file}\n"
                f"client_tls_cert_file = {certificate_file}\n"
            )
        configuration = folder / "pgbouncer.ini"
        owned.append(configuration)
        configuration.write_text(
            f"""\
[databases]
* = host={self.server.host or "127.0.0.1"} port={self.server.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {self.pool_size}
reserve_pool_size = 0
max_client_conn = 2000
query_wait_timeout = {QUERY_WAIT_TIMEOUT_SECONDS}
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
{tls_settings}"""
        )
        if os.geteuid() == 0:
            account = pwd.getpwnam(_UNPRIVILEGED_USER)
            for path in owned:
                os.chown(path, account.pw_uid, account.pw_gid)
        return configuration

    def _wait_until_it_answers(self) -> None:
        import pg8000.native

        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PoolerUnavailable(f"PgBouncer exited with {self.process.returncode}:\n{self.log()}")
            try:
                connection = pg8000.native.Connection(
                    user=self.server.username or "postgres",
                    host="127.0.0.1",
                    port=self.port,
                    database=self.server.database or "postgres",
                    timeout=2,
                )
            except Exception:
                time.sleep(0.05)
                continue
            connection.close()
            return
        self.stop()
        raise PoolerUnavailable(f"PgBouncer did not answer on port {self.port}:\n{self.log()}")

    def url_for(self, database_url: str) -> str:
        """`database_url` (a database on this pooler's server) reached through the pooler."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def log(self) -> str:
        if self.folder is None:
            return ""
        try:
            return (self.folder / "pgbouncer.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
