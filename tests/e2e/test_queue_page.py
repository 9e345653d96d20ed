"""The waiting-room page (/queue/) in a real Chromium against the local stack: a buyer waits before the opening, is
admitted by the inlet and buys on the event page up to the checkout; a late buyer finds the event sold out and
joins the waiting list from the page; a page opened without a token asks for one, says when the network is gone,
and says when an event has no waiting room.

Each buyer is a fresh browser context at a phone's width. Screenshots go to .local/artifacts/queue-page/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from local.state import REPOSITORY_ROOT
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, VIEWPORT
from tests.support.journeys import approve, bearer, buy, publish_event
from tests.support.stack import token_for

pytestmark = pytest.mark.e2e

QUEUE_DIST = REPOSITORY_ROOT / "web" / "queue" / "dist"
ARTIFACTS = REPOSITORY_ROOT / ".local" / "artifacts" / "queue-page"
# A loaded 2-core machine: cold functions take seconds, the inlet runs every 5 s (CROWDIFY_SCHEDULE_SECONDS).
SEEN_MILLISECONDS = 30_000
ADMITTED_MILLISECONDS = 90_000
# Long enough for the page to load and join before the opening, even with the queue functions starting cold.
OPENS_IN_SECONDS = 30


@pytest.fixture(scope="module")
def browser(browser_playwright: Any) -> Iterator[Browser]:
    if not (QUEUE_DIST / "index.html").exists():
        pytest.fail(f"The waiting-room page is not built ({QUEUE_DIST}): run `make queue-page`", pytrace=False)
    launched = browser_playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


class Phones:
    """Fresh phones (each its own browser context, so its own sessionStorage); collects the pages' uncaught errors."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def open(self) -> Page:
        context = self.browser.new_context(
            viewport=VIEWPORT, device_scale_factor=2, locale="es-AR", timezone_id="America/Argentina/Buenos_Aires"
        )
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


@pytest.fixture
def phones(browser: Browser) -> Iterator[Phones]:
    opened = Phones(browser)
    yield opened
    for context in opened.contexts:
        context.close()
    assert opened.errors == [], f"the page threw: {opened.errors}"


def artifacts(name: str) -> Path:
    directory = ARTIFACTS / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def publish_with_waiting_room(gateway: str, admin: str, opens_at: datetime, **fields: Any) -> dict[str, Any]:
    waiting_room = {"opens_at": opens_at.isoformat(), "admissions_per_minute": 600, "admission_minutes": 10}
    return publish_event(gateway, admin, waiting_room=waiting_room, **fields)


def buyer_token(stack: dict[str, Any], name: str) -> str:
    return token_for(stack, "user", email=f"queue-{name}-{time.time_ns()}@example.test")


def admitted_through_the_api(gateway: str, token: str, event_id: str, timeout: float = 90) -> None:
    """What the page does, over HTTP: join, then poll until the inlet admits."""
    url = f"{gateway}/api/v1/events/{event_id}/queue"
    joined = requests.post(url, headers=bearer(token), timeout=15)
    assert joined.status_code == 201, joined.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(url, headers=bearer(token), timeout=15).json()
        if status["state"] == "admitted":
            return
        time.sleep(2)
    raise AssertionError(f"not admitted within {timeout:.0f} s: {status}")


def test_a_buyer_waits_for_the_opening_is_admitted_and_reaches_the_checkout(
    local_stack: dict[str, Any], phones: Phones
) -> None:
    shots = artifacts("admitted")
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    buyer = buyer_token(local_stack, "early")
    opens_at = datetime.now(UTC) + timedelta(seconds=OPENS_IN_SECONDS)
    event = publish_with_waiting_room(gateway, admin, opens_at, name="Recital con sala de espera", capacity_total=10)

    page = phones.open()
    page.goto(f"{gateway}/queue/?event={event['id']}#token={buyer}")
    # Before the opening: in the room, no place yet, told the places are drawn at random.
    expect(page.locator("#state")).to_have_text(
        "You are in the waiting room; the sale has not opened yet", timeout=SEEN_MILLISECONDS
    )
    expect(
        page.get_by_text("Places are drawn at random at the opening; arriving early gives no advantage.")
    ).to_be_visible()
    expect(page.get_by_text("The sale opens at")).to_be_visible()
    assert datetime.now(UTC) < opens_at, "the page was too slow to be seen before the opening"
    # The token left the address bar (it stays in this tab's sessionStorage).
    assert "token" not in page.url
    page.screenshot(path=shots / "1-before-opening.png")

    # The inlet draws the places at the opening and admits: the page sends the buyer to the event page.
    page.wait_for_url(f"{gateway}/local/events/?event={event['id']}", timeout=ADMITTED_MILLISECONDS)
    expect(page.locator("#event-name")).to_have_text("Recital con sala de espera", timeout=SEEN_MILLISECONDS)
    page.screenshot(path=shots / "2-event-page.png")
    page.locator("#name-0").fill("Ana Pérez")
    page.locator("#document-number-0").fill("30.111.222")
    page.get_by_role("button", name="Buy").click()
    page.wait_for_url(f"{local_stack['mercadopago']}/**", timeout=SEEN_MILLISECONDS)
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    page.screenshot(path=shots / "3-checkout.png")

    # Back in the room (the token is still in this tab): the turn was used by the purchase, so the page says so and
    # leaves the choice to join again, at the back, to the buyer; once they do, the inlet soon admits them again and
    # the page sends them on for this new turn.
    page.goto(f"{gateway}/queue/?event={event['id']}")
    expect(page.locator("#place")).to_have_text("You have already used your turn to buy.", timeout=SEEN_MILLISECONDS)
    page.get_by_role("button", name="Join the line again (at the back)").click()
    page.wait_for_url(f"{gateway}/local/events/?event={event['id']}", timeout=ADMITTED_MILLISECONDS)
    # Coming back with the Back button, the page is not bounced away a second time: it offers the link and the time
    # left.
    page.go_back()
    expect(page.locator("#state")).to_have_text("It is your turn!", timeout=SEEN_MILLISECONDS)
    expect(page.get_by_role("link", name="Buy your tickets now")).to_have_attribute(
        "href", f"/local/events/?event={event['id']}"
    )
    expect(page.locator("#time-left")).to_contain_text("Time left to buy: ")
    page.wait_for_timeout(3000)
    assert page.url.startswith(f"{gateway}/queue/"), page.url
    page.screenshot(path=shots / "4-back-in-the-room.png")


