"""The local stack in a real browser (Chromium through Playwright): CORS for a web client on another origin, and
the page MercadoPago's back URLs and a free order's link land on when no web client runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.journeys import buy, publish_event
from tests.support.stack import free_port, token_for

pytestmark = pytest.mark.e2e

STATUS_SECONDS = 20


class _BlankPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>web client</title>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def page_on_origin(chromium: Browser, origin: str) -> Iterator[Page]:
    """A page really served from `origin` (a page that Playwright made up would count as a public address, and
    Chromium refuses those any request to the loopback address whatever CORS says)."""
    server = ThreadingHTTPServer(("127.0.0.1", urlsplit(origin).port or 80), _BlankPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    page = chromium.new_page()
    try:
        page.goto(f"{origin}/")
        yield page
    finally:
        page.close()
        server.shutdown()
        server.server_close()


CREATE_EVENT_SCRIPT = """
async ([gateway, token]) => {
  try {
    const answer = await fetch(`${gateway}/api/v1/events`, {
      method: "POST",
      headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
      body: JSON.stringify({name: "Desde el navegador", starts_at: "2031-05-01T21:00:00", capacity_total: 5, price: 0}),
    });
    return {status: answer.status, name: (await answer.json()).name};
  } catch (error) {
    return {error: String(error)};
  }
}
"""


def test_a_web_client_on_an_allowed_origin_passes_the_browsers_preflight_and_another_origin_does_not(
    local_stack: dict[str, Any], chromium: Browser
) -> None:
    admin = token_for(local_stack, "admin")
    log_before = (local_stack["local_dir"] / "stack.log").read_text()
    arguments = [local_stack["gateway"], admin]

    with page_on_origin(chromium, local_stack["web_client_origin"]) as page:
        allowed = page.evaluate(CREATE_EVENT_SCRIPT, arguments)
    with page_on_origin(chromium, f"http://localhost:{free_port()}") as page:
        refused = page.evaluate(CREATE_EVENT_SCRIPT, arguments)

    # Authorization and a JSON content type make the browser ask first (OPTIONS); the answer let it send the POST.
    assert allowed == {"status": 201, "name": "Desde el navegador"}
    log = (local_stack["local_dir"] / "stack.log").read_text().removeprefix(log_before)
    assert "OPTIONS /api/v1/events -> 204 (CORS preflight" in log
    # Another origin gets no CORS headers, so the browser never sends the POST.
    assert refused["error"].startswith("TypeError"), refused
    assert log.count("POST /api/v1/events -> 201") == 1


def test_the_checkout_returns_to_a_local_page_that_shows_the_order_and_follows_its_status(
    local_stack: dict[str, Any], chromium: Browser
) -> None:
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    buyer = token_for(local_stack, "user", "browser-buyer@example.test")
    paid_event = publish_event(gateway, admin, price=8000)
    purchase = buy(gateway, buyer, paid_event["id"], ["Ana Pérez"])
    page = chromium.new_page()
    page.add_init_script(f"localStorage.setItem('crowdify.token', {buyer!r})")

    # The buyer clicks Approve on the checkout page, which sends them to the back URL for a success.
    page.goto(purchase.payment_link)
    page.click("#approve")
    page.wait_for_url(f"{gateway}/local/purchase/success?**")

    expect(page.locator("#order-id")).to_have_text(purchase.order_id)
    expect(page.locator("#outcome")).to_have_text("success")
    parameters = page.locator("#parameters")
    expect(parameters).to_contain_text("collection_status")
    expect(parameters).to_contain_text("approved")
    expect(parameters).to_contain_text(purchase.order_id)
    expect(page.locator("#order-status")).to_have_text("completed", timeout=STATUS_SECONDS * 1000)

    # A free order's link is that page too, completed at once.
    free_event = publish_event(gateway, admin, price=0)
    free_order = buy(gateway, buyer, free_event["id"], ["Bruno Díaz"])
    assert free_order.payment_link.startswith(f"{gateway}/local/purchase/success?order_id=")
    page.goto(free_order.payment_link)
    expect(page.locator("#order-id")).to_have_text(free_order.order_id)
    expect(page.locator("#order-status")).to_have_text("completed", timeout=STATUS_SECONDS * 1000)
