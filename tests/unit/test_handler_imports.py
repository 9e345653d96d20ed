"""Importing any function's handler needs no environment variable and does no I/O (docs/architecture.md "Cold start
budget"): settings are read on first use. One fresh interpreter imports every handler of template.yaml with an
empty environment, as a cold start with nothing configured would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from local.sam_template import SamTemplate

REPOSITORY = Path(__file__).resolve().parents[2]
IMPORT_ALL = """
import importlib, sys
for directory in sys.argv[1].split(":"):
    sys.path.insert(0, directory)
for module in sys.argv[2].split(","):
    importlib.import_module(module)
from crowdify.config.settings import get_settings
print("imported", len(sys.argv[2].split(",")), "settings read", get_settings.cache_info().currsize)
"""


def test_every_handler_imports_with_no_environment() -> None:
    template = SamTemplate.read(REPOSITORY / "template.yaml")
    directories = {str(path) for path in template.layer_directories}
    directories |= {str(function.code_directory) for function in template.functions.values()}
    modules = sorted({function.handler.rsplit(".", 1)[0] for function in template.functions.values()})
    completed = subprocess.run(
        [sys.executable, "-I", "-c", IMPORT_ALL, ":".join(sorted(directories)), ",".join(modules)],
        env={},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == f"imported {len(modules)} settings read 0"
