"""Supabase Auth's admin API, for the one thing Crowdify asks of it: create a sign-in account.

Called with the project's service-role key, only when SUPABASE_SERVICE_ROLE_KEY is set. The password goes to
Supabase and nowhere else: it is not stored, logged, audited or echoed in an error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import NoReturn

from crowdify.config.settings import Settings
from crowdify.core.errors import Conflict, DependencyUnavailable, InvalidRequest

TIMEOUT_SECONDS = 8.0


@dataclass(frozen=True)
class AuthAccount:
    id: uuid.UUID
    email: str


def create_account(
    settings: Settings, email: str, password: str, first_name: str, last_name: str, role: str
) -> AuthAccount:
    """A confirmed Supabase Auth user; `role` goes in app_metadata (which only the service role can write)."""
    body = {
        "email": email,
        "password": password,
        "email_confirm": True,
        "user_metadata": {"first_name": first_name, "last_name": last_name},
        "app_metadata": {"role": role},
    }
    if not settings.supabase_url.startswith(("https://", "http://")):
        raise InvalidRequest("SUPABASE_URL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        f"{settings.supabase_url.rstrip('/')}/auth/v1/admin/users",
        data=json.dumps(body).encode(),
        headers={
            "apikey": settings.supabase_service_role_key,
            "Authorization": f"Bearer {settings.supabase_service_role_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 (the scheme is checked above)
            created = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            _raise_for_refusal(error.code, error.read())
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        raise DependencyUnavailable("Supabase Auth is unavailable, try again") from error
    return AuthAccount(id=uuid.UUID(created["id"]), email=created.get("email") or email)


def _raise_for_refusal(status: int, raw_body: bytes) -> NoReturn:
    try:
        answer = json.loads(raw_body or b"{}")
    except ValueError:
        answer = {}
    code = answer.get("error_code") or answer.get("code") if isinstance(answer, dict) else None
    message = (answer.get("msg") or answer.get("message")) if isinstance(answer, dict) else None
    if code in ("email_exists", "user_already_exists") or status == 409:
        raise Conflict(
            "A Supabase Auth account with this email already exists: have them sign in once, "
            "then give them the scanner role with PUT /api/v1/admin/users/{user_id}/role"
        )
    if status in (400, 422):
        raise InvalidRequest(f"Supabase Auth refused the account: {message or code or status}")
    raise DependencyUnavailable("Supabase Auth is unavailable, try again")
