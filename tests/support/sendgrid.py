"""The `sendgrid_emulator` fixture: a SendGrid emulator on a free port with its own outbox."""

from collections.abc import Iterator
from pathlib import Path

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
