"""The MercadoPago adapter through the real SDK, over HTTP, against the emulator."""

import socket
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crowdify.adapters.mercadopago_client import (
    Checkout,
    CheckoutItem,
    CheckoutRequest,
    MercadoPagoGateway,
    payments,
)
from crowdify.config.settings import Settings, reset_settings
from crowdify.core.errors import DependencyUnavailable, InvalidRequest, NotFound
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.mercadopago import emulator_call, mercadopago_settings

SANTIAGO = ZoneInfo("America/Santiago")
NOTIFICATION_URL = "http://127.0.0.1:9/api/v1/purchases/webhook?source_news=webhooks"


def checkout_request(
    order_id: str = "order-1",
    unit_price: Decimal = Decimal("15000"),
    currency_id: str = "CLP",
    expires_at: datetime | None = None,
) -> CheckoutRequest:
    return CheckoutRequest(
        order_id=order_id,
        items=[
            CheckoutItem(title="General", quantity=2, unit_price=unit_price, currency_id=currency_id),
            CheckoutItem(title="Estacionamiento", quantity=1, unit_price=unit_price / 10, currency_id=currency_id),
        ],
        payer_email="buyer@example.com",
        expires_at=expires_at or datetime(2030, 1, 1, 12, 30, tzinfo=SANTIAGO),
        notification_url=NOTIFICATION_URL,
        back_urls={"success": "http://front.test/ok", "failure": "http://front.test/failed"},
    )


@pytest.fixture
def gateway(mercadopago_emulator: MercadoPagoEmulator) -> MercadoPagoGateway:
    return MercadoPagoGateway(mercadopago_settings(mercadopago_emulator))


def pay(emulator: MercadoPagoEmulator, checkout: Checkout, status: str = "approved") -> str:
    answer, paid = emulator_call(emulator, "POST", f"/checkout/{checkout.preference_id}", {"status": status})
    assert answer == 200
    return str(paid["payment_id"])


def test_create_checkout_stores_the_preference(
    mercadopago_emulator: MercadoPagoEmulator, gateway: MercadoPagoGateway
) -> None:
    checkout = gateway.create_checkout(checkout_request())

    assert checkout.init_point == f"{mercadopago_emulator.url}/checkout/{checkout.preference_id}"
    status, preference = emulator_call(mercadopago_emulator, "GET", f"/_emulator/preferences/{checkout.preference_id}")
    assert status == 200
    assert preference["external_reference"] == "order-1"
    assert preference["notification_url"] == NOTIFICATION_URL
    assert preference["expires"] is True
    assert preference["expiration_date_to"] == "2030-01-01T12:30:00.000-03:00"
    assert datetime.fromisoformat(preference["expiration_date_from"]) <= datetime.now(UTC)
    assert preference["auto_return"] == "approved"
    assert preference["back_urls"] == {"success": "http://front.test/ok", "failure": "http://front.test/failed"}
    assert preference["payer"] == {"email": "buyer@example.com"}
    assert [(item["title"], item["quantity"], item["unit_price"]) for item in preference["items"]] == [
        ("General", 2, 15000),
        ("Estacionamiento", 1, 1500),
    ]


def test_create_checkout_refuses_a_naive_deadline(gateway: MercadoPagoGateway) -> None:
    with pytest.raises(ValueError, match="aware"):
        gateway.create_checkout(checkout_request(expires_at=datetime(2030, 1, 1, 12, 30)))


def test_get_payment_reads_money_as_decimal(
    mercadopago_emulator: MercadoPagoEmulator, gateway: MercadoPagoGateway
) -> None:
    checkout = gateway.create_checkout(checkout_request(unit_price=Decimal("10.10"), currency_id="ARS"))
    payment_id = pay(mercadopago_emulator, checkout)

    payment = gateway.get_payment(payment_id)

    assert payment.id == payment_id
    assert payment.status == "approved"
    assert payment.status_detail == "accredited"
    assert payment.external_reference == "order-1"
    # 2 x 10.10 + 1.01, read from the JSON text: Decimal(21.21) would be 21.2100000000000008…
    assert payment.transaction_amount == Decimal("21.21")
    assert payment.currency_id == "ARS"
    assert payment.transaction_amount_refunded == Decimal(0)
    assert payment.date_approved is not None
    assert payment.date_approved.utcoffset() is not None
    assert abs(payment.date_approved - datetime.now(UTC)) < timedelta(minutes=1)


