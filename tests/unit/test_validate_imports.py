"""The door's functions import no SQLAlchemy (neither the ORM nor Core), no AWS SDK and none of the heavy libraries
other functions need; the functions that run Core or pg8000 only import no ORM.

Each handler module is imported in a fresh interpreter with only its folder and the shared layer on the path, as
Lambda imports it, and with no settings in the environment (importing must read none).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
VALIDATE_FOLDER = REPOSITORY / "functions" / "validate"
LAYER = REPOSITORY / "layers" / "shared"
HANDLER_MODULES = ["post_tickets_validate", "get_ticket", "get_event_scanner_bundle", "post_tickets_sync"]
FORBIDDEN = [
    "sqlalchemy",
    "crowdify.persistence.database",
    "crowdify.persistence.models",
    "crowdify.persistence.sessions",
    "boto3",
    "mercadopago",
    "reportlab",
    "qrcode",
    "sendgrid",
]

PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
module = __import__(sys.argv[3])
assert callable(module.lambda_handler)
print(json.dumps(sorted(sys.modules)))
"""


def test_every_handler_module_of_the_folder_is_checked() -> None:
    handlers = sorted(path.stem for path in VALIDATE_FOLDER.glob("*.py") if "lambda_handler =" in path.read_text())
    assert handlers == sorted(HANDLER_MODULES)


def loaded_modules(folder: Path, module: str) -> set[str]:
    """What importing the handler module loads, in a fresh interpreter as Lambda would import it."""
    completed = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(folder), str(LAYER), module],
        capture_output=True,
        text=True,
        env={"LANG": "C.UTF-8"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_handler_module_loads_nothing_heavy(module: str) -> None:
    loaded = loaded_modules(VALIDATE_FOLDER, module)
    assert "crowdify.persistence.pg_connection" in loaded  # the probe does see what the module imports
    offending = sorted(
        name for name in loaded if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN)
    )
    assert offending == []


# Functions that run Core or pg8000 only: the ORM and the mapped models (~80 ms of a cold start) stay unloaded.
CORE_ONLY_HANDLERS = [
    ("purchase", "post_purchases"),
    ("purchase", "get_purchase_status"),
    ("purchase", "post_purchase_cancel"),
    ("purchase", "get_tickets_user"),
    ("purchase", "get_purchase_tickets_pdf"),
    ("webhook", "scheduled_outbox_relay"),
]


@pytest.mark.parametrize(("folder", "module"), CORE_ONLY_HANDLERS)
def test_core_only_handlers_do_not_load_the_orm(folder: str, module: str) -> None:
    loaded = loaded_modules(REPOSITORY / "functions" / folder, module)
    assert "sqlalchemy" in loaded  # the probe does see what the module imports
    assert sorted(name for name in loaded if name == "sqlalchemy.orm" or name == "crowdify.persistence.models") == []
