"""Tickets of an event, the children views and the door CSV, on the known data set."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text

from crowdify.persistence.database import engine
from tests.support.admin_data import KnownData, build_known_data
from tests.support.api_gateway import call
from tests.support.identities import Identity

TICKETS = "/api/v1/admin/events/{event_id}/tickets"
CSV_ROUTE = "/api/v1/admin/events/{event_id}/tickets.csv"


@pytest.fixture
def known(db: str) -> KnownData:
    return build_known_data()


def tickets_of(identity: Identity, event_id, **query: str):
    return call(
        "get_admin_event_tickets", "GET", TICKETS, {"event_id": str(event_id)}, query=query, token=identity.token
    )


def children_export(identity: Identity, event_id):
    route = "/api/v1/admin/events/{event_id}/tickets/children/export"
    return call(
        "get_admin_event_tickets_children_export", "GET", route, {"event_id": str(event_id)}, token=identity.token
    )


def test_event_tickets_with_filters_and_summary(coordinator: Identity, known: KnownData) -> None:
    response = tickets_of(coordinator, known.events["A"])
    assert response.status == 200, response.body
    body = response.json()
    assert body["event"] == {"id": str(known.events["A"]), "name": "Concierto"}
    assert len(body["tickets"]) == 8, "every ticket of A1, A2, A3 and A7 without a limit"
    assert body["summary"] == {
        "total": 8,
        "adults": 6,
        "children": 2,
        "by_status": {"issued": 5, "cancelled": 3},
    }
    child = next(t for t in body["tickets"] if t["is_child"] and t["status"] == "issued")
    assert child["child_details"]["nombre"] == "Asistente3 A1 Pérez"
    with engine().connect() as connection:
        starts = connection.execute(
            text("SELECT (starts_at AT TIME ZONE timezone)::date FROM events WHERE id = :id"), {"id": known.events["A"]}
        ).scalar_one()
    assert child["child_details"]["edad"] == starts.year - 2016 - ((starts.month, starts.day) < (5, 4)), (
        "age at the event"
    )
    assert child["child_details"]["es_alergico"] is True and child["child_details"]["detalle_alergias"] == "maní"
    assert child["child_details"]["medicamentos"] == [
        {"nombre_medicamento": "Salbutamol", "frecuencia": "si necesita", "observaciones": None}
    ]
    assert child["order_item"] == {
        "order_id": str(known.orders["A1"]),
        "order": {"user": {"email": "ana@example.test", "first_name": "Ana", "last_name": "Rojas"}},
    }
    adult = next(t for t in body["tickets"] if not t["is_child"])
    assert adult["child_details"] is None and adult["qr_signature"].startswith("CT1")

    only_children = tickets_of(coordinator, known.events["A"], is_child="true", include_child_details="false").json()
    assert [t["is_child"] for t in only_children["tickets"]] == [True, True]
    assert all(t["child_details"] is None for t in only_children["tickets"])
    cancelled = tickets_of(coordinator, known.events["A"], ticket_status="cancelled").json()
    assert cancelled["summary"]["total"] == 3 and {t["status"] for t in cancelled["tickets"]} == {"cancelled"}
    found = tickets_of(coordinator, known.events["A"], search="1a2-k").json()
    assert [t["holder_document_number"] for t in found["tickets"]] == ["1A2-K"]
    page = tickets_of(coordinator, known.events["A"], limit="3", offset="6").json()
    assert len(page["tickets"]) == 2 and page["summary"]["total"] == 8
    assert tickets_of(coordinator, known.events["A"], ticket_status="lost").status == 422
    assert tickets_of(coordinator, "00000000-0000-4000-8000-000000000000").status == 404


def test_a_childs_age_is_counted_on_the_events_local_day(coordinator: Identity, known: KnownData) -> None:
    # 22:00 on 3 May in Santiago is 02:00 on 4 May in UTC: the child born on 4 May 2016 is still 13 at the event.
    with engine().begin() as connection:
        connection.execute(
            text(
                "UPDATE events SET starts_at = '2030-05-04 02:00+00', ends_at = NULL, timezone = 'America/Santiago'"
                " WHERE id = :id"
            ),
            {"id": known.events["A"]},
        )
    listed = tickets_of(coordinator, known.events["A"], is_child="true", ticket_status="issued").json()
    [child] = listed["tickets"]
    assert child["child_details"]["edad"] == 13
    export = children_export(coordinator, known.events["A"]).json()
    assert {child["edad"] for child in export["children"] if child["fecha_nacimiento"] == "2016-05-04"} == {13}


def test_children_export_and_global_children_list(coordinator: Identity, known: KnownData) -> None:
    export = children_export(coordinator, known.events["A"])
    assert export.status == 200, export.body
    children = export.json()["children"]
    assert sorted(child["ticket_status"] for child in children) == ["cancelled", "issued"]
    issued = next(child for child in children if child["ticket_status"] == "issued")
    assert issued["comprador"] == {"nombre": "Ana Rojas", "email": "ana@example.test"}
    assert issued["rut"] == "3A1-K" and issued["tipo_documento"] == "RUT"
    assert issued["fecha_nacimiento"] == "2016-05-04" and issued["iglesia"] == "Iglesia Central"
    # A leading + is a formula to a spreadsheet: neutralised like every text of the export.
    assert issued["numero_emergencia"] == "'+56 9 1234 5678" and issued["nombre_contacto_emergencia"] == "Rosa Díaz"
    assert issued["toma_medicamento"] is True and issued["tiene_necesidad_especial"] is False

    everywhere = call("get_admin_tickets_children", "GET", "/api/v1/admin/tickets/children", token=coordinator.token)
    assert everywhere.status == 200
    assert everywhere.json()["total_count"] == 1, "the charged-back child's ticket is cancelled"
    [ticket] = everywhere.json()["tickets"]
    assert (ticket["event_name"], ticket["nombre"], ticket["iglesia"]) == (
        "Concierto",
        "Asistente3 A1 Pérez",
        "Iglesia Central",
    )
    by_church = call(
        "get_admin_tickets_children",
        "GET",
        "/api/v1/admin/tickets/children",
        query={"search": "central"},
        token=coordinator.token,
    ).json()
    assert by_church["total_count"] == 1
    nobody = call(
        "get_admin_tickets_children",
        "GET",
        "/api/v1/admin/tickets/children",
        query={"search": "zzz"},
        token=coordinator.token,
    ).json()
    assert nobody == {"tickets": [], "total_count": 0}


def texts_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in texts_in(item)]
    return []


def test_the_children_exports_neutralise_formulas_as_the_csv_does(coordinator: Identity, known: KnownData) -> None:
    hostile_details = {
        "nombre": '=HYPERLINK("http://evil","x")',
        "rut": "+1-1",
        "allergies": "-2+3",
        "iglesia": "@SUM(A1:A2)",
        "emergency_contact_name": "\tTabbed",
        "emergency_contact_phone": "\rReturned",
        "medications": [{"nombre_medicamento": "=cmd|' /C calc'!A0", "frecuencia": "si necesita"}],
        "edad": 9,
    }
    with engine().begin() as connection:
        connection.execute(
            text("UPDATE attendees SET child_details = CAST(:details AS jsonb) WHERE child_details IS NOT NULL"),
            {"details": json.dumps(hostile_details)},
        )
        connection.execute(
            text("UPDATE users SET first_name = '=1+1', last_name = NULL WHERE id = :id"), {"id": known.buyers["ana"]}
        )
        connection.execute(text("UPDATE events SET name = '-Concierto' WHERE id = :id"), {"id": known.events["A"]})

    export = children_export(coordinator, known.events["A"])
    everywhere = call("get_admin_tickets_children", "GET", "/api/v1/admin/tickets/children", token=coordinator.token)

    assert export.status == 200 and everywhere.status == 200, (export.body, everywhere.body)
    issued = next(child for child in export.json()["children"] if child["ticket_status"] == "issued")
    [ticket] = everywhere.json()["tickets"]
    for record in (issued, ticket):
        assert record["nombre"] == '\'=HYPERLINK("http://evil","x")'
        assert record["detalle_alergias"] == "'-2+3"
        assert record["iglesia"] == "'@SUM(A1:A2)"
        assert record["medicamentos"][0]["nombre_medicamento"] == "'=cmd|' /C calc'!A0"
        assert record["edad"] == 9 and record["es_alergico"] is True
    assert issued["rut"] == "'+1-1"
    assert issued["nombre_contacto_emergencia"] == "'\tTabbed" and issued["numero_emergencia"] == "'\rReturned"
    assert issued["comprador"]["nombre"] == "'=1+1"
    assert export.json()["event"]["name"] == ticket["event_name"] == "'-Concierto"
    for text_value in texts_in(export.json()) + texts_in(everywhere.json()):
        assert not text_value.startswith(("=", "+", "-", "@", "\t", "\r")), text_value


def test_csv_export_escapes_separators_and_formulas(coordinator: Identity, known: KnownData) -> None:
    hostile = [
        ('=HYPERLINK("http://evil","x")', 'Pérez, "Pepe"'),
        ("+56912345678", "line one\nline two"),
        ("-2+3", "@SUM(A1:A2)"),
        ("\tTabbed", "Normal"),
    ]
    ticket_ids = known.tickets["A1"][:2] + known.tickets["A2"][:2]
    with engine().begin() as connection:
        for ticket_id, (first_name, last_name) in zip(ticket_ids, hostile, strict=True):
            connection.execute(
                text("UPDATE tickets SET holder_first_name = :f, holder_last_name = :l WHERE id = :id"),
                {"f": first_name, "l": last_name, "id": ticket_id},
            )
    response = call(
        "get_admin_event_tickets_csv", "GET", CSV_ROUTE, {"event_id": str(known.events["A"])}, token=coordinator.token
    )
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    raw = response.raw["body"]
    assert raw.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(raw.removeprefix("\ufeff"), newline="")))
    assert rows[0][:5] == ["ticket_id", "first_name", "last_name", "document_type", "document_number"]
    assert len(rows) == 9
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[str(ticket_ids[0])][1:3] == ['\'=HYPERLINK("http://evil","x")', 'Pérez, "Pepe"']
    assert by_id[str(ticket_ids[1])][1:3] == ["'+56912345678", "line one\nline two"]
    assert by_id[str(ticket_ids[2])][1:3] == ["'-2+3", "'@SUM(A1:A2)"]
    assert by_id[str(ticket_ids[3])][1:3] == ["'\tTabbed", "Normal"]
    # Quoting is the csv module's: the comma and the quotes stay inside one field.
    assert '"Pérez, ""Pepe"""' in raw and '"line one\nline two"' in raw
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
