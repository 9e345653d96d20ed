"""An emulator started from its command line in a process of its own, as a stack or a person starts it."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
LISTENING_URL = re.compile(r"listening on (http://[^\s,]+)")


@contextmanager
def emulator_process(module: str, *arguments: str, open_files_limit: int | None = None) -> Iterator[str]:
    """Runs `python -m module --port 0 arguments…` and yields the URL it prints; stops it with SIGTERM.

    `open_files_limit` starts it with that soft limit on open files, as many machines set it.
    """

    def limit_open_files() -> None:
        if open_files_limit is not None:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (open_files_limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
            )

    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
        preexec_fn=limit_open_files,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        found = LISTENING_URL.search(first_line)
        if found is None:
            raise AssertionError(f"{module} did not say where it listens: {first_line!r}")
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=15)
