"""Cold import time of every built function, as Lambda imports it (`make bench` builds for this CPU first).

Each function's handler module is imported in a fresh interpreter with only the function's folder and the
layer's `python/` folder on the path and no environment beyond what the template sets literally (importing
must read no settings). Median of 5 processes, with the precompiled bytecode that `make build` writes, and
without it (`-B` on a copy without `__pycache__`: what a read-only file system would pay on every cold start).
"""

from __future__ import annotations

import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from local.sam_template import SamTemplate, load_template

REPOSITORY = Path(__file__).resolve().parent.parent
# `make bench` builds for this machine's CPU first: the deployed arm64 build cannot be imported on x86_64.
BUILD = REPOSITORY / ".aws-sam" / ("build" if platform.machine() in ("aarch64", "arm64") else "build-x86_64")
RUNS = 5
# Lambda's own, beside the literal values the template's Globals set (`literal_environment`).
LAMBDA_ENVIRONMENT = {"LANG": "C.UTF-8"}
IMPORT_PROBE = """
import sys, time
sys.path[:0] = sys.argv[1:3]
started = time.perf_counter()
__import__(sys.argv[3])
print((time.perf_counter() - started) * 1000)
"""


def literal_environment() -> dict[str, str]:
    """The environment every function gets from the template's Globals, as far as it is written out (a value that is
    a parameter or a reference is left out: importing must read no settings)."""
    variables = load_template(REPOSITORY / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    return LAMBDA_ENVIRONMENT | {name: value for name, value in variables.items() if isinstance(value, str)}


def import_milliseconds(
    function_directory: Path, layer_directory: Path, module: str, compiled: bool, environment: dict[str, str]
) -> float:
    flags = ["-I"] if compiled else ["-I", "-B"]
    samples = []
    for _ in range(RUNS):
        completed = subprocess.run(
            [sys.executable, *flags, "-c", IMPORT_PROBE, str(function_directory), str(layer_directory), module],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"importing {module} failed:\n{completed.stderr[-2000:]}")
        samples.append(float(completed.stdout.strip().splitlines()[-1]))
    return round(statistics.median(samples), 1)


def without_bytecode(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return destination


def run() -> dict[str, Any]:
    layer_directory = BUILD / "SharedLayer" / "python"
    if not layer_directory.is_dir():
        raise RuntimeError(f"no build in {BUILD}: run `make bench` (it builds for this machine first)")
    template = SamTemplate.read(REPOSITORY / "template.yaml")
    environment = literal_environment()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        bare_layer = without_bytecode(layer_directory, Path(scratch) / "layer")
        for logical_id, function in sorted(template.functions.items()):
            function_directory = BUILD / logical_id
            module = function.handler.rsplit(".", 1)[0]
            bare_function = without_bytecode(function_directory, Path(scratch) / logical_id)
            results[logical_id] = {
                "compiled_ms": import_milliseconds(
                    function_directory, layer_directory, module, compiled=True, environment=environment
                ),
                "uncompiled_ms": import_milliseconds(
                    bare_function, bare_layer, module, compiled=False, environment=environment
                ),
            }
    return results


if __name__ == "__main__":
    for name, figures in run().items():
        print(f"{name:<36} {figures['compiled_ms']:>8} ms  (without bytecode {figures['uncompiled_ms']} ms)")
