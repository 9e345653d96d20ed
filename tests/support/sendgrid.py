"""The `sendgrid_emulator` fixture: a SendGrid emulator on a free port with its own outbox."""

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.sendgrid_emulator import SendGridEmulator

SENDGRID_TEST_API_KEY = "test-sendgrid-key"


@pytest.fixture
def sendgrid_emulator(tmp_path: Path) -> Iterator[SendGridEmulator]:
    # A short timeout fault keeps tests of the timeout path fast; tests may lower it further.
    emulator = SendGridEmulator(
        api_key=SENDGRID_TEST_API_KEY, outbox_dir=tmp_path / "outbox", timeout_fault_seconds=2.0
    ).start()
    yield emulator
    emulator.stop()


def sent_emails(emulator: SendGridEmulator) -> list[dict[str, Any]]:
    """Every email the emulator accepted, as its `GET /outbox` lists them."""
    with urllib.request.urlopen(f"{emulator.url}/outbox", timeout=5) as answer:
        return json.loads(answer.read())
