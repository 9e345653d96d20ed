"""The `mercadopago_emulator` fixture, settings that point at it, and a wait for its webhooks."""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from crowdify.config.settings import Settings
from local.mercadopago_emulator import MercadoPagoEmulator

MERCADOPAGO_TEST_ACCESS_TOKEN = "test-mp-token"
MERCADOPAGO_TEST_WEBHOOK_SECRET = "crowdify-test-webhook-secret"


@pytest.fixture
def mercadopago_emulator() -> Iterator[MercadoPagoEmulator]:
    emulator = MercadoPagoEmulator(
        port=0,
        access_token=MERCADOPAGO_TEST_ACCESS_TOKEN,
        webhook_secret=MERCADOPAGO_TEST_WEBHOOK_SECRET,
    ).start()
    yield emulator
    emulator.stop()


def mercadopago_settings(emulator: MercadoPagoEmulator, **overrides: Any) -> Settings:
    """Settings whose MercadoPago fields point at `emulator`; `overrides` set any other field."""
    fields: dict[str, Any] = {
        "mercadopago_access_token": MERCADOPAGO_TEST_ACCESS_TOKEN,
        "mercadopago_webhook_secret": MERCADOPAGO_TEST_WEBHOOK_SECRET,
        "mercadopago_api_base_url": emulator.url,
        "mercadopago_timeout_seconds": 2.0,
    }
    return Settings(**(fields | overrides))


def emulator_call(
    emulator: MercadoPagoEmulator,
    method: str,
    path: str,
    payload: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, Any]:
    """One JSON request to the emulator over HTTP: (status, parsed body), error statuses included."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        emulator.url + path,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")


def wait_for_notifications(emulator: MercadoPagoEmulator, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The emulator's webhooks once at least `count` of them have finished (delivered or given up)."""
    deadline = time.monotonic() + timeout
    while True:
        notifications = emulator.notifications()
        if sum(1 for notification in notifications if notification["finished"]) >= count:
            return notifications
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} finished notifications, have {notifications}")
        time.sleep(0.02)
