"""The SendGrid emulator's inbox as a person uses it: a real Chromium driven by Playwright.

Mail goes in through the real `sendgrid` SDK; the browser opens `/`, clicks a mail, reads it and downloads its
attachment. A mail's HTML is the sender's: its script must not run, least of all as the inbox's origin.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment, Disposition, FileContent, FileName, FileType, Mail

from local.sendgrid_emulator import SendGridEmulator

# Every byte value, so a download that went through a text decoding somewhere would not compare equal.
PDF_BYTES = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
SCRIPT_RAN = "the mail's script ran"
HOSTILE_HTML = f"""<p id="greeting">Hola Ana</p>
<script>
console.log("{SCRIPT_RAN}");
document.getElementById("greeting").textContent = "{SCRIPT_RAN}";
try {{ parent.document.title = "{SCRIPT_RAN}"; }} catch (error) {{ console.log("{SCRIPT_RAN}: " + error); }}
fetch("/_emulator/reset", {{method: "POST"}});
</script>
<img src="data:," onerror="console.log('{SCRIPT_RAN}')">
"""


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(accept_downloads=True)
    # Everything here is local: a failure should say so in seconds, not Playwright's 30.
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def send(emulator: SendGridEmulator, subject: str, html: str, attachments: list[tuple[str, str, bytes]]) -> str:
    mail = Mail(
        from_email="tickets@crowdify.example",
        to_emails="ana@example.com",
        subject=subject,
        html_content=html,
        plain_text_content="Hola Ana (text part)",
    )
    for filename, content_type, content in attachments:
        mail.add_attachment(
            Attachment(
                FileContent(base64.b64encode(content).decode()),
                FileName(filename),
                FileType(content_type),
                Disposition("attachment"),
            )
        )
    response = SendGridAPIClient(emulator.api_key, host=emulator.url).send(mail)
    assert response.status_code == 202
    return response.headers["X-Message-Id"]


def outbox(emulator: SendGridEmulator) -> list[dict]:
    with urllib.request.urlopen(f"{emulator.url}/outbox", timeout=10) as answer:
        return json.load(answer)


def test_a_mail_is_listed_opened_and_its_attachment_downloaded(sendgrid_emulator: SendGridEmulator, page: Page) -> None:
    send(sendgrid_emulator, "Bienvenida a Crowdify", "<p>Bienvenida</p>", [])
    send(
        sendgrid_emulator,
        "Tus entradas para Concierto",
        "<h2>Hola Ana</h2><p>Tus entradas están adjuntas.</p>",
        [("entradas-concierto.pdf", "application/pdf", PDF_BYTES)],
    )

    page.goto(f"{sendgrid_emulator.url}/")
    expect(page.locator("tbody tr")).to_have_count(2)
    # Newest first for a person; GET /outbox stays oldest first.
    expect(page.locator("tbody tr").first).to_contain_text("Tus entradas para Concierto")
    assert [message["subject"] for message in outbox(sendgrid_emulator)] == [
        "Bienvenida a Crowdify",
        "Tus entradas para Concierto",
    ]

    page.get_by_role("link", name="Tus entradas para Concierto").click()
    expect(page.get_by_role("heading", name="Tus entradas para Concierto")).to_be_visible()
    expect(page.get_by_text("ana@example.com")).to_be_visible()
    expect(page.frame_locator("iframe").get_by_text("Tus entradas están adjuntas.")).to_be_visible()
    expect(page.get_by_text("Hola Ana (text part)")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="entradas-concierto.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "entradas-concierto.pdf"
    assert Path(download.path()).read_bytes() == PDF_BYTES
    answer = page.request.get(download.url)
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith('attachment; filename="entradas-concierto.pdf"')
    assert answer.body() == PDF_BYTES


def test_script_in_a_mails_html_does_not_run(sendgrid_emulator: SendGridEmulator, page: Page) -> None:
    message_id = send(
        sendgrid_emulator,
        "Hostile mail",
        HOSTILE_HTML,
        [("page.html", "text/html", HOSTILE_HTML.encode())],
    )
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(f"{sendgrid_emulator.url}/")
    page.get_by_role("link", name="Hostile mail").click()
    title = page.title()
    greeting = page.frame_locator("iframe").locator("#greeting")
    expect(greeting).to_have_text("Hola Ana")
    # The frame's document has an opaque origin, not the inbox's.
    mail_frame = page.frame(url=re.compile(r"/messages/[0-9a-f]+/html$"))
    assert mail_frame is not None
    assert mail_frame.evaluate("window.origin") == "null"

    # An HTML attachment is a download, never a page of the inbox's origin: also when its address is opened.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="page.html").click()
    assert download_info.value.suggested_filename == "page.html"
    with page.expect_download() as download_info, contextlib.suppress(PlaywrightError):
        # Chromium aborts a navigation that turns into a download; the download is what is checked.
        page.goto(f"{sendgrid_emulator.url}/messages/{message_id}/attachments/0")
    assert download_info.value.suggested_filename == "page.html"

    # Opened on its own, the mail's HTML is still kept from running script.
    page.goto(f"{sendgrid_emulator.url}/messages/{message_id}/html")
    expect(page.locator("#greeting")).to_have_text("Hola Ana")
    assert page.evaluate("window.origin") == "null"

    page.goto(f"{sendgrid_emulator.url}/")
    assert title == "Hostile mail — SendGrid emulator"
    assert not [text for text in console if SCRIPT_RAN in text], console
    # Its fetch of the reset route never ran either.
    assert [message["id"] for message in outbox(sendgrid_emulator)] == [message_id]


def test_an_empty_inbox_and_an_unknown_message(sendgrid_emulator: SendGridEmulator, page: Page) -> None:
    page.goto(f"{sendgrid_emulator.url}/")
    expect(page.get_by_text("No messages in this run yet")).to_be_visible()

    answer = page.request.get(f"{sendgrid_emulator.url}/messages/{'0' * 32}")
    assert answer.status == 404
    assert answer.json()["errors"][0]["message"]
    assert page.request.get(f"{sendgrid_emulator.url}/messages/..%2Foutbox").status == 404
