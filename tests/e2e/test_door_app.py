"""The door app in a real Chromium against the local stack: a phone pairs from a link, films real tickets (QR codes
cut from the emailed PDFs of orders paid through the MercadoPago emulator), loses the network, comes back, is revoked.

Screenshots of every verdict and state are kept in .local/artifacts/door-app/ (not committed).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import qrcode
import requests
from playwright.sync_api import Page, expect

from local.state import REPOSITORY_ROOT
from tests.support.browser import Phone, PrintedCode, artifacts_directory, printed_codes, write_camera_video
from tests.support.journeys import approve, bearer, buy, publish_event, wait_for_email
from tests.support.stack import token_for

pytestmark = pytest.mark.e2e

VERDICT_TIMEOUT_MILLISECONDS = 20_000


def starting_soon() -> str:
    """An event an hour from now, in its own zone: the door admits scans from 12 hours before it starts, so the
    offline scans the test makes now fall inside the window."""
    return (
        (datetime.now(ZoneInfo("America/Santiago")) + timedelta(hours=1))
        .replace(tzinfo=None)
        .isoformat(timespec="seconds")
    )


def paid_tickets(stack: dict[str, Any], event_id: str, holders: list[str]) -> list[PrintedCode]:
    """Buys tickets for `holders`, approves the payment at the emulator, and cuts the QR codes from the email's PDF."""
    email = f"door-app-{time.time_ns()}@example.test"
    purchase = buy(stack["gateway"], token_for(stack, "user", email=email), event_id, holders)
    return printed_codes(wait_for_email(stack["sendgrid"], email, approve(purchase)))


