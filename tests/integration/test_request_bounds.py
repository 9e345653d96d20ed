"""Free-form and text fields of the requests are bounded: a 422 that names the field, and nothing stored.

child_details is the one free-form object of the API (the old client sends a few short texts there); every other
request field has a type and a length.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity
from tests.support.purchases import attendee, buy, create_event, purchase_body, rows, scalar

HALF_A_MEGABYTE = "x" * 500_000


def child(**details: Any) -> dict[str, Any]:
    return attendee("Sofía Soto", is_child=True, child_details=details)


def error_locations(answer: Any) -> list[list[Any]]:
    assert answer.status == 422, answer.body
    return [error["loc"] for error in answer.json()["detail"]]


@pytest.mark.parametrize(
    ("details", "field"),
    [
        pytest.param({"iglesia": HALF_A_MEGABYTE}, "iglesia", id="a long extra text"),
        pytest.param({"allergies": HALF_A_MEGABYTE}, "allergies", id="a long known text"),
        pytest.param({"notes": {"nested": ["objects"]}}, "notes", id="an extra object"),
        pytest.param({"medications": [{"nombre": HALF_A_MEGABYTE}]}, "medications", id="a long medication"),
        pytest.param({"medications": [{"nombre": "paracetamol"}] * 21}, "medications", id="too many medications"),
        pytest.param({"k" * 65: "x"}, "k" * 65, id="a long key"),
    ],
)
def test_child_details_out_of_bounds_are_422_naming_the_field_and_buy_nothing(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, details: dict[str, Any], field: str
) -> None:
    event = create_event(admin)

    answer = buy(buyer, purchase_body(buyer, event["id"], [attendee(), child(**details)]))

    assert any(location[:5] == ["body", "attendees", 1, "child_details", field] for location in error_locations(answer))
    assert scalar("SELECT count(*) FROM orders") == 0


def test_child_details_with_too_many_keys_is_422(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity):
    event = create_event(admin)

    answer = buy(buyer, purchase_body(buyer, event["id"], [child(**{f"key{number}": "x" for number in range(41)})]))

    assert ["body", "attendees", 0, "child_details"] in error_locations(answer)
    assert "at most 40 keys" in answer.body
    assert scalar("SELECT count(*) FROM orders") == 0


def test_the_children_records_keys_are_kept(checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity) -> None:
    event = create_event(admin)
    details = {
        "birth_date": "2019-05-01T00:00:00",
        "allergies": "maní",
        "iglesia": "Iglesia Central",
        "edad": 7,
        "toma_medicamento": True,
        "detalle_necesidad_especial": None,
        "medicamentos": [{"nombre_medicamento": "Salbutamol", "frecuencia": "si necesita"}],
    }

    answer = buy(buyer, purchase_body(buyer, event["id"], [child(**details)]))

    assert answer.status == 200, answer.body
    [stored] = rows("SELECT child_details FROM attendees")
    assert {key: stored.child_details[key] for key in details if key != "birth_date"} == {
        key: value for key, value in details.items() if key != "birth_date"
    }


def test_more_services_than_an_event_can_have_is_422(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin)
    services = {f"00000000-0000-4000-8000-{number:012d}": 1 for number in range(51)}

    answer = buy(buyer, purchase_body(buyer, event["id"], selected_services=services))

    assert ["body", "selected_services"] in error_locations(answer)
    assert scalar("SELECT count(*) FROM orders") == 0


def test_capacity_available_is_a_number_never_a_free_form_value(admin: Identity) -> None:
    event = create_event(admin)

    answer = call(
        "put_event",
        "PUT",
        "/api/v1/events/{event_id}",
        {"event_id": event["id"]},
        body={"capacity_available": {"free": HALF_A_MEGABYTE}},
        token=admin.token,
    )

    assert ["body", "capacity_available"] in error_locations(answer)
