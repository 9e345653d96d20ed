"""The purchase's plan (functions/purchase/purchase_plan.py) on its own: no database, no settings, no emulator."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from purchase_plan import (
    Catalog,
    CatalogTicketType,
    buyer_for,
    check_buyer_limits,
    plan_order,
    priced_lines,
    request_fingerprint,
)
from purchase_schemas import PurchaseRequest

from crowdify.auth.callers import Caller
from crowdify.core.errors import Conflict, Forbidden, InvalidRequest, NotFound, PurchaseLimitReached

REPOSITORY = Path(__file__).resolve().parents[2]
NOW = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
ADULT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
CHILD = uuid.UUID("00000000-0000-4000-8000-00000000000c")
VIP = uuid.UUID("00000000-0000-4000-8000-0000000000f1")
PARKING = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
BUYER = uuid.UUID("00000000-0000-4000-8000-000000000001")
EVENT = uuid.UUID("00000000-0000-4000-8000-0000000000e1")


def ticket_type(type_id: uuid.UUID, name: str, **overrides: Any) -> CatalogTicketType:
    values: dict[str, Any] = {
        "id": type_id,
        "name": name,
        "is_child": False,
        "is_default": False,
        "max_per_order": None,
        "sales_start_at": None,
        "sales_end_at": None,
    }
    return CatalogTicketType(**{**values, **overrides})


def catalog(*types: CatalogTicketType, **overrides: Any) -> Catalog:
    types = types or (
        ticket_type(ADULT, "General", is_default=True),
        ticket_type(CHILD, "Niños", is_child=True, is_default=True),
        ticket_type(VIP, "VIP"),
    )
    values: dict[str, Any] = {
        "event_id": EVENT,
        "event_name": "Retiro",
        "status": "published",
        "currency": "ARS",
        "allow_children": True,
        "max_tickets_per_buyer": None,
        "now": NOW,
        "ticket_types": {tt.id: tt for tt in types},
        "services": {PARKING: "Estacionamiento"},
        "buyer_exists": True,
        "buyer_email": "buyer@example.com",
        "existing_order": None,
    }
    return Catalog(**{**values, **overrides})


def attendee(name: str = "Ana María López", **fields: Any) -> dict[str, Any]:
    return {"name": name, "document_type": "DNI", "document_number": "30111222", **fields}


def request(*attendees: dict[str, Any], **fields: Any) -> PurchaseRequest:
    return PurchaseRequest.model_validate(
        {"user_id": str(BUYER), "event_id": str(EVENT), "attendees": list(attendees) or [attendee()], **fields}
    )


def test_an_attendee_without_a_ticket_type_gets_the_default_for_adults_or_children() -> None:
    plan = plan_order(
        catalog(),
        request(attendee(), attendee("Leo"), attendee("Sofi", is_child=True, child_details={"allergies": "nueces"})),
    )

    assert plan.ticket_quantities() == {ADULT: 2, CHILD: 1}
    assert plan.seats == 3
    assert [(row["position"], row["first_name"], row["last_name"]) for row in plan.attendees] == [
        (1, "Ana", "María López"),
        (2, "Leo", ""),
        (3, "Sofi", ""),
    ]
    assert [row["item_id"] for row in plan.attendees] == [
        str(plan.ticket_lines[ADULT].item_id),
        str(plan.ticket_lines[ADULT].item_id),
        str(plan.ticket_lines[CHILD].item_id),
    ]
    assert plan.attendees[2]["child_details"]["allergies"] == "nueces"
    assert plan.attendees[0]["child_details"] is None


def test_an_adult_never_carries_child_details() -> None:
    plan = plan_order(catalog(), request(attendee(child_details={"allergies": "polen"})))

    assert plan.attendees[0]["child_details"] is None


def test_a_chosen_ticket_type_is_used_and_must_match_adult_or_child() -> None:
    plan = plan_order(catalog(), request(attendee(ticket_type_id=str(VIP))))
    assert plan.ticket_quantities() == {VIP: 1}

    with pytest.raises(InvalidRequest, match="is for adults; set is_child"):
        plan_order(catalog(), request(attendee(is_child=True, ticket_type_id=str(VIP))))
    with pytest.raises(InvalidRequest, match="is for children"):
        plan_order(catalog(), request(attendee(ticket_type_id=str(CHILD))))
    with pytest.raises(InvalidRequest, match="is not sold for this event"):
        plan_order(catalog(), request(attendee(ticket_type_id=str(uuid.uuid4()))))


def test_children_are_refused_where_the_event_admits_none_or_has_no_default_for_them() -> None:
    with pytest.raises(InvalidRequest, match="does not admit children"):
        plan_order(catalog(allow_children=False), request(attendee(is_child=True)))
    with pytest.raises(InvalidRequest, match="no default child ticket type"):
        plan_order(catalog(ticket_type(ADULT, "General", is_default=True)), request(attendee(is_child=True)))
    with pytest.raises(InvalidRequest, match="no default adult ticket type"):
        plan_order(catalog(ticket_type(VIP, "VIP")), request(attendee()))


@pytest.mark.parametrize(
    ("start", "end", "refusal"),
    [
        (NOW + timedelta(seconds=1), None, "open at"),
        (None, NOW, "closed at"),
        (None, NOW - timedelta(days=1), "closed at"),
        (NOW, None, None),
        (None, NOW + timedelta(seconds=1), None),
        (NOW - timedelta(days=1), NOW + timedelta(days=1), None),
    ],
)
def test_sales_windows_open_at_their_start_and_close_at_their_end(
    start: datetime | None, end: datetime | None, refusal: str | None
) -> None:
    windowed = catalog(ticket_type(ADULT, "General", is_default=True, sales_start_at=start, sales_end_at=end))

    if refusal is None:
        assert plan_order(windowed, request()).ticket_quantities() == {ADULT: 1}
    else:
        with pytest.raises(InvalidRequest, match=refusal):
            plan_order(windowed, request())


def test_the_per_order_maximum_counts_the_attendees_of_one_ticket_type() -> None:
    limited = catalog(ticket_type(ADULT, "General", is_default=True, max_per_order=2))

    assert plan_order(limited, request(attendee(), attendee())).seats == 2
    with pytest.raises(InvalidRequest, match=r"At most 2 tickets of 'General' per order \(3 requested\)"):
        plan_order(limited, request(attendee(), attendee(), attendee()))


@pytest.mark.parametrize(("status", "error"), [("draft", NotFound), ("cancelled", Conflict), ("finished", Conflict)])
def test_only_a_published_event_sells(status: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        plan_order(catalog(status=status), request())


def test_services_must_be_offered_and_a_zero_quantity_is_no_line() -> None:
    plan = plan_order(catalog(), request(selected_services={str(PARKING): 2}))
    assert plan.service_quantities() == {PARKING: 2}
    assert plan.seats == 1

    assert plan_order(catalog(), request(selected_services={str(PARKING): 0})).service_lines == {}
    with pytest.raises(InvalidRequest, match="is not offered for this event"):
        plan_order(catalog(), request(selected_services={str(uuid.uuid4()): 1}))


def test_priced_lines_name_tickets_then_services_at_the_prices_the_hold_stored() -> None:
    event = catalog()
    plan = plan_order(event, request(attendee(is_child=True), attendee(), selected_services={str(PARKING): 3}))
    prices = {
        str(plan.ticket_lines[CHILD].item_id): Decimal("0"),
        str(plan.ticket_lines[ADULT].item_id): Decimal("1500.50"),
        str(plan.service_lines[PARKING].item_id): Decimal("200"),
    }

    lines = priced_lines(event, plan, prices)

    assert [(line.title, line.quantity, line.unit_price) for line in lines] == [
        ("Retiro — Niños", 1, Decimal("0")),
        ("Retiro — General", 1, Decimal("1500.50")),
        ("Retiro — Estacionamiento", 3, Decimal("200")),
    ]


def test_only_an_admin_buys_for_someone_else() -> None:
    other = uuid.uuid4()

    assert buyer_for(Caller(id=BUYER, role="user"), BUYER) == BUYER
    assert buyer_for(Caller(id=BUYER, role="admin"), other) == other
    with pytest.raises(Forbidden):
        buyer_for(Caller(id=BUYER, role="user"), other)
    with pytest.raises(Forbidden):
        buyer_for(Caller(id=BUYER, role="coordinator"), other)


def test_the_fingerprint_ignores_the_key_and_field_order_and_sees_every_field_read() -> None:
    body = {"user_id": str(BUYER), "event_id": str(EVENT), "attendees": [attendee()], "selected_services": {}}
    fingerprint = request_fingerprint(PurchaseRequest.model_validate(body))

    reordered = dict(reversed(list(body.items())))
    assert request_fingerprint(PurchaseRequest.model_validate({**reordered, "idempotency_key": "k-1"})) == fingerprint
    assert request_fingerprint(PurchaseRequest.model_validate({**body, "idempotency_key": "k-2"})) == fingerprint
    # Fields the model ignores are not read, so they do not make a request different.
    assert request_fingerprint(PurchaseRequest.model_validate({**body, "price": 1})) == fingerprint
    # A child's extra details keep the order they were sent in; the fingerprint must not.
    child = attendee(is_child=True, child_details={"iglesia": "Centro", "edad": 7})
    child_reordered = attendee(is_child=True, child_details={"edad": 7, "iglesia": "Centro"})
    assert request_fingerprint(PurchaseRequest.model_validate({**body, "attendees": [child]})) == request_fingerprint(
        PurchaseRequest.model_validate({**body, "attendees": [child_reordered]})
    )
    assert len(fingerprint) == 64

    changed = [
        {**body, "attendees": [attendee(document_number="30111223")]},
        {**body, "attendees": [attendee(), attendee()]},
        {**body, "selected_services": {str(PARKING): 1}},
        {**body, "event_id": str(uuid.uuid4())},
    ]
    assert len({request_fingerprint(PurchaseRequest.model_validate(other)) for other in changed} | {fingerprint}) == 5


@dataclass(frozen=True)
class Verdict:
    pending_fit: bool
    tickets_fit: bool
    buyer_tickets: int
    voucher_fit: bool = True


def test_buyer_limits_refuse_with_the_limit_that_was_reached() -> None:
    check_buyer_limits(Verdict(True, True, 4), 3, 6, 2)

    with pytest.raises(PurchaseLimitReached, match="Ya tienes 3 compras pendientes de pago"):
        check_buyer_limits(Verdict(False, True, 0), 3, None, 1)
    with pytest.raises(PurchaseLimitReached, match="como máximo 6 entradas por comprador: ya tienes 5 y pides 2"):
        check_buyer_limits(Verdict(True, False, 5), 3, 6, 2)
    # A limit reached is a conflict (409), as the error table maps it.
    assert issubclass(PurchaseLimitReached, Conflict)


def test_the_plan_is_pure_importing_it_loads_no_database_driver_payment_sdk_or_settings() -> None:
    probe = (
        "import sys; import purchase_plan; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('sqlalchemy', 'pg8000', 'mercadopago',"
        " 'boto3', 'requests') or name in ('crowdify.config.settings', 'purchase_statements', 'purchases')))"
    )
    path = [str(REPOSITORY / "functions" / "purchase"), str(REPOSITORY / "layers" / "shared")]
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(path)},
    ).stdout.strip()

    assert loaded == "[]"