def test_search_payments_by_order(mercadopago_emulator: MercadoPagoEmulator, gateway: MercadoPagoGateway) -> None:
    checkout = gateway.create_checkout(checkout_request(order_id="order-s"))
    rejected = pay(mercadopago_emulator, checkout, "rejected")
    approved = pay(mercadopago_emulator, checkout, "approved")
    gateway.create_checkout(checkout_request(order_id="order-other"))

    found = gateway.search_payments("order-s")

    assert [(payment.id, payment.status) for payment in found] == [(rejected, "rejected"), (approved, "approved")]
    assert found[0].date_approved is None
    assert gateway.search_payments("order-none") == []


def test_refund_is_idempotent_by_key(mercadopago_emulator: MercadoPagoEmulator, gateway: MercadoPagoGateway) -> None:
    payment_id = pay(mercadopago_emulator, gateway.create_checkout(checkout_request()))

    partial = gateway.refund(payment_id, Decimal("1500"), idempotency_key="order-1-refund-1")
    repeated = gateway.refund(payment_id, Decimal("1500"), idempotency_key="order-1-refund-1")

    assert repeated == partial
    assert (partial.payment_id, partial.amount) == (payment_id, Decimal("1500"))
    payment = gateway.get_payment(payment_id)
    assert (payment.status, payment.status_detail) == ("approved", "partially_refunded")
    assert payment.transaction_amount_refunded == Decimal("1500")

    with pytest.raises(InvalidRequest, match="exceeds"):
        gateway.refund(payment_id, Decimal("30001"), idempotency_key="order-1-refund-2")

    rest = gateway.refund(payment_id, None, idempotency_key="order-1-refund-3")
    assert rest.amount == Decimal("30000")
    payment = gateway.get_payment(payment_id)
    assert (payment.status, payment.transaction_amount_refunded) == ("refunded", Decimal("31500"))


def test_server_errors_are_dependency_unavailable(
    mercadopago_emulator: MercadoPagoEmulator, gateway: MercadoPagoGateway
) -> None:
    payment_id = pay(mercadopago_emulator, gateway.create_checkout(checkout_request()))
    emulator_call(mercadopago_emulator, "POST", "/_emulator/faults", {"mode": "500", "count": 3})

    with pytest.raises(DependencyUnavailable, match="MercadoPago is unavailable, try again"):
        gateway.get_payment(payment_id)
    with pytest.raises(DependencyUnavailable, match="MercadoPago is unavailable, try again"):
        gateway.create_checkout(checkout_request())
    with pytest.raises(DependencyUnavailable, match="MercadoPago is unavailable, try again"):
        gateway.refund(payment_id, None, idempotency_key="refund-during-outage")
    assert gateway.get_payment(payment_id).transaction_amount_refunded == Decimal(0)


def test_timeout_is_dependency_unavailable(mercadopago_emulator: MercadoPagoEmulator) -> None:
    gateway = MercadoPagoGateway(mercadopago_settings(mercadopago_emulator, mercadopago_timeout_seconds=0.5))
    payment_id = pay(mercadopago_emulator, gateway.create_checkout(checkout_request()))
    emulator_call(mercadopago_emulator, "POST", "/_emulator/faults", {"mode": "timeout", "count": 1})

    started = time.monotonic()
    with pytest.raises(DependencyUnavailable, match="MercadoPago is unavailable, try again"):
        gateway.get_payment(payment_id)
    assert time.monotonic() - started < 2


def test_connection_refused_is_dependency_unavailable() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    settings = Settings(mercadopago_access_token="test-mp-token", mercadopago_api_base_url=closed_url)

    with pytest.raises(DependencyUnavailable, match="MercadoPago is unavailable, try again"):
        MercadoPagoGateway(settings).get_payment("1000000001")


def test_unknown_payment_is_not_found(gateway: MercadoPagoGateway) -> None:
    with pytest.raises(NotFound):
        gateway.get_payment("999")
    with pytest.raises(NotFound):
        gateway.refund("999", None, idempotency_key="refund-of-nothing")


def test_wrong_access_token_is_dependency_unavailable(mercadopago_emulator: MercadoPagoEmulator) -> None:
    gateway = MercadoPagoGateway(mercadopago_settings(mercadopago_emulator, mercadopago_access_token="wrong"))

    with pytest.raises(DependencyUnavailable, match="401"):
        gateway.create_checkout(checkout_request())


def test_payments_is_built_once_from_the_environment(
    mercadopago_emulator: MercadoPagoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MERCADOPAGO_ACCESS_TOKEN", "test-mp-token")
    monkeypatch.setenv("MERCADOPAGO_API_BASE_URL", mercadopago_emulator.url)
    reset_settings()
    payments.cache_clear()
    try:
        gateway = payments()
        assert payments() is gateway
        assert gateway.create_checkout(checkout_request()).preference_id
    finally:
        payments.cache_clear()
        reset_settings()
