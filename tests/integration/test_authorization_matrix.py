"""Who may call what: every route of template.yaml by seven callers, each cell's status asserted.

Each protected route is also called with input it would refuse (path, query and body): a caller without a token
still gets 401 and one without the role 403, never a 422 that tells them what the route takes.

The callers are the six kinds of docs/architecture.md "Roles and authentication" (anonymous, user, scanner, scanner
device, coordinator, admin), with the user split by ownership: the owner of the order, ticket and user id in the path,
and another user. A route missing from ROUTES fails the test, so a new route cannot ship without its row in the matrix.
Each cell runs against a world of its own, so one caller's change (a delete, a refund) never decides another's.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crowdify.auth.backend_tokens import issue_device_token, issue_download_token
from crowdify.config.settings import get_settings
from crowdify.persistence.database import engine
from local.sam_template import SamTemplate
from tests.support import orders
from tests.support.api_gateway import call
from tests.support.identities import Identity, create_identity
from tests.support.paid_orders import create_payment, signature_headers
from tests.support.tickets import issue_tickets

CALLERS = ("anonymous", "owner", "other_user", "scanner", "device", "coordinator", "admin")
OK = "ok"  # the caller gets through: no 401, no 403, and no 404 that hides someone else's resource


@dataclass
class World:
    owner: Identity
    other_user: Identity
    scanner: Identity
    coordinator: Identity
    admin: Identity
    device_id: uuid.UUID
    device_token: str
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    paid_order_id: uuid.UUID
    pending_order_id: uuid.UUID
    ticket_id: uuid.UUID
    ticket_token: str
    waiting_entry_id: uuid.UUID
    voucher_id: uuid.UUID
    voucher_code: str
    tokens: dict[str, str | None] = field(default_factory=dict)

    def caller_id(self, caller: str) -> uuid.UUID:
        identity = getattr(self, caller, None) if caller not in ("anonymous", "device") else None
        return identity.user_id if identity else self.owner.user_id


def build_world(mercadopago: Any) -> World:
    owner, other_user = create_identity("user"), create_identity("user")
    scanner, coordinator, admin = create_identity("scanner"), create_identity("coordinator"), create_identity("admin")
    paid = issue_tickets(1, owner_id=owner.user_id)
    pending = orders.create_pending_order(
        orders.TestEvent(paid.event_id, paid.ticket_type_id, Decimal(15000), "CLP"),
        owner.user_id,
        attendees=1,
    )
    device_id = uuid.uuid4()
    with engine().begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO scanner_devices (id, name, event_ids, created_by, expires_at) VALUES (%s, %s, %s, %s, %s)",
            (device_id, "Puerta", [paid.event_id], admin.user_id, datetime.now(UTC) + timedelta(hours=8)),
        )
    device_token = issue_device_token(str(device_id), [str(paid.event_id)], get_settings().jwt_secret, 8 * 3600)
    waiting_entry_id = uuid.uuid4()
    voucher_id, voucher_code = uuid.uuid4(), "MATRIX10"
    with engine().begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO waiting_list_entries (id, event_id, user_id, seats) VALUES (%s, %s, %s, 1)",
            (waiting_entry_id, paid.event_id, owner.user_id),
        )
        connection.exec_driver_sql(
            "INSERT INTO vouchers (id, event_id, code, discount_type, value, max_redemptions) "
            "VALUES (%s, %s, %s, 'percent', 10, 5)",
            (voucher_id, paid.event_id, voucher_code),
        )
    world = World(
        owner=owner,
        other_user=other_user,
        scanner=scanner,
        coordinator=coordinator,
        admin=admin,
        device_id=device_id,
        device_token=device_token,
        event_id=paid.event_id,
        ticket_type_id=paid.ticket_type_id,
        paid_order_id=paid.order_id,
        pending_order_id=pending.id,
        ticket_id=paid.tickets[0].id,
        ticket_token=paid.tickets[0].qr_signature,
        waiting_entry_id=waiting_entry_id,
        voucher_id=voucher_id,
        voucher_code=voucher_code,
    )
    world.tokens = {
        "anonymous": None,
        "owner": owner.token,
        "other_user": other_user.token,
        "scanner": scanner.token,
        "device": device_token,
        "coordinator": coordinator.token,
        "admin": admin.token,
    }
    # The paid order is paid by a payment MercadoPago knows (refunds ask it), and has its PDF.
    payment_id = create_payment(mercadopago, paid.order_id, 15000)
    with engine().begin() as connection:
        connection.exec_driver_sql(
            "UPDATE orders SET pdf_object_key = %s, payment_id = %s WHERE id = %s",
            (f"orders/{paid.order_id}/tickets.pdf", payment_id, paid.order_id),
        )
    return world


# Expected outcome per caller, by policy (docs/architecture.md "Roles and authentication").
def policy(**outcomes: Any) -> dict[str, Any]:
    return {caller: outcomes.get(caller, OK) for caller in CALLERS}


PUBLIC = policy()
SIGNED_IN_PERSON = policy(anonymous=401, device=403)
STAFF_OR_DEVICE = policy(anonymous=401, owner=403, other_user=403)
MANAGERS = policy(anonymous=401, owner=403, other_user=403, scanner=403, device=403)
ADMINS = policy(anonymous=401, owner=403, other_user=403, scanner=403, device=403, coordinator=403)
ORDER_VIEWERS = policy(anonymous=401, device=403, other_user=404, scanner=404)
ORDER_OWNER = policy(anonymous=401, device=403, other_user=404, scanner=404, coordinator=404, admin=404)
USER_TICKETS = policy(anonymous=401, device=403, other_user=404, scanner=404, coordinator=404)
TICKET_READERS = policy(anonymous=401, other_user=404)


@dataclass(frozen=True)
class RouteCall:
    expected: dict[str, Any]
    path: Callable[[World], dict[str, str]] = lambda _world: {}
    body: Callable[[World, str], Any] | None = None
    query: Callable[[World], dict[str, str]] | None = None
    headers: Callable[[World], dict[str, str]] | None = None


def event_path(world: World) -> dict[str, str]:
    return {"event_id": str(world.event_id)}


def waiting_entry_path(world: World) -> dict[str, str]:
    return {"event_id": str(world.event_id), "entry_id": str(world.waiting_entry_id)}


def voucher_path(world: World) -> dict[str, str]:
    return {"event_id": str(world.event_id), "voucher_id": str(world.voucher_id)}


def paid_order_path(world: World) -> dict[str, str]:
    return {"order_id": str(world.paid_order_id)}


def pending_order_path(world: World) -> dict[str, str]:
    return {"order_id": str(world.pending_order_id)}


ROUTES: dict[str, RouteCall] = {
    "GET /health": RouteCall(PUBLIC),
    "GET /ready": RouteCall(PUBLIC),
    "GET /docs": RouteCall(PUBLIC),
    "GET /docs/{asset}": RouteCall(PUBLIC, lambda _world: {"asset": "swagger-ui.min.css"}),
    "GET /openapi.json": RouteCall(PUBLIC),
    "GET /api/v1/events": RouteCall(PUBLIC),
    "GET /api/v1/events/{event_id}": RouteCall(PUBLIC, event_path),
    "GET /api/v1/events/{event_id}/vouchers/{code}": RouteCall(
        PUBLIC, lambda world: {"event_id": str(world.event_id), "code": world.voucher_code.lower()}
    ),
    "POST /api/v1/events": RouteCall(
        MANAGERS,
        body=lambda _w, _c: {"name": "Matrix", "starts_at": "2027-01-01T20:00:00", "capacity_total": 5, "price": 10},
    ),
    "PUT /api/v1/events/{event_id}": RouteCall(MANAGERS, event_path, body=lambda _w, _c: {"name": "Renamed"}),
    "DELETE /api/v1/events/{event_id}": RouteCall(ADMINS, event_path),
    "POST /api/v1/events/{event_id}/ticket-types": RouteCall(
        MANAGERS, event_path, body=lambda _w, _c: {"name": "VIP", "price": 100}
    ),
    "PUT /api/v1/events/{event_id}/ticket-types/{ticket_type_id}": RouteCall(
        MANAGERS,
        lambda w: {"event_id": str(w.event_id), "ticket_type_id": str(w.ticket_type_id)},
        body=lambda _w, _c: {"price": 200},
    ),
    "GET /api/v1/events/{event_id}/scanner-bundle": RouteCall(STAFF_OR_DEVICE, event_path),
    # Joining while seats are on sale is a 409: past authorisation, as the matrix asks.
    "POST /api/v1/events/{event_id}/waiting-list": RouteCall(
        SIGNED_IN_PERSON, event_path, body=lambda _w, _c: {"seats": 1}
    ),
    # Only the owner has an entry: everyone else signed in finds none of theirs.
    "GET /api/v1/events/{event_id}/waiting-list": RouteCall(ORDER_OWNER, event_path),
    # The matrix's event has no waiting room: a 409 for everyone signed in, past authorisation.
    "POST /api/v1/events/{event_id}/queue": RouteCall(SIGNED_IN_PERSON, event_path),
    "GET /api/v1/events/{event_id}/queue": RouteCall(SIGNED_IN_PERSON, event_path),
    "DELETE /api/v1/events/{event_id}/waiting-list": RouteCall(ORDER_OWNER, event_path),
    "POST /api/v1/purchases": RouteCall(
        SIGNED_IN_PERSON,
        body=lambda w, caller: {
            "user_id": str(w.caller_id(caller)),
            "event_id": str(w.event_id),
            "attendees": [{"name": "Ana Pérez", "document_type": "RUT", "document_number": "11111111-1"}],
        },
    ),
    "POST /api/v1/purchases/webhook": RouteCall(
        PUBLIC,
        body=lambda _w, _c: {"type": "payment", "action": "payment.updated", "data": {"id": "424242"}},
        query=lambda _w: {"data.id": "424242", "type": "payment"},
        headers=lambda _w: signature_headers("424242"),
    ),
    "GET /api/v1/purchases/{order_id}/status": RouteCall(ORDER_VIEWERS, paid_order_path),
    "POST /api/v1/purchases/{order_id}/cancel": RouteCall(ORDER_OWNER, pending_order_path),
    "GET /api/v1/purchases/{order_id}/tickets.pdf": RouteCall(ORDER_OWNER, paid_order_path),
    "GET /api/v1/tickets/user/{user_id}": RouteCall(USER_TICKETS, lambda w: {"user_id": str(w.owner.user_id)}),
    "GET /api/v1/tickets/{ticket_id}": RouteCall(TICKET_READERS, lambda w: {"ticket_id": str(w.ticket_id)}),
    "POST /api/v1/tickets/validate": RouteCall(
        STAFF_OR_DEVICE, body=lambda w, _c: {"qr_signature": w.ticket_token, "inspector_id": "door-1"}
    ),
    "POST /api/v1/tickets/sync": RouteCall(
        STAFF_OR_DEVICE,
        body=lambda w, _c: {
            "event_id": str(w.event_id),
            "scans": [{"qr_signature": w.ticket_token, "scanned_at": "2027-01-01T20:05:00Z", "nonce": "n-1"}],
        },
    ),
    "GET /api/v1/admin/users": RouteCall(ADMINS),
    "PUT /api/v1/admin/users/{user_id}/role": RouteCall(
        ADMINS, lambda w: {"user_id": str(w.other_user.user_id)}, body=lambda _w, _c: {"role": "scanner"}
    ),
    "GET /api/v1/admin/scanners": RouteCall(ADMINS),
    "POST /api/v1/admin/scanners": RouteCall(
        ADMINS,
        body=lambda _w, _c: {
            "email": f"door-{uuid.uuid4().hex[:8]}@example.test",
            "first_name": "Puerta",
            "last_name": "Norte",
            "password": "a-long-enough-password",
        },
    ),
    "DELETE /api/v1/admin/scanners/{scanner_id}": RouteCall(ADMINS, lambda w: {"scanner_id": str(w.scanner.user_id)}),
    "POST /api/v1/admin/scanner-devices": RouteCall(
        MANAGERS, body=lambda w, _c: {"name": "Puerta 2", "event_ids": [str(w.event_id)]}
    ),
    "GET /api/v1/admin/scanner-devices": RouteCall(MANAGERS),
    "DELETE /api/v1/admin/scanner-devices/{device_id}": RouteCall(MANAGERS, lambda w: {"device_id": str(w.device_id)}),
    "GET /api/v1/admin/stats": RouteCall(ADMINS),
    "GET /api/v1/admin/organizer": RouteCall(ADMINS),
    "PUT /api/v1/admin/organizer": RouteCall(ADMINS, body=lambda _w, _c: {"org_name": "Crowdify SpA"}),
    "GET /api/v1/admin/events": RouteCall(MANAGERS),
    "GET /api/v1/admin/events/{event_id}/stats": RouteCall(MANAGERS, event_path),
    "POST /api/v1/admin/events/{event_id}/vouchers": RouteCall(
        MANAGERS, event_path, body=lambda _w, _c: {"discount_type": "percent", "value": 10, "count": 2, "tag": "m"}
    ),
    "GET /api/v1/admin/events/{event_id}/vouchers": RouteCall(MANAGERS, event_path),
    "GET /api/v1/admin/events/{event_id}/vouchers.csv": RouteCall(MANAGERS, event_path),
    "PUT /api/v1/admin/events/{event_id}/vouchers/{voucher_id}": RouteCall(
        MANAGERS, voucher_path, body=lambda _w, _c: {"discount_type": "fixed", "value": 1000, "max_redemptions": 5}
    ),
    "DELETE /api/v1/admin/events/{event_id}/vouchers/{voucher_id}": RouteCall(MANAGERS, voucher_path),
    "GET /api/v1/admin/events/{event_id}/tickets": RouteCall(MANAGERS, event_path),
    "GET /api/v1/admin/events/{event_id}/waiting-list": RouteCall(MANAGERS, event_path),
    "POST /api/v1/admin/events/{event_id}/waiting-list/{entry_id}/offer": RouteCall(MANAGERS, waiting_entry_path),
    "DELETE /api/v1/admin/events/{event_id}/waiting-list/{entry_id}": RouteCall(MANAGERS, waiting_entry_path),
    "GET /api/v1/admin/events/{event_id}/tickets.csv": RouteCall(MANAGERS, event_path),
    "GET /api/v1/admin/events/{event_id}/tickets/children/export": RouteCall(MANAGERS, event_path),
    "GET /api/v1/admin/tickets/children": RouteCall(MANAGERS),
    "GET /api/v1/admin/orders": RouteCall(MANAGERS),
    "GET /api/v1/admin/orders/{order_id}": RouteCall(MANAGERS, paid_order_path),
    "POST /api/v1/admin/orders/{order_id}/refund": RouteCall(ADMINS, paid_order_path, body=lambda _w, _c: {}),
    "POST /api/v1/admin/orders/{order_id}/resend": RouteCall(MANAGERS, paid_order_path),
    "POST /api/v1/admin/orders/{order_id}/confirm": RouteCall(
        ADMINS, pending_order_path, body=lambda _w, _c: {"reason": "Paid by bank transfer"}
    ),
    "POST /api/v1/notifications/test-email": RouteCall(ADMINS, query=lambda _w: {"to_email": "ops@example.test"}),
}

REPOSITORY = Path(__file__).parents[2]
TEMPLATE = SamTemplate.read(REPOSITORY / "template.yaml")
MODULES = {route.route_key: route.function.handler.rsplit(".", 1)[0] for route in TEMPLATE.routes}
OPENAPI = json.loads((REPOSITORY / "openapi.json").read_text())
PROTECTED = sorted(key for key, spec in ROUTES.items() if 401 in spec.expected.values())
# No UUID, number, date, boolean or enum member, and longer than any bounded string; as a body, a list where every
# route takes an object.
INVALID = "x" * 5000


def test_every_template_route_has_a_row_in_the_matrix() -> None:
    assert set(MODULES) == set(ROUTES)


@pytest.mark.parametrize("route_key", sorted(MODULES))
def test_route_authorisation(route_key: str, db: str, aws_resources: Any, mercadopago: Any, sendgrid: Any) -> None:
    spec = ROUTES[route_key]
    method, route = route_key.split(" ", 1)
    failures = []
    for caller in CALLERS:
        world = build_world(mercadopago)
        response = call(
            MODULES[route_key],
            method,
            route,
            spec.path(world),
            body=spec.body(world, caller) if spec.body else None,
            query=spec.query(world) if spec.query else None,
            headers=spec.headers(world) if spec.headers else None,
            token=world.tokens[caller],
        )
        expected = spec.expected[caller]
        if expected == OK:
            passed = response.status not in (401, 403, 404) and response.status < 500
        else:
            passed = response.status == expected
        if not passed:
            failures.append(f"{caller}: expected {expected}, got {response.status} {response.body[:200]}")
    assert not failures, f"{route_key}\n  " + "\n  ".join(failures)


def invalid_input(route_key: str) -> dict[str, Any]:
    """Path parameters, query parameters (as the route's OpenAPI operation names them) and a body it cannot take."""
    method, route = route_key.split(" ", 1)
    operation = OPENAPI["paths"][route][method.lower()]
    return {
        "path_parameters": {name: INVALID for name in re.findall(r"{(\w+)}", route)},
        "query": {
            parameter["name"]: INVALID for parameter in operation.get("parameters", []) if parameter["in"] == "query"
        },
        "body": [INVALID] if method in ("POST", "PUT") else None,
    }


def test_the_matrix_protects_routes_of_each_kind_of_input() -> None:
    kinds = [invalid_input(route_key) for route_key in PROTECTED]
    assert all(any(kind[part] for kind in kinds) for part in ("path_parameters", "query", "body"))


@pytest.mark.parametrize("route_key", PROTECTED)
def test_route_refuses_invalid_input_of_callers_it_does_not_let_in_before_validating_it(
    route_key: str, db: str, aws_resources: Any, mercadopago: Any, sendgrid: Any
) -> None:
    spec = ROUTES[route_key]
    method, route = route_key.split(" ", 1)
    world = build_world(mercadopago)
    failures = []
    for caller in CALLERS:
        expected = spec.expected[caller]
        if expected not in (401, 403):
            continue
        response = call(MODULES[route_key], method, route, **invalid_input(route_key), token=world.tokens[caller])
        if response.status != expected:
            failures.append(f"{caller}: expected {expected}, got {response.status} {response.body[:200]}")
    assert not failures, f"{route_key}\n  " + "\n  ".join(failures)


def test_a_download_link_opens_only_its_own_orders_pdf(db: str, aws_resources: Any, mercadopago: Any) -> None:
    world = build_world(mercadopago)
    link = issue_download_token(str(world.paid_order_id), get_settings().jwt_secret)
    route = "/api/v1/purchases/{order_id}/tickets.pdf"
    own = call("get_purchase_tickets_pdf", "GET", route, paid_order_path(world), query={"t": link})
    assert own.status == 302
    other = call("get_purchase_tickets_pdf", "GET", route, pending_order_path(world), query={"t": link})
    assert other.status == 404
