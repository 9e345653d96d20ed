"""The files the local stack shares with `make token` and the tests: stack.json and secrets.json.

Both live in the local folder, `.local/` unless `CROWDIFY_LOCAL_DIR` names another one (tests use
their own folder, so they never collide with a running `make run`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPOSITORY_ROOT / "template.yaml"
SHARED_LAYER_DIRECTORY = REPOSITORY_ROOT / "layers" / "shared"

STACK_KEYS = ("gateway", "mercadopago", "sendgrid", "moto", "database_url")
SECRET_NAMES = (
    "JWT_SECRET",
    "QR_SECRET",
    "MERCADOPAGO_ACCESS_TOKEN",
    "MERCADOPAGO_WEBHOOK_SECRET",
    "SENDGRID_API_KEY",
)


class StackNotRunning(RuntimeError):
    pass


def local_directory() -> Path:
    configured = os.environ.get("CROWDIFY_LOCAL_DIR")
    return Path(configured).resolve() if configured else REPOSITORY_ROOT / ".local"


def stack_file(directory: Path | None = None) -> Path:
    return (directory or local_directory()) / "stack.json"


def secrets_file(directory: Path | None = None) -> Path:
    return (directory or local_directory()) / "secrets.json"


def use_shared_layer() -> None:
    """Make `crowdify` importable, as the layer makes it in Lambda (`python -m local.…` runs from the root)."""
    layer = str(SHARED_LAYER_DIRECTORY)
    if layer not in sys.path:
        sys.path.insert(0, layer)


def write_json_atomically(path: Path, content: dict[str, Any], mode: int = 0o644) -> None:
    # Readers poll for these files: they must never see one half written.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(content, indent=2) + "\n")
    partial.chmod(mode)
    partial.replace(path)


def read_stack(directory: Path | None = None) -> dict[str, Any]:
    path = stack_file(directory)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StackNotRunning(
            f"The local stack is not running ({path} does not exist): start it with `make run`."
        ) from None


def read_secrets(directory: Path | None = None) -> dict[str, str]:
    path = secrets_file(directory)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StackNotRunning(
            f"No local secrets yet ({path} does not exist): start the stack with `make run`."
        ) from None


def load_or_create_secrets(directory: Path | None = None) -> dict[str, str]:
    """The local secrets, generated on first use and kept, so tokens stay valid across restarts."""
    path = secrets_file(directory)
    existing: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in SECRET_NAMES if not existing.get(name)]
    if missing:
        for name in missing:
            existing[name] = _generate_secret(name)
        write_json_atomically(path, existing, mode=0o600)
    return existing


def _generate_secret(name: str) -> str:
    if name == "QR_SECRET":
        return _generate_qr_secret()
    if name == "MERCADOPAGO_ACCESS_TOKEN":
        # The shape MercadoPago gives test credentials, so nothing trips over the format.
        return f"TEST-{secrets.randbelow(10**16):016d}-{secrets.token_hex(16)}"
    if name == "SENDGRID_API_KEY":
        return f"SG.{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}"
    return secrets.token_urlsafe(32)


def _generate_qr_secret() -> str:
    use_shared_layer()
    try:
        from crowdify.auth.qr_tokens import generate_qr_secret
    except ModuleNotFoundError:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return generate_qr_secret()
