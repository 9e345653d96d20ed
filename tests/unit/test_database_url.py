"""The `postgresql://…?sslmode=…` URL hosts hand out, read into pg8000's keyword arguments (both database layers)."""

from __future__ import annotations

import ssl

from crowdify.persistence.database import driver_url_and_arguments
from crowdify.persistence.database_url import connect_arguments


def test_the_urls_parts_and_other_parameters_become_keyword_arguments() -> None:
    arguments = connect_arguments("postgresql://app%40prod:p%2Fss%3Aw@db.example.test:6543/crowdify?application_name=x")
    assert arguments == {
        "user": "app@prod",
        "password": "p/ss:w",
        "host": "db.example.test",
        "port": 6543,
        "database": "crowdify",
        "application_name": "x",
    }


def test_sslmode_becomes_an_ssl_context_as_libpq_would_use_it() -> None:
    # pg8000 left to itself would still ask the server for TLS first.
    assert connect_arguments("postgresql://u@h/d?sslmode=disable")["ssl_context"] is False
    assert "ssl_context" not in connect_arguments("postgresql://u@h/d")
    required = connect_arguments("postgresql://u@h/d?sslmode=require")["ssl_context"]
    assert (required.verify_mode, required.check_hostname) == (ssl.CERT_NONE, False)  # encrypted, not verified
    verified = connect_arguments("postgresql://u@h/d?sslmode=verify-full")["ssl_context"]
    assert (verified.verify_mode, verified.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert "sslmode" not in connect_arguments("postgresql://u@h/d?sslmode=require")


def test_the_engine_reads_the_url_the_same_way() -> None:
    url, arguments = driver_url_and_arguments("postgres://u:pw@h:5433/d?sslmode=require")
    assert url == "postgresql+pg8000://"
    assert {key: arguments[key] for key in ("user", "password", "host", "port", "database")} == {
        "user": "u",
        "password": "pw",
        "host": "h",
        "port": 5433,
        "database": "d",
    }
    assert isinstance(arguments["ssl_context"], ssl.SSLContext)
