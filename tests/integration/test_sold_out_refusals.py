"""Refusing a plainly sold-out purchase without the hold: no event row lock, no recount, no ORM; and the exact recount
still sells a seat the counters overstate (a cancelled ticket, a hold past its deadline that no sweep has released)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text
from sqlalchemy.orm import Session

from crowdify.domain.order_payments import cancel_tickets
from crowdify.persistence.database import engine
from crowdify.persistence.models import Order
from crowdify.persistence.pg_connection import statements_sent
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import HttpResponse
from tests.support.identities import Identity
from tests.support.purchases import buy, complete_with_tickets, create_event, execute, purchase_body, scalar

LOCK_WAIT_SECONDS = 10


def sold_out_event(admin: Identity, buyer: Identity) -> tuple[str, str]:
    """An event of one seat, sold to `buyer` (tickets issued); the event's and the order's ids."""
    event = create_event(admin, capacity_total=1, services=[], allow_children=False)
    bought = buy(buyer, purchase_body(buyer, event["id"]))
    assert bought.status == 200, bought.body
    complete_with_tickets(bought.json()["order_id"])
    return event["id"], bought.json()["order_id"]


def pool_call(action: Callable[[], HttpResponse]) -> HttpResponse:
    """The action on its own thread; a failure when it waits out LOCK_WAIT_SECONDS (it queued on a lock)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(action).result(timeout=LOCK_WAIT_SECONDS)


def test_a_plainly_sold_out_purchase_is_refused_without_waiting_for_the_event_lock(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event_id, _order_id = sold_out_event(admin, buyer)
    locked = threading.Event()
    release = threading.Event()

    def hold_the_event_lock() -> None:
        with engine().connect() as connection, connection.begin():
            connection.execute(text("SELECT 1 FROM events WHERE id = :id FOR UPDATE"), {"id": event_id})
            locked.set()
            release.wait(LOCK_WAIT_SECONDS * 2)

    with ThreadPoolExecutor(max_workers=1) as pool:
        holder = pool.submit(hold_the_event_lock)
        assert locked.wait(LOCK_WAIT_SECONDS)
        try:
            with statements_sent() as prepared:
                refusal = pool_call(lambda: buy(other_buyer, purchase_body(other_buyer, event_id)))
        finally:
            release.set()
        holder.result()

    assert refusal.status == 409 and "sold out" in refusal.json()["detail"]
    # The caller's role and the catalogue: no hold statement, no recount.
    assert len(prepared) == 2, prepared


def test_a_cancelled_ticket_makes_the_counters_inexact_and_its_seat_sells_again(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event_id, order_id = sold_out_event(admin, buyer)
    with Session(engine()) as session, session.begin():
        order = session.get_one(Order, uuid.UUID(order_id))
        assert cancel_tickets(session, order, None)
    assert scalar("SELECT claims_overstated FROM events WHERE id = :id", id=event_id)

    resold = buy(other_buyer, purchase_body(other_buyer, event_id))
    assert resold.status == 200, resold.body
    # The exact recount that found the seat made the counters exact again.
    assert not scalar("SELECT claims_overstated FROM events WHERE id = :id", id=event_id)


def test_a_hold_past_its_deadline_not_yet_swept_does_not_make_a_false_sold_out(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event = create_event(admin, capacity_total=1, services=[], allow_children=False)
    held = buy(buyer, purchase_body(buyer, event["id"]))
    assert held.status == 200, held.body
    refused = buy(other_buyer, purchase_body(other_buyer, event["id"]))
    assert refused.status == 409

    execute(
        "UPDATE orders SET hold_expires_at = now() - interval '1 second' WHERE id = :id", id=held.json()["order_id"]
    )
    bought = buy(other_buyer, purchase_body(other_buyer, event["id"]), headers={"Idempotency-Key": "after-expiry"})
    assert bought.status == 200, bought.body
