"""A Supabase Auth (GoTrue) admin API emulator for tests and the local stack (never deployed).

It answers the slice Crowdify uses: `POST /auth/v1/admin/users` (create a confirmed user) and
`GET /auth/v1/admin/users` (list), both only with the service-role key in `apikey` and in
`Authorization: Bearer`, in GoTrue's shapes and error codes (422 `email_exists`, `weak_password`).
Passwords are kept as salted hashes only, so a test can check which password arrived without the
emulator holding it. `POST /_emulator/faults` `{"status": 500, "count": n}` fails the next n calls.

    python -m local.supabase_auth_emulator --port 3003 --service-role-key KEY
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import signal
import threading
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MINIMUM_PASSWORD_LENGTH = 6


def _password_hash(salt: bytes, password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000).hex()


class SupabaseAuthEmulator:
    """Users in memory, served over HTTP from a daemon thread once `start()` is called."""

    def __init__(self, service_role_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service_role_key = service_role_key
        self._server = ThreadingHTTPServer((host, port), _RequestHandler)
        self._server.emulator = self  # type: ignore[attr-defined]
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Any]] = {}
        self._password_hashes: dict[str, tuple[bytes, str]] = {}
        self._fault_status: int | None = None
        self._fault_count = 0
        self._thread: threading.Thread | None = None

    def start(self) -> SupabaseAuthEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="supabase-auth-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(user)) for user in self._users.values()]

    def password_matches(self, email: str, password: str) -> bool:
        with self._lock:
            user = next((user for user in self._users.values() if user["email"] == email.lower()), None)
            if user is None:
                return False
            salt, expected = self._password_hashes[user["id"]]
        return hmac.compare_digest(_password_hash(salt, password), expected)

    def set_faults(self, status: int, count: int) -> None:
        with self._lock:
            self._fault_status, self._fault_count = status, count

    def authorised(self, headers: Any) -> bool:
        expected = self.service_role_key.encode()
        api_key = (headers.get("apikey") or "").encode()
        bearer = (headers.get("Authorization") or "").removeprefix("Bearer ").encode()
        return hmac.compare_digest(api_key, expected) and hmac.compare_digest(bearer, expected)

    def take_fault(self) -> int | None:
        with self._lock:
            if self._fault_count <= 0 or self._fault_status is None:
                return None
            self._fault_count -= 1
            return self._fault_status

    def create_user(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        email = request.get("email")
        password = request.get("password")
        if not isinstance(email, str) or "@" not in email:
            return 400, {"code": 400, "error_code": "validation_failed", "msg": "Unable to validate email address"}
        if not isinstance(password, str) or len(password) < MINIMUM_PASSWORD_LENGTH:
            return 422, {
                "code": 422,
                "error_code": "weak_password",
                "msg": f"Password should be at least {MINIMUM_PASSWORD_LENGTH} characters.",
            }
        now = datetime.now(UTC).isoformat()
        with self._lock:
            if any(user["email"] == email.lower() for user in self._users.values()):
                return 422, {
                    "code": 422,
                    "error_code": "email_exists",
                    "msg": "A user with this email address has already been registered",
                }
            user = {
                "id": str(uuid.uuid4()),
                "aud": "authenticated",
                "role": "authenticated",
                "email": email.lower(),
                "email_confirmed_at": now if request.get("email_confirm") else None,
                "app_metadata": {"provider": "email", "providers": ["email"], **(request.get("app_metadata") or {})},
                "user_metadata": request.get("user_metadata") or {},
                "created_at": now,
                "updated_at": now,
            }
            salt = os.urandom(16)
            self._users[user["id"]] = user
            self._password_hashes[user["id"]] = (salt, _password_hash(salt, password))
        return 200, user


class _RequestHandler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    @property
    def emulator(self) -> SupabaseAuthEmulator:
        return self.server.emulator  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry no secrets, but the default stderr logging only clutters test output.
        return

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") != "/auth/v1/admin/users":
            self._send(HTTPStatus.NOT_FOUND, {"code": 404, "msg": "Not found"})
            return
        if not self._admin_call():
            return
        self._send(HTTPStatus.OK, {"users": self.emulator.users(), "aud": "authenticated"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0].rstrip("/")
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            self._send(HTTPStatus.BAD_REQUEST, {"code": 400, "msg": "Could not read body"})
            return
        if path == "/_emulator/faults":
            self.emulator.set_faults(int(request.get("status", 500)), int(request.get("count", 1)))
            self._send(HTTPStatus.OK, {})
            return
        if path != "/auth/v1/admin/users":
            self._send(HTTPStatus.NOT_FOUND, {"code": 404, "msg": "Not found"})
            return
        if not self._admin_call():
            return
        status, answer = self.emulator.create_user(request if isinstance(request, dict) else {})
        self._send(HTTPStatus(status), answer)

    def _admin_call(self) -> bool:
        if not self.emulator.authorised(self.headers):
            self._send(HTTPStatus.UNAUTHORIZED, {"code": 401, "error_code": "no_authorization", "msg": "Invalid key"})
            return False
        fault = self.emulator.take_fault()
        if fault is not None:
            self._send(HTTPStatus(fault), {"code": fault, "msg": "emulated fault"})
            return False
        return True

    def _send(self, status: HTTPStatus, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3003)
    parser.add_argument("--service-role-key", required=True)
    arguments = parser.parse_args(argv)
    emulator = SupabaseAuthEmulator(arguments.service_role_key, arguments.host, arguments.port).start()
    print(f"Supabase Auth emulator at {emulator.url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
