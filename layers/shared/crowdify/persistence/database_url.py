"""The plain `postgresql://user:pass@host:port/db?sslmode=…` URL that hosts hand out, read for pg8000.

Standard library only: the door's SQLAlchemy-free connection (crowdify.persistence.pg_connection) and the engine
(crowdify.persistence.database) both read the URL here.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

SSL_MODES_THAT_VERIFY = {"verify-ca", "verify-full"}
SSL_MODES_THAT_ENCRYPT = {"require", *SSL_MODES_THAT_VERIFY}
DEFAULT_PORT = 5432


def ssl_arguments(ssl_mode: str | None) -> dict[str, Any]:
    """pg8000 knows nothing of libpq's `sslmode`: it takes an `ssl_context` instead (False: none at all; left out, it
    asks the server for TLS first, as libpq's default `prefer` does, making a new default context for every
    connection)."""
    if ssl_mode == "disable":
        return {"ssl_context": False}
    if ssl_mode not in SSL_MODES_THAT_ENCRYPT:
        return {}
    return {"ssl_context": _ssl_context(ssl_mode)}


@cache
def _ssl_context(ssl_mode: str) -> ssl.SSLContext:
    # One per mode and process: a new default context reads the system's certificates again, on every connection
    # (docs/architecture.md, "Behind a connection pooler").
    context = ssl.create_default_context()
    if ssl_mode == "verify-ca":
        context.check_hostname = False
    elif ssl_mode == "require":
        # libpq's `require` encrypts without checking the certificate; Supabase's pooler needs this.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_arguments(database_url: str) -> dict[str, Any]:
    """Keyword arguments for `pg8000.native.Connection`: the URL's parts, its other query parameters as they are
    (as SQLAlchemy's pg8000 dialect passes them), and `sslmode` as an SSL context."""
    parts = urlsplit(database_url)
    query = dict(parse_qsl(parts.query))
    arguments: dict[str, Any] = {
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "host": parts.hostname or "localhost",
        "port": parts.port or DEFAULT_PORT,
        "database": unquote(parts.path.lstrip("/")) or None,
    }
    ssl_mode = query.pop("sslmode", None)
    arguments.update(query)
    arguments.update(ssl_arguments(ssl_mode))
    return arguments
