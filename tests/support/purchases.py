"""Purchase test helpers: MercadoPago settings pointed at the emulator, events to sell, purchase bodies."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from crowdify.persistence.database import engine
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import HttpResponse, call
from tests.support.identities import Identity

PURCHASES = "/api/v1/purchases"
EVENT = "/api/v1/events/{event_id}"
WAITING_LIST = "/api/v1/events/{event_id}/waiting-list"


@pytest.fixture
def checkout(mercadopago: MercadoPagoEmulator) -> MercadoPagoEmulator:
    """The purchase functions' MercadoPago: the emulator, as `tests.support.paid_orders.mercadopago` sets it."""
    return mercadopago


def create_event(admin: Identity, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Festival de Invierno",
        "location_text": "Parque O'Higgins",
        "starts_at": "2030-07-01T20:00:00",
        "capacity_total": 100,
        "allow_children": True,
        "price": 10000,
        "services": [{"name": "Estacionamiento", "price": 2500, "stock_total": 5}],
    }
    body.update(overrides)
    created = call("post_events", "POST", "/api/v1/events", body=body, token=admin.token)
    assert created.status == 201, created.body
    return created.json()


def update_event(admin: Identity, event_id: str, body: dict[str, Any]) -> HttpResponse:
    """PUT /api/v1/events/{event_id} with `body`; the answer, whatever it is."""
    return call("put_event", "PUT", EVENT, {"event_id": event_id}, body=body, token=admin.token)


def join_waiting_list(person: Identity, event_id: str, **body: Any) -> HttpResponse:
    """POST /api/v1/events/{event_id}/waiting-list with `body` (`seats`, `ticket_type_id`); the answer."""
    return call("post_event_waiting_list", "POST", WAITING_LIST, {"event_id": event_id}, body=body, token=person.token)


def create_ticket_type(admin: Identity, event_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "VIP", "price": 50000, **fields}
    created = call(
        "post_event_ticket_types",
        "POST",
        "/api/v1/events/{event_id}/ticket-types",
        {"event_id": event_id},
        body=body,
        token=admin.token,
    )
    assert created.status == 201, created.body
    return created.json()


def attendee(name: str = "Ana María Pérez", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "email": "ana@example.test",
        "document_type": "RUT",
        "document_number": "11.111.111-1",
    } | fields


def purchase_body(buyer: Identity, event_id: str, attendees: list[dict[str, Any]] | None = None, **fields: Any) -> dict:
    return {"user_id": str(buyer.user_id), "event_id": event_id, "attendees": attendees or [attendee()]} | fields


def buy(buyer: Identity, body: dict[str, Any], headers: dict[str, str] | None = None) -> HttpResponse:
    return call("post_purchases", "POST", PURCHASES, body=body, token=buyer.token, headers=headers)


def cancel(buyer: Identity, order_id: str) -> None:
    """The buyer cancels their pending order through the route; it must succeed."""
    cancelled = call(
        "post_purchase_cancel", "POST", "/api/v1/purchases/{order_id}/cancel", {"order_id": order_id}, token=buyer.token
    )
    assert cancelled.status == 200, cancelled.body


def scalar(sql: str, **parameters: Any) -> Any:
    with engine().connect() as connection:
        return connection.execute(text(sql), parameters).scalar()


def execute(sql: str, **parameters: Any) -> None:
    """A write, committed."""
    with engine().begin() as connection:
        connection.execute(text(sql), parameters)


def rows(sql: str, **parameters: Any) -> list[Any]:
    with engine().connect() as connection:
        return list(connection.execute(text(sql), parameters))


def held_seats(event_id: str | uuid.UUID) -> int:
    """Seats of live holds plus seats sold, as crowdify.domain.capacity counts them."""
    return scalar(
        """
        SELECT (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
                 WHERE o.event_id = :event_id AND oi.ticket_type_id IS NOT NULL
                   AND o.status = 'pending' AND o.hold_expires_at > now())
             + (SELECT count(*) FROM tickets WHERE event_id = :event_id AND status <> 'cancelled')
        """,
        event_id=event_id,
    )


def complete_with_tickets(order_id: str | uuid.UUID) -> None:
    """Marks an order paid and issues its tickets straight in SQL: test data for routes that read tickets."""
    execute(
        """
        WITH paid AS (
            UPDATE orders SET status = 'completed', paid_at = now(), payment_id = 'test-' || id::text
             WHERE id = :order_id RETURNING id, event_id
        )
        INSERT INTO tickets (id, order_id, order_item_id, attendee_id, event_id, ticket_type_id, holder_first_name,
                             holder_last_name, holder_document_type, holder_document_number, is_child, qr_signature)
        SELECT gen_random_uuid(), paid.id, a.order_item_id, a.id, paid.event_id, oi.ticket_type_id, a.first_name,
               a.last_name, a.document_type, a.document_number, a.is_child, 'CT1test' || a.id::text
          FROM paid JOIN attendees a ON a.order_id = paid.id JOIN order_items oi ON oi.id = a.order_item_id
        """,
        order_id=order_id,
    )


def claims_are_exact(event_id: str | uuid.UUID) -> bool:
    """The claim counters equal sold seats plus every pending order's seats plus the seats promo codes reserve
    (crowdify.domain.seat_holds)."""
    return scalar(
        """
        SELECT e.seats_claimed = (SELECT count(*) FROM tickets t WHERE t.event_id = e.id AND t.status <> 'cancelled')
                               + (SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi
                                    JOIN orders o ON o.id = oi.order_id
                                   WHERE o.event_id = e.id AND o.status = 'pending' AND oi.ticket_type_id IS NOT NULL)
                               + (SELECT coalesce(sum(v.seats_reserved), 0) FROM vouchers v WHERE v.event_id = e.id)
          FROM events e WHERE e.id = :event_id
        """,
        event_id=event_id,
    )