def create_device(gateway: str, admin: str, event_id: str, name: str) -> dict[str, Any]:
    answer = requests.post(
        f"{gateway}/api/v1/admin/scanner-devices",
        json={"name": name, "event_ids": [event_id]},
        headers=bearer(admin),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_for_verdict(page: Page, status: str, mode: str) -> Any:
    verdict = page.locator(f'#verdict[data-status="{status}"]')
    verdict.wait_for(timeout=VERDICT_TIMEOUT_MILLISECONDS)
    expect(verdict).to_have_attribute("data-mode", mode)
    return verdict


def scan_timings(page: Page) -> list[dict[str, Any]]:
    """The app's own measures: the frame that held the code was grabbed → the verdict painted."""
    return page.evaluate(
        "performance.getEntriesByName('scan-to-verdict').map(m => ({milliseconds: m.duration, ...m.detail}))"
    )


def test_a_gate_pairs_scans_goes_offline_syncs_and_is_revoked(
    local_stack: dict[str, Any], phone: Phone, tmp_path: Path
) -> None:
    shots = artifacts_directory("gate")
    gateway = local_stack["gateway"]
    app_url = f"{gateway}/scan/"
    admin = token_for(local_stack, "admin")
    concert = publish_event(gateway, admin, name="Concierto en la puerta", starts_at=starting_soon())["id"]
    other_event = publish_event(gateway, admin, name="Otro evento", starts_at=starting_soon())["id"]
    ana, benito, carla = paid_tickets(local_stack, concert, ["Ana Pérez", "Benito Soto", "Carla Díaz"])
    [foreign] = paid_tickets(local_stack, other_event, ["Diego Rojas"])
    device = create_device(gateway, admin, concert, "Puerta norte")
    sheet = write_camera_video([None], tmp_path / "sheet.y4m")
    timings: list[dict[str, Any]] = []

    def filming(code: PrintedCode, name: str) -> Path:
        return write_camera_video([code.picture], tmp_path / f"{name}.y4m")

    # Paired from the link; Ana's ticket in front of the camera: green, online. Held there: amber, by this device.
    with phone.launched(filming(ana, "ana")) as page:
        page.goto(device["pairing_link"])
        expect(page.locator("#identity")).to_contain_text("Puerta norte")
        accepted = wait_for_verdict(page, "accepted", "online")
        expect(accepted).to_contain_text("ACEPTADO")
        expect(accepted).to_contain_text("Ana Pérez")
        page.screenshot(path=shots / "1-accepted-online.png")
        already_used = wait_for_verdict(page, "already_used", "online")
        expect(already_used).to_contain_text("YA USADO")
        expect(already_used).to_contain_text("en este dispositivo")
        page.screenshot(path=shots / "2-already-used.png")
        # The token left the address bar; the event's bundle (3 tickets) is on the phone; the shell is cached.
        assert "token" not in page.url
        expect(page.locator("#identity")).to_contain_text("Concierto en la puerta")
        expect(page.locator("#counters")).to_have_text("Ingresados: 1 / 3")
        assert page.evaluate("navigator.serviceWorker.ready.then(registration => Boolean(registration.active))")
        timings += scan_timings(page)

    # A ticket of another event: red.
    with phone.launched(filming(foreign, "foreign")) as page:
        page.goto(app_url)
        expect(wait_for_verdict(page, "wrong_event", "online")).to_contain_text("OTRO EVENTO")
        page.screenshot(path=shots / "3-wrong-event.png")
        timings += scan_timings(page)

    # The network dies: the app still opens (service worker) and admits Benito by itself; a reload keeps the queue.
    with phone.launched(filming(benito, "benito"), offline=True) as page:
        page.goto(app_url)
        offline_accepted = wait_for_verdict(page, "accepted", "offline")
        expect(offline_accepted).to_contain_text("Benito Soto")
        expect(offline_accepted).to_contain_text("sin conexión")
        page.screenshot(path=shots / "4-accepted-offline.png")
        expect(page.locator("#network")).to_have_text("Sin conexión — 1 escaneos en espera")
        expect(page.locator("#counters")).to_have_text("Ingresados: 2 / 3")
        timings += scan_timings(page)
        page.reload()
        expect(page.locator("#network")).to_have_text("Sin conexión — 1 escaneos en espera")
        page.screenshot(path=shots / "5-reloaded-offline.png")

    # Still offline after a restart, Carla comes in here; meanwhile another gate, online, admits her too.
    with phone.launched(filming(carla, "carla"), offline=True) as page:
        page.goto(app_url)
        expect(wait_for_verdict(page, "accepted", "offline")).to_contain_text("Carla Díaz")
        expect(page.locator("#network")).to_have_attribute("data-waiting", "2")
        timings += scan_timings(page)
    other_gate = create_device(gateway, admin, concert, "Puerta sur")
    at_the_other_gate = requests.post(
        f"{gateway}/api/v1/tickets/validate",
        json={"qr_signature": carla.text, "event_id": concert},
        headers=bearer(other_gate["token"]),
        timeout=10,
    )
    assert at_the_other_gate.json()["status"] == "accepted", at_the_other_gate.text

    # Back online: both scans are synced; Benito's is accepted, Carla's is shown as a conflict.
    with phone.launched(sheet) as page:
        page.goto(app_url)
        expect(page.locator("#network")).to_have_text("En línea", timeout=VERDICT_TIMEOUT_MILLISECONDS)
        conflict = page.locator('.problem[data-conflict="true"]')
        expect(conflict).to_have_count(1)
        expect(conflict).to_contain_text("Carla Díaz")
        expect(conflict).to_contain_text(f"en otro acceso ({other_gate['id'][:8]})")
        expect(page.locator(".problem")).to_have_count(1)
        page.screenshot(path=shots / "6-synced-with-conflict.png")
    benito_ticket = requests.post(
        f"{gateway}/api/v1/tickets/validate",
        json={"qr_signature": benito.text, "event_id": concert},
        headers=bearer(token_for(local_stack, "scanner")),
        timeout=10,
    )
    assert benito_ticket.json()["status"] == "already_used"
    assert benito_ticket.json()["first_checked_in_by"] == device["id"]

    # Revoked: the app says so, forgets the token, and asks to be paired again.
    revoked = requests.delete(
        f"{gateway}/api/v1/admin/scanner-devices/{device['id']}", headers=bearer(admin), timeout=10
    )
    assert revoked.status_code == 200, revoked.text
    # No ticket in front of the camera: the app learns it from its own catch-up with the API when it opens.
    with phone.launched(sheet) as page:
        page.goto(app_url)
        expect(page.locator("#revoked")).to_contain_text("Dispositivo revocado", timeout=VERDICT_TIMEOUT_MILLISECONDS)
        page.screenshot(path=shots / "7-revoked.png")
        page.reload()
        expect(page.locator("#pair-token")).to_be_visible()

    (shots / "timings.json").write_text(json.dumps(timings, indent=2))
    assert [timing["status"] for timing in timings] == [
        "accepted",
        "already_used",
        "wrong_event",
        "accepted",
        "accepted",
    ]


def test_a_scanner_user_signs_in_with_a_token_types_codes_and_unpairs(
    local_stack: dict[str, Any], phone: Phone, tmp_path: Path
) -> None:
    shots = artifacts_directory("scanner-user")
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    festival = publish_event(gateway, admin, name="Festival del sur", starts_at=starting_soon())["id"]
    [elena] = paid_tickets(local_stack, festival, ["Elena Vidal"])
    refunded_buyer = f"door-app-refund-{time.time_ns()}@example.test"
    refunded = buy(gateway, token_for(local_stack, "user", email=refunded_buyer), festival, ["Félix Mora"])
    [felix] = printed_codes(wait_for_email(local_stack["sendgrid"], refunded_buyer, approve(refunded)))
    refund = requests.post(
        f"{gateway}/api/v1/admin/orders/{refunded.order_id}/refund", json={}, headers=bearer(admin), timeout=30
    )
    assert refund.status_code == 200, refund.text
    scanner = token_for(local_stack, "scanner", email=f"gate-{time.time_ns()}@example.test")

    with phone.launched(write_camera_video([None], tmp_path / "sheet.y4m")) as page:
        page.goto(f"{gateway}/scan/")
        page.fill("#pair-token", scanner)
        page.get_by_role("button", name="Vincular", exact=True).click()
        page.select_option("#event-picker", festival)
        page.get_by_role("button", name="Empezar").click()
        expect(page.locator("#identity")).to_contain_text("Festival del sur")
        expect(page.locator("#identity")).to_contain_text("Usuario")
        # Félix's order was refunded: his ticket is not counted.
        expect(page.locator("#counters")).to_have_text("Ingresados: 0 / 1")

        page.fill("#manual-code", elena.text)
        page.press("#manual-code", "Enter")
        expect(wait_for_verdict(page, "accepted", "online")).to_contain_text("Elena Vidal")
        page.locator("#verdict").click()

        # Offline, the bundle alone refuses the refunded ticket.
        page.context.set_offline(True)
        page.fill("#manual-code", felix.text)
        page.press("#manual-code", "Enter")
        cancelled = wait_for_verdict(page, "cancelled", "offline")
        expect(cancelled).to_contain_text("CANCELADO")
        expect(cancelled).to_contain_text("Félix Mora")
        page.screenshot(path=shots / "1-cancelled-offline.png")
        page.locator("#verdict").click()

        page.click("#language")
        expect(page.locator("#counters")).to_have_text("Checked in: 1 / 1")
        expect(page.locator("#network")).to_have_text("Offline — 0 scans waiting")
        page.screenshot(path=shots / "2-english-offline.png")

        page.context.set_offline(False)
        page.click("#unpair")
        expect(page.locator("#pair-token")).to_be_visible()
        page.reload()
        expect(page.locator("#pair-token")).to_be_visible()
        page.screenshot(path=shots / "3-unpaired.png")


def test_a_phone_pairs_by_filming_the_qr_code_of_make_devices_link(
    local_stack: dict[str, Any], phone: Phone, tmp_path: Path
) -> None:
    gateway = local_stack["gateway"]
    admin = token_for(local_stack, "admin")
    event_id = publish_event(gateway, admin, name="Feria de día", starts_at=starting_soon())["id"]
    made = subprocess.run(
        ["make", "--no-print-directory", "-s", "device", f"EVENT={event_id}", "NAME=Puerta QR"],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "CROWDIFY_LOCAL_DIR": str(local_stack["local_dir"])},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # `make device` prints the link as its last line.
    pairing_link = made.stdout.strip().splitlines()[-1]
    assert pairing_link.startswith(f"{gateway}/scan/#token="), made.stdout + made.stderr
    link_code = qrcode.make(pairing_link, border=4).convert("L")
    with phone.launched(write_camera_video([link_code], tmp_path / "pairing-link.y4m")) as page:
        page.goto(f"{gateway}/scan/")
        page.get_by_role("button", name="Escanear QR de vinculación").click()
        expect(page.locator("#identity")).to_contain_text("Puerta QR", timeout=VERDICT_TIMEOUT_MILLISECONDS)
        expect(page.locator("#identity")).to_contain_text("Feria de día")
        expect(page.locator("#counters")).to_have_text("Ingresados: 0 / 0")
