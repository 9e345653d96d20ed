"""The SendGrid emulator, driven through the real `sendgrid` SDK over HTTP, and under a burst of connections."""

import base64
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from python_http_client.exceptions import (
    BadRequestsError,
    GatewayTimeoutError,
    InternalServerError,
    UnauthorizedError,
)
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment, Disposition, FileContent, FileName, FileType, Mail

from local.sendgrid_emulator import SendGridEmulator
from tests.support.emulator_process import emulator_process
from tests.support.http_load import HttpRequest, hold_connections

pytest_plugins = ["tests.support.sendgrid"]

PDF_BYTES = b"%PDF-1.4 not really a ticket"
BURST_CONNECTIONS = 1_000
BURST_SECONDS = 10.0


def ticket_mail(subject: str = "Tus entradas") -> Mail:
    mail = Mail(
        from_email="tickets@crowdify.example",
        to_emails="buyer@example.com",
        subject=subject,
        html_content="<p>Hola José</p>",
        plain_text_content="Hola José",
    )
    mail.attachment = Attachment(
        FileContent(base64.b64encode(PDF_BYTES).decode()),
        FileName("entradas.pdf"),
        FileType("application/pdf"),
        Disposition("attachment"),
    )
    return mail


def client_for(emulator: SendGridEmulator, api_key: str | None = None) -> SendGridAPIClient:
    return SendGridAPIClient(api_key or emulator.api_key, host=emulator.url)


def post_json(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def outbox(emulator: SendGridEmulator) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{emulator.url}/outbox", timeout=10) as response:
        return json.load(response)


def test_mail_with_attachment_is_kept_and_listed(sendgrid_emulator: SendGridEmulator) -> None:
    response = client_for(sendgrid_emulator).send(ticket_mail())

    assert response.status_code == 202
    message_id = response.headers["X-Message-Id"]
    [listed] = outbox(sendgrid_emulator)
    assert listed["id"] == message_id
    assert listed["from"] == "tickets@crowdify.example"
    assert listed["to"] == ["buyer@example.com"]
    assert listed["subject"] == "Tus entradas"
    assert listed["html"] == "<p>Hola José</p>"
    assert listed["text"] == "Hola José"
    assert listed["attachments"] == [
        {
            "filename": "entradas.pdf",
            "type": "application/pdf",
            "content": base64.b64encode(PDF_BYTES).decode(),
        }
    ]
    assert base64.b64decode(listed["attachments"][0]["content"]) == PDF_BYTES
    assert listed["received_at"].endswith("+00:00")

    [stored] = sorted(sendgrid_emulator.outbox_dir.glob("*.json"))
    assert stored.name.endswith(f"-{message_id}.json")
    assert json.loads(stored.read_text(encoding="utf-8")) == listed


def test_outbox_lists_messages_oldest_first(sendgrid_emulator: SendGridEmulator) -> None:
    client = client_for(sendgrid_emulator)
    for number in range(5):
        client.send(ticket_mail(subject=f"message {number}"))

    assert [message["subject"] for message in outbox(sendgrid_emulator)] == [f"message {number}" for number in range(5)]
    assert [path.name for path in sorted(sendgrid_emulator.outbox_dir.glob("*.json"))] == [
        path.name for path in sendgrid_emulator.message_paths()
    ]


def test_outbox_lists_only_this_run(tmp_path: Path) -> None:
    outbox_dir = tmp_path / "outbox"
    outbox_dir.mkdir()
    (outbox_dir / f"{time.time_ns() - 10**9:020d}-earlier.json").write_text("{}")
    emulator = SendGridEmulator(api_key="this-run-key", outbox_dir=outbox_dir).start()
    try:
        client_for(emulator).send(ticket_mail())

        assert [message["subject"] for message in outbox(emulator)] == ["Tus entradas"]
    finally:
        emulator.stop()


def test_wrong_key_is_rejected(sendgrid_emulator: SendGridEmulator) -> None:
    with pytest.raises(UnauthorizedError) as raised:
        client_for(sendgrid_emulator, api_key="not-the-key").send(ticket_mail())

    assert raised.value.status_code == 401
    assert json.loads(raised.value.body)["errors"][0]["message"]
    assert outbox(sendgrid_emulator) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"from": {"email": "a@example.com"}, "subject": "s", "content": [{"type": "text/plain", "value": "x"}]},
            "personalizations",
        ),
        (
            {
                "personalizations": [{"to": []}],
                "from": {"email": "a@example.com"},
                "subject": "s",
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "personalizations.0.to",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "b@example.com"}]}],
                "subject": "s",
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "from",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "b@example.com"}]}],
                "from": {"email": "a@example.com"},
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "subject",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "b@example.com"}]}],
                "from": {"email": "a@example.com"},
                "subject": "s",
            },
            "content",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "b@example.com"}]}],
                "from": {"email": "a@example.com"},
                "subject": "s",
                "attachments": [{"filename": "x.pdf"}],
            },
            "attachments.0",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "b@example.com"}]}],
                "from": {"email": "a@example.com"},
                "subject": "s",
                "attachments": [{"filename": 7, "content": "JVBERg=="}],
            },
            "attachments.0",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "b@example.com"}]}],
                "from": {"email": "a@example.com"},
                "subject": ["not", "text"],
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "subject",
        ),
    ],
    ids=[
        "no-personalizations",
        "empty-to",
        "no-from",
        "no-subject",
        "no-content",
        "attachment-without-content",
        "attachment-name-not-text",
        "subject-not-text",
    ],
)
def test_invalid_body_is_rejected(sendgrid_emulator: SendGridEmulator, body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequestsError) as raised:
        client_for(sendgrid_emulator).send(body)

    assert json.loads(raised.value.body)["errors"][0]["field"] == field
    assert outbox(sendgrid_emulator) == []


