"""The pooler run of the tests (`pytest --pooler=pgbouncer`) on a machine without PgBouncer: a clear failure that
names the package, never a silent skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pgbouncer import PoolerUnavailable, pgbouncer_binary


def test_without_pgbouncer_on_the_path_the_failure_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(PoolerUnavailable, match=r"apt-get install pgbouncer"):
        pgbouncer_binary(search_path=str(tmp_path))


def test_a_pgbouncer_on_the_path_is_the_one_used(tmp_path: Path) -> None:
    binary = tmp_path / "pgbouncer"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert pgbouncer_binary(search_path=str(tmp_path)) == str(binary)
