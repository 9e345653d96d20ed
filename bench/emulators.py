"""emulators: how the MercadoPago and SendGrid emulators answer HTTP, each started from its command line in a
process of its own, as `make run` serves them.

Figures per emulator:
- kept-alive latency: p50/p99 of requests sent one after the other on one kept-alive connection (MercadoPago:
  `GET /v1/payments/{id}`, what the webhook function asks; SendGrid: `POST /v3/mail/send` of a mail with a
  small PDF attachment, what `notify` sends);
- a burst: 1,000 connections opened at once and kept busy for 10 s (MercadoPago: payment lookups and new
  preferences in turn; SendGrid: mail sends): answers, answers per second, connection errors, 5xx.
The load client runs in this process and shares the machine's cores with the emulator.

`python -m bench.emulators` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.emulator_process import emulator_process
from tests.support.http_load import HttpRequest, hold_connections, kept_alive_latencies

LATENCY_REQUESTS = 2_000
BURST_CONNECTIONS = 1_000
BURST_SECONDS = 10.0
TARGETS = {"kept_alive_p50_ms": 5.0, "burst_connection_errors": 0, "burst_server_errors_5xx": 0}
ACCESS_TOKEN = "bench-mercadopago-token"
SENDGRID_API_KEY = "bench-sendgrid-key"


def _figures(latency_request: HttpRequest, burst_requests: list[HttpRequest], url: str) -> dict[str, Any]:
    latencies = kept_alive_latencies(url, latency_request, LATENCY_REQUESTS)
    burst = hold_connections(url, burst_requests, BURST_CONNECTIONS, BURST_SECONDS).summary()
    p50 = statistics.median(latencies)
    return {
        "kept_alive_p50_ms": round(p50, 2),
        "kept_alive_p99_ms": round(statistics.quantiles(latencies, n=100)[98], 2),
        "burst": burst,
        "meets_targets": p50 <= TARGETS["kept_alive_p50_ms"]
        and burst["connection_errors"] == 0
        and burst["server_errors_5xx"] == 0,
    }


def _post_json(url: str, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def mercadopago() -> dict[str, Any]:
    authorization = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    with emulator_process("local.mercadopago_emulator", "--access-token", ACCESS_TOKEN) as url:
        preference_request = {
            "items": [{"title": "General", "quantity": 2, "unit_price": 15000}],
            "external_reference": "bench-order",
        }
        preference = _post_json(f"{url}/checkout/preferences", preference_request, authorization)
        payment = _post_json(f"{url}/_emulator/payments", {"preference_id": preference["id"]}, {})
        lookup = HttpRequest("GET", f"/v1/payments/{payment['id']}", authorization)
        new_preference = HttpRequest(
            "POST",
            "/checkout/preferences",
            {**authorization, "Content-Type": "application/json"},
            json.dumps(preference_request).encode(),
        )
        return _figures(lookup, [lookup, new_preference], url)


def sendgrid() -> dict[str, Any]:
    mail = {
        "personalizations": [{"to": [{"email": "buyer@example.com"}]}],
        "from": {"email": "tickets@crowdify.example"},
        "subject": "Tus entradas",
        "content": [{"type": "text/plain", "value": "Hola"}, {"type": "text/html", "value": "<p>Hola</p>"}],
        "attachments": [
            {
                "filename": "entradas.pdf",
                "type": "application/pdf",
                "content": base64.b64encode(b"%PDF-1.4 " + bytes(8_000)).decode(),
            }
        ],
    }
    send = HttpRequest(
        "POST",
        "/v3/mail/send",
        {"Authorization": f"Bearer {SENDGRID_API_KEY}", "Content-Type": "application/json"},
        json.dumps(mail).encode(),
    )
    with (
        tempfile.TemporaryDirectory() as outbox,
        emulator_process(
            "local.sendgrid_emulator", "--api-key", SENDGRID_API_KEY, "--outbox-dir", str(Path(outbox))
        ) as url,
    ):
        return _figures(send, [send], url)


def run() -> dict[str, Any]:
    return {
        "latency_requests": LATENCY_REQUESTS,
        "targets": TARGETS,
        "mercadopago": mercadopago(),
        "sendgrid": sendgrid(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
