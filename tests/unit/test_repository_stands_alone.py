"""The repository stands alone: nothing it needs to build, run or test lives beside it.

A clone with nothing next to it must pass `make test`, so no tracked file may point at a sibling folder of the
checkout (CI's own script, `.ci/`, may: CI alone decides what it brings).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
# Spelled in two parts so that this file does not name what it forbids.
SIBLING_FOLDER = ".." + "/shared"


def tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True, check=True, text=True
    ).stdout
    return [REPOSITORY / name for name in listing.split("\0") if name and not name.startswith(".ci/")]


def test_no_tracked_file_points_beside_the_checkout() -> None:
    offenders = []
    for path in tracked_files():
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(REPOSITORY)}:{number}"
            for number, line in enumerate(text.splitlines(), start=1)
            if SIBLING_FOLDER in line
        ]
    assert offenders == [], f"files that reach outside the repository: {offenders}"


def test_the_old_clients_contract_is_kept_in_the_repository() -> None:
    reference = REPOSITORY / "tests" / "contract" / "crowdify-gw-openapi.json"
    assert reference.is_file()
    assert "crowdify-gw-openapi.json" in (reference.parent / "README.md").read_text()
