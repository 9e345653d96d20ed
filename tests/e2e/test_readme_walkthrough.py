"""The README's walk-through, pasted into a shell: it runs whole against a stack and ends at the door."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest

from local.state import REPOSITORY_ROOT

pytestmark = pytest.mark.e2e

WALKTHROUGH_MARKER = "<!-- walkthrough:"


def walkthrough_script() -> str:
    readme = (REPOSITORY_ROOT / "README.md").read_text()
    after_marker = readme[readme.index(WALKTHROUGH_MARKER) :]
    block = re.search(r"```sh\n(.*?)```", after_marker, re.DOTALL)
    assert block is not None, "the README's walk-through has no sh block after its marker"
    return block.group(1)


def test_the_readme_walkthrough_runs_from_purchase_to_the_door(local_stack: dict[str, Any]) -> None:
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough_script()],
        cwd=REPOSITORY_ROOT,
        env={
            **os.environ,
            "CROWDIFY_LOCAL_DIR": str(local_stack["local_dir"]),
            "API": local_stack["gateway"],
            "MAIL": local_stack["sendgrid"],
            "MAKEFLAGS": "",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[-5:] == ["accepted", "already_used", "VERANO20", "20.0", "12000.0"], completed.stdout
    assert "Gala de verano" in lines, completed.stdout
