"""Where the local stack sends buyers back after the checkout (FRONTEND_BASE_URL)."""

from __future__ import annotations

import pytest

from local.stack import frontend_base_url

GATEWAY = "http://127.0.0.1:3000"


def test_without_a_web_client_back_urls_land_on_the_stacks_own_order_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRONTEND_BASE_URL", raising=False)

    assert frontend_base_url(GATEWAY) == "http://127.0.0.1:3000/local"


def test_a_configured_frontend_base_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTEND_BASE_URL", "http://localhost:5173")

    assert frontend_base_url(GATEWAY) == "http://localhost:5173"