def test_template_mail_needs_no_subject_or_content(sendgrid_emulator: SendGridEmulator) -> None:
    body = {
        "personalizations": [{"to": [{"email": "b@example.com"}], "dynamic_template_data": {"name": "Ana"}}],
        "from": {"email": "a@example.com"},
        "template_id": "d-123",
    }

    assert client_for(sendgrid_emulator).send(body).status_code == 202


def test_server_error_fault_until_the_count_runs_out(sendgrid_emulator: SendGridEmulator) -> None:
    client = client_for(sendgrid_emulator)
    assert post_json(f"{sendgrid_emulator.url}/_emulator/faults", {"mode": "500", "count": 2}) == {
        "mode": "500",
        "count": 2,
    }

    for _ in range(2):
        with pytest.raises(InternalServerError):
            client.send(ticket_mail())

    assert client.send(ticket_mail()).status_code == 202
    assert len(outbox(sendgrid_emulator)) == 1


def test_timeout_fault_answers_504_after_the_delay(sendgrid_emulator: SendGridEmulator) -> None:
    post_json(f"{sendgrid_emulator.url}/_emulator/faults", {"mode": "timeout", "count": 1, "delay_seconds": 0.3})
    started = time.monotonic()

    with pytest.raises(GatewayTimeoutError):
        client_for(sendgrid_emulator).send(ticket_mail())

    assert time.monotonic() - started >= 0.3
    assert client_for(sendgrid_emulator).send(ticket_mail()).status_code == 202


def test_reset_forgets_faults_and_messages(sendgrid_emulator: SendGridEmulator) -> None:
    client = client_for(sendgrid_emulator)
    client.send(ticket_mail())
    post_json(f"{sendgrid_emulator.url}/_emulator/faults", {"mode": "500", "count": 3})

    post_json(f"{sendgrid_emulator.url}/_emulator/reset", {})

    assert outbox(sendgrid_emulator) == []
    assert list(sendgrid_emulator.outbox_dir.glob("*.json")) == []
    assert client.send(ticket_mail()).status_code == 202


def test_invalid_fault_request_is_rejected(sendgrid_emulator: SendGridEmulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        post_json(f"{sendgrid_emulator.url}/_emulator/faults", {"mode": "teapot", "count": 1})

    assert raised.value.code == 400


def test_any_key_is_accepted_without_a_configured_key(tmp_path: Path) -> None:
    emulator = SendGridEmulator(outbox_dir=tmp_path / "outbox").start()
    try:
        assert client_for(emulator, api_key="whatever").send(ticket_mail()).status_code == 202
        request = urllib.request.Request(f"{emulator.url}/v3/mail/send", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        assert raised.value.code == 401
    finally:
        emulator.stop()


def test_command_line_entry_point_serves(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.sendgrid_emulator",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--outbox-dir",
            str(tmp_path / "outbox"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ")[1].split(",")[0]

        assert SendGridAPIClient("cli-key", host=url).send(ticket_mail()).status_code == 202
        assert len(list((tmp_path / "outbox").glob("*.json"))) == 1
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_attachment_content_that_is_not_base64_is_rejected(sendgrid_emulator: SendGridEmulator) -> None:
    body = {
        "personalizations": [{"to": [{"email": "b@example.com"}]}],
        "from": {"email": "a@example.com"},
        "subject": "s",
        "content": [{"type": "text/plain", "value": "x"}],
        "attachments": [{"filename": "x.pdf", "type": "application/pdf", "content": "%PDF not base64"}],
    }
    with pytest.raises(BadRequestsError) as raised:
        client_for(sendgrid_emulator).send(body)

    assert json.loads(raised.value.body)["errors"][0]["field"] == "attachments.0.content"


def test_a_thousand_connections_held_for_ten_seconds_see_no_error(tmp_path: Path) -> None:
    """1,000 clients connect at once to an emulator started as `make run` starts it, each sending mail for 10 s."""
    outbox_dir = tmp_path / "outbox"
    mail = json.dumps(ticket_mail(subject="burst").get()).encode()
    headers = {"Authorization": "Bearer burst-key", "Content-Type": "application/json"}
    with emulator_process("local.sendgrid_emulator", "--api-key", "burst-key", "--outbox-dir", str(outbox_dir)) as url:
        result = hold_connections(
            url, [HttpRequest("POST", "/v3/mail/send", headers, mail)], BURST_CONNECTIONS, BURST_SECONDS
        )

    summary = result.summary()
    assert result.connection_errors == Counter(), summary
    assert result.server_errors == 0, summary
    assert set(result.answers) == {202}, summary
    assert result.connections_answered == BURST_CONNECTIONS, summary
    # Every accepted mail was kept, once.
    assert len(list(outbox_dir.glob("*.json"))) == result.answers[202]
