"""The MercadoPago emulator over real HTTP: checkout, signed webhooks, search, refunds, faults, load, restarts."""

import hashlib
import hmac
import json
import resource
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.emulator_process import emulator_process
from tests.support.http_load import HttpRequest, hold_connections
from tests.support.mercadopago import (
    MERCADOPAGO_TEST_ACCESS_TOKEN,
    MERCADOPAGO_TEST_WEBHOOK_SECRET,
    emulator_call,
    wait_for_notifications,
)

AUTHORIZATION = {"Authorization": f"Bearer {MERCADOPAGO_TEST_ACCESS_TOKEN}"}
BURST_CONNECTIONS = 1_000
BURST_SECONDS = 10.0


class WebhookReceiver:
    """A tiny webhook endpoint: answers the given statuses in turn (then 200) and keeps each request.

    With `answer_delay`, each answer waits that long first, as a slow product would.
    """

    def __init__(self, statuses: tuple[int, ...] = (), answer_delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self._statuses = list(statuses)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(answer_delay)
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    webhook_receiver = WebhookReceiver()
    yield webhook_receiver
    webhook_receiver.stop()


def signature_is_valid(secret: str, data_id: str, request_id: str, x_signature: str) -> bool:
    """The contract's check, written from its definition rather than from the emulator's code."""
    parts = dict(part.strip().split("=", 1) for part in x_signature.split(","))
    normalised_id = data_id.lower() if data_id.isalnum() else data_id
    manifest = f"id:{normalised_id};request-id:{request_id};ts:{parts['ts']};"
    expected = hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def create_preference(
    emulator: MercadoPagoEmulator,
    notification_url: str | None,
    external_reference: str = "order-1",
    unit_price: float = 15000,
    quantity: int = 2,
    currency_id: str = "CLP",
) -> dict[str, Any]:
    status, preference = emulator_call(
        emulator,
        "POST",
        "/checkout/preferences",
        {
            "items": [{"title": "General", "quantity": quantity, "unit_price": unit_price, "currency_id": currency_id}],
            "external_reference": external_reference,
            "notification_url": notification_url,
            "back_urls": {"success": "http://front.test/ok", "failure": "http://front.test/failed"},
            "expires": True,
            "expiration_date_to": "2030-01-01T00:00:00.000-03:00",
            "payer": {"email": "buyer@example.com"},
        },
        headers=AUTHORIZATION,
    )
    assert status == 201, preference
    return preference


def pay(init_point: str, status: str) -> dict[str, Any]:
    request = urllib.request.Request(
        init_point,
        data=urllib.parse.urlencode({"status": status}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def webhook_url(receiver: WebhookReceiver) -> str:
    return f"{receiver.url}/api/v1/purchases/webhook?source_news=webhooks"


def test_checkout_page_payment_and_signed_webhook(
    mercadopago_emulator: MercadoPagoEmulator, receiver: WebhookReceiver
) -> None:
    preference = create_preference(mercadopago_emulator, webhook_url(receiver))
    assert preference["id"]
    assert preference["init_point"] == f"{mercadopago_emulator.url}/checkout/{preference['id']}"
    assert preference["sandbox_init_point"] == preference["init_point"]
    assert preference["external_reference"] == "order-1"
    assert preference["notification_url"] == webhook_url(receiver)
    assert preference["items"][0]["unit_price"] == 15000
    assert preference["date_created"]

    with urllib.request.urlopen(preference["init_point"], timeout=5) as page:
        assert page.headers["Content-Type"].startswith("text/html")
        text = page.read().decode()
    assert "Approve" in text and "Reject" in text
    assert "30000" in text
    assert "http://front.test/ok" in text

    paid = pay(preference["init_point"], "approved")
    assert paid["status"] == "approved"
    payment_id = paid["payment_id"]

    [notification] = wait_for_notifications(mercadopago_emulator, 1)
    assert notification["delivered"] and notification["attempts"] == 1
    [delivery] = receiver.requests
    assert delivery["path"] == (f"/api/v1/purchases/webhook?source_news=webhooks&data.id={payment_id}&type=payment")
    body = json.loads(delivery["body"])
    assert body["action"] == "payment.created"
    assert body["type"] == "payment"
    assert body["api_version"] == "v1"
    assert body["live_mode"] is False
    assert body["data"] == {"id": str(payment_id)}
    assert isinstance(body["id"], int)
    headers = {name.lower(): value for name, value in delivery["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert signature_is_valid(
        MERCADOPAGO_TEST_WEBHOOK_SECRET, str(payment_id), headers["x-request-id"], headers["x-signature"]
    )
    assert not signature_is_valid("another-secret", str(payment_id), headers["x-request-id"], headers["x-signature"])

    status, payment = emulator_call(mercadopago_emulator, "GET", f"/v1/payments/{payment_id}", headers=AUTHORIZATION)
    assert status == 200
    assert payment["id"] == payment_id
    assert payment["status"] == "approved"
    assert payment["status_detail"] == "accredited"
    assert payment["external_reference"] == "order-1"
    assert payment["transaction_amount"] == 30000
    assert payment["transaction_amount_refunded"] == 0
    assert payment["currency_id"] == "CLP"
    assert payment["date_approved"]
    assert payment["refunds"] == []
    assert payment["metadata"]["preference_id"] == preference["id"]


def test_notification_url_without_query_and_rejected_payment(
    mercadopago_emulator: MercadoPagoEmulator, receiver: WebhookReceiver
) -> None:
    preference = create_preference(mercadopago_emulator, f"{receiver.url}/hook")
    paid = pay(preference["init_point"], "rejected")
    assert paid["status"] == "rejected"
    wait_for_notifications(mercadopago_emulator, 1)
    assert receiver.requests[0]["path"] == f"/hook?data.id={paid['payment_id']}&type=payment"


def test_the_checkout_answers_before_its_webhook_is_answered(mercadopago_emulator: MercadoPagoEmulator) -> None:
    receiver = WebhookReceiver(answer_delay=1.5)
    try:
        preference = create_preference(mercadopago_emulator, webhook_url(receiver))
        started = time.monotonic()
        pay(preference["init_point"], "approved")
        answered_after = time.monotonic() - started
        [notification] = wait_for_notifications(mercadopago_emulator, 1)
    finally:
        receiver.stop()
    assert answered_after < 1.0
    assert notification["delivered"] and notification["attempts"] == 1


def test_checkout_accepts_json_and_refuses_an_unknown_status(mercadopago_emulator: MercadoPagoEmulator) -> None:
    preference = create_preference(mercadopago_emulator, None)
    path = f"/checkout/{preference['id']}"
    status, paid = emulator_call(mercadopago_emulator, "POST", path, {"status": "pending"})
    assert (status, paid["status"]) == (200, "pending")
    status, error = emulator_call(mercadopago_emulator, "POST", path, {"status": "stolen"})
    assert status == 400 and error["message"]
    # Nobody to notify without a notification_url.
    assert mercadopago_emulator.notifications() == []


def test_webhook_is_retried_until_answered_2xx(mercadopago_emulator: MercadoPagoEmulator) -> None:
    receiver = WebhookReceiver(statuses=(500, 500))
    try:
        preference = create_preference(mercadopago_emulator, webhook_url(receiver))
        paid = pay(preference["init_point"], "approved")
        [notification] = wait_for_notifications(mercadopago_emulator, 1)
    finally:
        receiver.stop()
    assert notification["attempts"] == 3
    assert notification["status_codes"] == [500, 500, 200]
    assert notification["delivered"] is True
    assert len(receiver.requests) == 3
    for delivery in receiver.requests:
        headers = {name.lower(): value for name, value in delivery["headers"].items()}
        assert signature_is_valid(
            MERCADOPAGO_TEST_WEBHOOK_SECRET, str(paid["payment_id"]), headers["x-request-id"], headers["x-signature"]
        )
    status, listed = emulator_call(mercadopago_emulator, "GET", "/_emulator/notifications")
    assert status == 200 and listed[0]["status_codes"] == [500, 500, 200]


def test_search_payments_by_external_reference(mercadopago_emulator: MercadoPagoEmulator) -> None:
    first = create_preference(mercadopago_emulator, None, external_reference="order-a")
    second = create_preference(mercadopago_emulator, None, external_reference="order-b")
    rejected = pay(first["init_point"], "rejected")
    approved = pay(first["init_point"], "approved")
    pay(second["init_point"], "approved")

    status, found = emulator_call(
        mercadopago_emulator, "GET", "/v1/payments/search?external_reference=order-a", headers=AUTHORIZATION
    )
    assert status == 200
    assert found["paging"] == {"total": 2, "limit": 30, "offset": 0}
    assert [payment["id"] for payment in found["results"]] == [rejected["payment_id"], approved["payment_id"]]
    assert [payment["status"] for payment in found["results"]] == ["rejected", "approved"]

    status, none = emulator_call(
        mercadopago_emulator, "GET", "/v1/payments/search?external_reference=missing", headers=AUTHORIZATION
    )
    assert (status, none["paging"]["total"], none["results"]) == (200, 0, [])


def test_refunds_are_idempotent_partial_then_full(
    mercadopago_emulator: MercadoPagoEmulator, receiver: WebhookReceiver
) -> None:
    preference = create_preference(mercadopago_emulator, webhook_url(receiver))
    payment_id = pay(preference["init_point"], "approved")["payment_id"]
    refunds_path = f"/v1/payments/{payment_id}/refunds"

    def refund(payload: dict[str, Any] | None, key: str) -> tuple[int, Any]:
        return emulator_call(
            mercadopago_emulator, "POST", refunds_path, payload, headers={**AUTHORIZATION, "X-Idempotency-Key": key}
        )

    status, partial = refund({"amount": 10000}, "refund-1")
    assert status == 201
    assert partial["payment_id"] == payment_id
    assert partial["amount"] == 10000
    assert partial["status"] == "approved"
    assert partial["date_created"]
    status, again = refund({"amount": 10000}, "refund-1")
    assert (status, again) == (201, partial)

    _, payment = emulator_call(mercadopago_emulator, "GET", f"/v1/payments/{payment_id}", headers=AUTHORIZATION)
    assert payment["status"] == "approved"
    assert payment["status_detail"] == "partially_refunded"
    assert payment["transaction_amount_refunded"] == 10000
    assert len(payment["refunds"]) == 1

    status, error = refund({"amount": 20001}, "refund-2")
    assert status == 400 and "exceeds" in error["message"]

    status, rest = refund(None, "refund-3")
    assert (status, rest["amount"]) == (201, 20000)
    _, payment = emulator_call(mercadopago_emulator, "GET", f"/v1/payments/{payment_id}", headers=AUTHORIZATION)
    assert (payment["status"], payment["status_detail"]) == ("refunded", "refunded")
    assert payment["transaction_amount_refunded"] == 30000
    assert len(payment["refunds"]) == 2

    status, _ = refund({"amount": 1}, "refund-4")
    assert status == 400

    # payment.created, then one payment.updated per refund actually made (not for the repeat).
    notifications = wait_for_notifications(mercadopago_emulator, 3)
    assert [notification["action"] for notification in notifications] == [
        "payment.created",
        "payment.updated",
        "payment.updated",
    ]


def test_faults_fail_the_next_api_calls(mercadopago_emulator: MercadoPagoEmulator) -> None:
    preference = create_preference(mercadopago_emulator, None)
    payment_id = pay(preference["init_point"], "approved")["payment_id"]
    payment_path = f"/v1/payments/{payment_id}"

    assert emulator_call(mercadopago_emulator, "POST", "/_emulator/faults", {"mode": "500", "count": 2})[0] == 200
    status, error = emulator_call(mercadopago_emulator, "GET", payment_path, headers=AUTHORIZATION)
    assert status == 500 and error["status"] == 500
    # Control routes and the checkout page are not API calls: they neither fail nor use up the count.
    assert emulator_call(mercadopago_emulator, "GET", f"/_emulator/preferences/{preference['id']}")[0] == 200
    assert emulator_call(mercadopago_emulator, "POST", "/checkout/preferences", {"items": []}, AUTHORIZATION)[0] == 500
    assert emulator_call(mercadopago_emulator, "GET", payment_path, headers=AUTHORIZATION)[0] == 200


def test_timeout_fault_holds_one_call_while_others_are_served(mercadopago_emulator: MercadoPagoEmulator) -> None:
    preference = create_preference(mercadopago_emulator, None)
    payment_path = f"/v1/payments/{pay(preference['init_point'], 'approved')['payment_id']}"
    emulator_call(mercadopago_emulator, "POST", "/_emulator/faults", {"mode": "timeout", "count": 1})

    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        emulator_call(mercadopago_emulator, "GET", payment_path, headers=AUTHORIZATION, timeout=0.3)
    # The held request is still open on the server; the next one is answered at once.
    assert emulator_call(mercadopago_emulator, "GET", payment_path, headers=AUTHORIZATION)[0] == 200
    assert time.monotonic() - started < 2


def test_access_token_is_checked(mercadopago_emulator: MercadoPagoEmulator) -> None:
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        status, error = emulator_call(mercadopago_emulator, "GET", "/v1/payments/search", headers=headers)
        assert status == 401
        assert error["error"] == "unauthorized"


def test_control_routes_create_and_update_payments(
    mercadopago_emulator: MercadoPagoEmulator, receiver: WebhookReceiver
) -> None:
    preference = create_preference(mercadopago_emulator, webhook_url(receiver), external_reference="order-c")
    status, odd = emulator_call(
        mercadopago_emulator,
        "POST",
        "/_emulator/payments",
        {"external_reference": "order-c", "status": "approved", "transaction_amount": 1, "currency_id": "ARS"},
    )
    assert status == 201
    assert (odd["transaction_amount"], odd["currency_id"]) == (1, "ARS")
    assert odd["metadata"]["preference_id"] == preference["id"]
    status, quiet = emulator_call(
        mercadopago_emulator,
        "POST",
        "/_emulator/payments",
        {"preference_id": preference["id"], "status": "approved", "notify": False},
    )
    assert (status, quiet["transaction_amount"], quiet["currency_id"]) == (201, 30000, "CLP")

    status, charged_back = emulator_call(
        mercadopago_emulator, "POST", f"/_emulator/payments/{quiet['id']}", {"status": "charged_back"}
    )
    assert (status, charged_back["status"], charged_back["status_detail"]) == (200, "charged_back", "settled")
    status, refunded = emulator_call(
        mercadopago_emulator, "POST", f"/_emulator/payments/{odd['id']}", {"status": "refunded"}
    )
    assert (refunded["status"], refunded["transaction_amount_refunded"]) == ("refunded", 1)

    notifications = wait_for_notifications(mercadopago_emulator, 3)
    assert [(notification["action"], notification["data_id"]) for notification in notifications] == [
        ("payment.created", str(odd["id"])),
        ("payment.updated", str(quiet["id"])),
        ("payment.updated", str(odd["id"])),
    ]

    status, stored = emulator_call(mercadopago_emulator, "GET", f"/_emulator/preferences/{preference['id']}")
    assert status == 200
    assert stored["expires"] is True
    assert stored["expiration_date_to"] == "2030-01-01T00:00:00.000-03:00"
    assert stored["notification_url"] == webhook_url(receiver)

    assert emulator_call(mercadopago_emulator, "POST", "/_emulator/reset", {})[0] == 200
    assert emulator_call(mercadopago_emulator, "GET", f"/_emulator/preferences/{preference['id']}")[0] == 404
    assert emulator_call(mercadopago_emulator, "GET", f"/v1/payments/{odd['id']}", headers=AUTHORIZATION)[0] == 404
    assert emulator_call(mercadopago_emulator, "GET", "/_emulator/notifications")[1] == []


def test_bad_requests_answer_json_errors(mercadopago_emulator: MercadoPagoEmulator) -> None:
    request = urllib.request.Request(
        mercadopago_emulator.url + "/checkout/preferences",
        data=b"{not json",
        headers={**AUTHORIZATION, "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    with raised.value as error:
        assert error.code == 400
        assert "invalid JSON" in json.loads(error.read())["message"]

    status, error_body = emulator_call(mercadopago_emulator, "GET", "/nowhere")
    assert status == 404 and error_body["error"] == "not_found"
    status, _ = emulator_call(mercadopago_emulator, "GET", "/v1/payments/999", headers=AUTHORIZATION)
    assert status == 404
    status, _ = emulator_call(mercadopago_emulator, "GET", "/checkout/unknown-preference")
    assert status == 404


def test_a_thousand_connections_held_for_ten_seconds_see_no_error() -> None:
    """1,000 clients connect at once to an emulator started as `make run` starts it, each kept busy for 10 s."""
    with emulator_process("local.mercadopago_emulator", "--access-token", MERCADOPAGO_TEST_ACCESS_TOKEN) as url:
        preference_body = json.dumps(
            {"items": [{"title": "General", "quantity": 1, "unit_price": 15000}], "external_reference": "burst"}
        ).encode()
        preference = json.loads(_post(f"{url}/checkout/preferences", preference_body, AUTHORIZATION))
        payment = json.loads(
            _post(f"{url}/_emulator/payments", json.dumps({"preference_id": preference["id"]}).encode())
        )
        requests = [
            HttpRequest("GET", f"/v1/payments/{payment['id']}", AUTHORIZATION),
            HttpRequest(
                "POST", "/checkout/preferences", {**AUTHORIZATION, "Content-Type": "application/json"}, preference_body
            ),
        ]

        result = hold_connections(url, requests, BURST_CONNECTIONS, BURST_SECONDS)

    summary = result.summary()
    assert result.connection_errors == Counter(), summary
    assert result.server_errors == 0, summary
    assert set(result.answers) == {200, 201}, summary
    assert result.connections_answered == BURST_CONNECTIONS, summary


def test_more_connections_than_the_usual_open_files_limit_are_served() -> None:
    """Debian's default soft limit is 1,024 open files: emulator and load client each raise their own."""
    usual_limit = 1_024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * usual_limit:
        pytest.fail(
            f"this test needs a hard limit on open files of at least {2 * usual_limit} (ulimit -Hn), not {hard}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (usual_limit, hard))
    try:
        with emulator_process("local.mercadopago_emulator", open_files_limit=usual_limit) as url:
            # Held longer than the answer time-out: a server out of files would leave the last ones unanswered.
            result = hold_connections(
                url, [HttpRequest("GET", "/v1/payments/1")], usual_limit + 100, seconds=4.0, answer_timeout=2.0
            )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    assert result.connection_errors == Counter(), result.summary()
    assert result.connections_answered == usual_limit + 100


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def _get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=AUTHORIZATION), timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _paid_order(url: str, external_reference: str) -> int:
    """A preference for the order and an approved payment of it; returns the payment id."""
    body = json.dumps(
        {"items": [{"title": "General", "quantity": 2, "unit_price": 15000}], "external_reference": external_reference}
    ).encode()
    preference = json.loads(_post(f"{url}/checkout/preferences", body, AUTHORIZATION))
    paid = json.loads(_post(preference["init_point"], json.dumps({"status": "approved"}).encode()))
    return paid["payment_id"]


def _emulator_run(state_dir: Path | None) -> Any:
    arguments = ["--access-token", MERCADOPAGO_TEST_ACCESS_TOKEN]
    if state_dir is not None:
        arguments += ["--state-dir", str(state_dir)]
    return emulator_process("local.mercadopago_emulator", *arguments)


def test_a_restart_over_the_same_state_folder_gives_new_ids_and_keeps_the_payments(tmp_path: Path) -> None:
    state_dir = tmp_path / "mercadopago"
    with _emulator_run(state_dir) as url:
        earlier_ids = [_paid_order(url, f"order-{number}") for number in range(3)]
        refund_headers = {**AUTHORIZATION, "X-Idempotency-Key": "refund-before-the-restart"}
        refund = json.loads(_post(f"{url}/v1/payments/{earlier_ids[0]}/refunds", b'{"amount": 10000}', refund_headers))
        _, before_restart = _get_json(f"{url}/v1/payments/{earlier_ids[0]}")

    with _emulator_run(state_dir) as url:
        later_ids = [_paid_order(url, f"order-{number}") for number in range(3)]
        status, after_restart = _get_json(f"{url}/v1/payments/{earlier_ids[0]}")
        _, found = _get_json(f"{url}/v1/payments/search?external_reference=order-1")
        same_refund = json.loads(
            _post(f"{url}/v1/payments/{earlier_ids[0]}/refunds", b'{"amount": 10000}', refund_headers)
        )
        next_refund = json.loads(
            _post(f"{url}/v1/payments/{earlier_ids[0]}/refunds", b"{}", {**AUTHORIZATION, "X-Idempotency-Key": "next"})
        )

    assert set(earlier_ids).isdisjoint(later_ids)
    assert (status, after_restart) == (200, before_restart)
    assert (after_restart["transaction_amount"], after_restart["transaction_amount_refunded"]) == (30000, 10000)
    assert [payment["id"] for payment in found["results"]] == [earlier_ids[1], later_ids[1]]
    assert same_refund == refund
    assert next_refund["amount"] == 20000 and next_refund["id"] != refund["id"]


def test_a_restart_without_a_state_folder_gives_new_ids() -> None:
    with _emulator_run(None) as url:
        earlier_ids = [_paid_order(url, "order-a") for _ in range(3)]
    with _emulator_run(None) as url:
        later_ids = [_paid_order(url, "order-a") for _ in range(3)]
        status, _ = _get_json(f"{url}/v1/payments/{earlier_ids[0]}")

    assert min(later_ids) > max(earlier_ids)
    # Nothing was kept: the earlier payment is unknown to this run.
    assert status == 404


def test_a_reset_forgets_the_kept_payments_but_not_the_ids_given(tmp_path: Path) -> None:
    state_dir = tmp_path / "mercadopago"
    with _emulator_run(state_dir) as url:
        earlier_id = _paid_order(url, "order-a")
        _post(f"{url}/_emulator/reset", b"{}")
    with _emulator_run(state_dir) as url:
        status, _ = _get_json(f"{url}/v1/payments/{earlier_id}")
        later_id = _paid_order(url, "order-a")

    assert status == 404
    assert later_id > earlier_id