def test_a_late_buyer_finds_the_event_sold_out_and_joins_the_waiting_list(
    local_stack: dict[str, Any], phones: Phones
) -> None:
    shots = artifacts("sold-out")
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    first, late = buyer_token(local_stack, "first"), buyer_token(local_stack, "late")
    opens_at = datetime.now(UTC) + timedelta(seconds=5)
    event = publish_with_waiting_room(gateway, admin, opens_at, name="Sala íntima", capacity_total=1)
    # Someone else goes through the room and buys the only seat.
    admitted_through_the_api(gateway, first, event["id"])
    approve(buy(gateway, first, event["id"], ["Beto Gómez"]))

    page = phones.open()
    page.goto(f"{gateway}/queue/?event={event['id']}#token={late}")
    expect(page.locator("#state")).to_have_text("Sold out", timeout=ADMITTED_MILLISECONDS)
    page.screenshot(path=shots / "1-sold-out.png")
    page.get_by_role("button", name="Join the waiting list").click()
    expect(page.locator("#waiting-list-result")).to_have_text(
        "You are on the waiting list, number 1. We will email you if a seat comes free.", timeout=SEEN_MILLISECONDS
    )
    expect(page.get_by_role("button", name="Join the waiting list")).to_be_hidden()
    page.screenshot(path=shots / "2-on-the-waiting-list.png")

    entry = requests.get(f"{gateway}/api/v1/events/{event['id']}/waiting-list", headers=bearer(late), timeout=15)
    assert entry.status_code == 200, entry.text
    assert (entry.json()["status"], entry.json()["seats"]) == ("waiting", 1)


def test_a_page_without_a_token_asks_for_one_and_an_event_without_a_room_says_so(
    local_stack: dict[str, Any], phones: Phones
) -> None:
    shots = artifacts("no-token")
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    buyer = buyer_token(local_stack, "pasted")
    event = publish_with_waiting_room(gateway, admin, datetime.now(UTC) + timedelta(hours=1), name="Sin apuro")

    page = phones.open()
    page.goto(f"{gateway}/queue/?event={event['id']}")
    expect(page.get_by_text("Sign in to take your place in line.")).to_be_visible(timeout=SEEN_MILLISECONDS)
    page.screenshot(path=shots / "1-asks-for-a-token.png")

    # A token the API refuses: the page says so and asks again.
    page.get_by_label("Sign-in token").fill("not-a-token")
    page.get_by_role("button", name="Join the line").click()
    expect(page.get_by_text("Your sign-in was not accepted")).to_be_visible(timeout=SEEN_MILLISECONDS)
    page.screenshot(path=shots / "2-token-refused.png")

    # A good one: the buyer is in the room, before the opening.
    page.get_by_label("Sign-in token").fill(buyer)
    page.get_by_role("button", name="Join the line").click()
    expect(page.locator("#state")).to_have_text(
        "You are in the waiting room; the sale has not opened yet", timeout=SEEN_MILLISECONDS
    )
    expect(page.locator("#token-form")).to_be_hidden()
    page.screenshot(path=shots / "3-in-the-room.png")
    status = requests.get(f"{gateway}/api/v1/events/{event['id']}/queue", headers=bearer(buyer), timeout=15)
    assert status.json()["state"] == "waiting", status.text

    # The phone loses the network: the page says so and keeps the place; back online, it checks again at once.
    page.context.set_offline(True)
    expect(page.locator("#network")).to_contain_text("No connection", timeout=SEEN_MILLISECONDS)
    page.screenshot(path=shots / "4-offline.png")
    page.context.set_offline(False)
    expect(page.locator("#network")).to_be_hidden(timeout=SEEN_MILLISECONDS)

    # An event sold without a waiting room: the page says so and points to the event page, where anyone buys.
    open_sale = publish_event(gateway, admin, name="Venta libre")
    page.goto(f"{gateway}/queue/?event={open_sale['id']}")
    expect(page.locator("#state")).to_have_text("This event has no waiting room.", timeout=SEEN_MILLISECONDS)
    expect(page.get_by_role("link", name="Go to the event page")).to_have_attribute(
        "href", f"/local/events/?event={open_sale['id']}"
    )
    page.screenshot(path=shots / "5-no-waiting-room.png")
