"""Hold expiry: a passed deadline frees seats at once; the sweep marks orders expired unless MercadoPago has paid."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hold_expiry import expire_overdue_holds

from crowdify.adapters.mercadopago_client import payments
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import LambdaContext, call
from tests.support.identities import Identity
from tests.support.mercadopago import emulator_call
from tests.support.paid_orders import fetch_payment, post_notification
from tests.support.purchases import (
    attendee,
    buy,
    claims_are_exact,
    create_event,
    execute,
    held_seats,
    purchase_body,
    scalar,
)


def bought(buyer: Identity, event_id: str, seats: int = 1) -> str:
    response = buy(buyer, purchase_body(buyer, event_id, [attendee(f"Persona {n}") for n in range(seats)]))
    assert response.status == 200, response.body
    return response.json()["order_id"]


def past_deadline(order_id: str) -> None:
    execute("UPDATE orders SET hold_expires_at = now() - interval '1 second' WHERE id = :id", id=order_id)


def bought_and_overdue(buyer: Identity, event_id: str) -> str:
    """An order past its deadline, made one at a time: a buyer has at most two live pending orders per event."""
    order_id = bought(buyer, event_id)
    past_deadline(order_id)
    return order_id


def status(order_id: str) -> str:
    return scalar("SELECT status FROM orders WHERE id = :id", id=order_id)


def sweep() -> dict[str, int]:
    return expire_overdue_holds(payments(), lambda: 60.0).as_dict()


def test_a_passed_deadline_frees_the_seats_before_any_sweep(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event = create_event(admin, capacity_total=2)
    first = bought(buyer, event["id"], seats=2)
    assert buy(other_buyer, purchase_body(other_buyer, event["id"])).status == 409

    past_deadline(first)

    assert held_seats(event["id"]) == 0
    fetched = call("get_event", "GET", "/api/v1/events/{event_id}", {"event_id": event["id"]}).json()
    assert fetched["capacity_available"] == 2
    second = buy(other_buyer, purchase_body(other_buyer, event["id"]))
    assert second.status == 200, second.body
    assert status(first) == "pending", "only the sweep changes the state"

    assert sweep() == {"expired": 1, "paid": 0, "left_for_next_run": 0}
    assert status(first) == "expired"
    assert scalar("SELECT expired_at IS NOT NULL FROM orders WHERE id = :id", id=first)
    assert claims_are_exact(event["id"])
    third = buy(buyer, purchase_body(buyer, event["id"]))
    assert third.status == 200, "the expired seats came back to the counters"
    assert buy(admin, purchase_body(admin, event["id"])).status == 409


def test_the_sweep_leaves_live_holds_and_finished_orders_alone(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    live = bought(buyer, event["id"])
    cancelled = bought(buyer, event["id"])
    call(
        "post_purchase_cancel",
        "POST",
        "/api/v1/purchases/{order_id}/cancel",
        {"order_id": cancelled},
        token=buyer.token,
    )
    past_deadline(cancelled)

    assert sweep() == {"expired": 0, "paid": 0, "left_for_next_run": 0}
    assert (status(live), status(cancelled)) == ("pending", "cancelled")


def test_the_sweep_settles_a_payment_no_notification_brought(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    paid, unpaid, rejected, short = (bought_and_overdue(buyer, event["id"]) for _ in range(4))
    emulator_call(checkout, "POST", "/_emulator/payments", {"external_reference": paid, "notify": False})
    emulator_call(
        checkout, "POST", "/_emulator/payments", {"external_reference": rejected, "status": "rejected", "notify": False}
    )
    emulator_call(
        checkout,
        "POST",
        "/_emulator/payments",
        {"external_reference": short, "transaction_amount": "1", "notify": False},
    )

    assert sweep() == {"expired": 3, "paid": 1, "left_for_next_run": 0}
    assert (status(paid), status(unpaid), status(rejected), status(short)) == (
        "completed",
        "expired",
        "expired",
        "expired",
    ), "a payment that cannot complete its order no longer keeps it pending forever"
    assert scalar("SELECT count(*) FROM tickets WHERE order_id = :id", id=paid) == 1
    assert scalar("SELECT problem FROM payments WHERE external_reference = :id", id=short) == "amount_mismatch"
    assert sweep() == {"expired": 0, "paid": 0, "left_for_next_run": 0}
    short_payment = scalar("SELECT provider_payment_id FROM payments WHERE external_reference = :id", id=short)
    assert post_notification(short_payment).status == 200, "the webhook's late delivery of the same payment"
    at_mercadopago = fetch_payment(checkout, short_payment)
    assert at_mercadopago["status"] == "refunded", "the money of a payment that could not pay is returned"
    assert len(at_mercadopago["refunds"]) == 1
    assert scalar("SELECT count(*) FROM refunds WHERE reason = 'amount_mismatch'") == 1


@pytest.mark.parametrize("outage", ["500", "stopped"])
def test_mercadopago_down_leaves_overdue_orders_for_the_next_run(
    outage: str, checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    overdue = [bought_and_overdue(buyer, event["id"]) for _ in range(3)]
    if outage == "500":
        emulator_call(checkout, "POST", "/_emulator/faults", {"mode": "500", "count": 100})
    else:
        checkout.stop()

    assert sweep() == {"expired": 0, "paid": 0, "left_for_next_run": 3}
    assert [status(order_id) for order_id in overdue] == ["pending"] * 3


def test_the_scheduled_handler_runs_the_sweep(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity) -> None:
    import scheduled_expire_holds

    event = create_event(admin)
    order_id = bought(buyer, event["id"])
    past_deadline(order_id)
    scheduled_event: dict[str, Any] = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"}

    result = scheduled_expire_holds.lambda_handler(
        scheduled_event, LambdaContext(function_name="scheduled_expire_holds")
    )

    assert result == {
        "expired": 1,
        "paid": 0,
        "left_for_next_run": 0,
        "refunds_made": 0,
        "refunds_refused": 0,
        "refunds_unanswered": 0,
        "lapsed_code_reservations_returned": 0,
    }
    assert status(order_id) == "expired"


def test_a_sweep_short_of_time_stops_and_leaves_the_rest(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    for order_id in [bought(buyer, event["id"]) for _ in range(2)]:
        past_deadline(order_id)

    result = expire_overdue_holds(payments(), lambda: 5.0).as_dict()

    assert result == {"expired": 0, "paid": 0, "left_for_next_run": 2}


def test_the_scheduled_sweep_logs_at_info_only_when_it_did_something(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    import scheduled_expire_holds

    messages: list[str] = []
    # A handler of the test's own: Powertools' handler keeps whichever stdout it was built with, which pytest swaps.
    collector = logging.Handler(logging.INFO)
    collector.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    scheduled_expire_holds.logger.addHandler(collector)
    scheduled_expire_holds.logger.setLevel("INFO")
    try:
        assert (
            scheduled_expire_holds.lambda_handler({}, LambdaContext(function_name="scheduled_expire_holds"))["expired"]
            == 0
        )
        assert messages == [], "a sweep that found nothing is quiet at INFO"

        past_deadline(bought(buyer, create_event(admin, capacity_total=2)["id"]))
        assert (
            scheduled_expire_holds.lambda_handler({}, LambdaContext(function_name="scheduled_expire_holds"))["expired"]
            == 1
        )
        assert messages == ["expiry sweep done"]
    finally:
        scheduled_expire_holds.logger.setLevel("WARNING")
        scheduled_expire_holds.logger.removeHandler(collector)
