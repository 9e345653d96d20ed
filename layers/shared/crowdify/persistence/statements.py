"""The one way plain SQL is run where the ORM is not wanted: `:name` parameters, in the caller's transaction.

Two connections answer it: crowdify.persistence.pg_connection.Connection (pg8000, each statement prepared once per
warm container: the door's and the purchase's paths) and crowdify.persistence.database.CoreStatements (SQLAlchemy
Core, everywhere else and when a path also needs the ORM). Rows of either have attribute access (`row.status`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class SqlStatements(Protocol):
    """A connection in a transaction that runs plain SQL with `:name` parameters."""

    def execute(self, statement: str, parameters: Mapping[str, Any] | None = None) -> object: ...

    def first(self, statement: str, parameters: Mapping[str, Any] | None = None) -> Any | None: ...
