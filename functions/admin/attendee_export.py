"""Who is coming: the event's tickets for coordinators, the children's records, and the door's CSV list.

Children's records come from the attendee's `child_details` as the purchase stored them (the old client's English
keys — birth_date, allergies, … — plus any extra keys such as `iglesia`), shown in the old API's Spanish fields.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from crowdify.core.errors import NotFound
from crowdify.core.timezones import shown_in_zone
from crowdify.persistence.search_patterns import contains_pattern

_EVENT = text("SELECT id, name, starts_at, timezone FROM events WHERE id = :event_id")

_TICKET_COLUMNS = """
    t.id, t.event_id, t.order_id, t.holder_first_name, t.holder_last_name, t.holder_document_type,
    t.holder_document_number, t.is_child, t.status, t.qr_signature, t.issued_at, t.validated_at, t.used_at,
    t.ticket_type_id, tt.name AS ticket_type_name, a.email AS attendee_email, a.child_details,
    o.buyer_email, u.email AS user_email, u.first_name AS buyer_first_name, u.last_name AS buyer_last_name
"""
_TICKET_JOINS = """
      FROM tickets t
      JOIN attendees a ON a.id = t.attendee_id
      JOIN orders o ON o.id = t.order_id
      JOIN users u ON u.id = o.user_id
      JOIN ticket_types tt ON tt.id = t.ticket_type_id
"""
_EVENT_TICKET_FILTER = """
     WHERE t.event_id = :event_id
       AND (CAST(:status AS varchar) IS NULL OR t.status = CAST(:status AS varchar))
       AND (CAST(:is_child AS boolean) IS NULL OR t.is_child = CAST(:is_child AS boolean))
       AND (CAST(:pattern AS varchar) IS NULL
            OR concat_ws(' ', t.holder_first_name, t.holder_last_name) ILIKE CAST(:pattern AS varchar)
            OR t.holder_document_number ILIKE CAST(:pattern AS varchar))
"""
_EVENT_TICKETS = text(
    "SELECT"
    + _TICKET_COLUMNS
    + _TICKET_JOINS
    + _EVENT_TICKET_FILTER
    + """
     ORDER BY t.holder_last_name, t.holder_first_name, t.id
     LIMIT :limit OFFSET :offset
    """
)
# Statements are put together from the constant fragments above; every value is a bound parameter.
_EVENT_TICKET_SUMMARY = text(
    """
    SELECT t.status, t.is_child, count(*) AS tickets
      FROM tickets t
    """  # noqa: S608
    + _EVENT_TICKET_FILTER
    + " GROUP BY t.status, t.is_child"
)
_CHILD_TICKETS = text(
    "SELECT"
    + _TICKET_COLUMNS
    + ", e.name AS event_name, e.starts_at AS event_starts_at, e.timezone AS event_timezone"
    + _TICKET_JOINS
    + """
      JOIN events e ON e.id = t.event_id
     WHERE t.is_child
       AND (CAST(:event_id AS uuid) IS NULL OR t.event_id = CAST(:event_id AS uuid))
       AND (CAST(:with_cancelled AS boolean) OR t.status <> 'cancelled')
       AND (CAST(:pattern AS varchar) IS NULL
            OR concat_ws(' ', t.holder_first_name, t.holder_last_name) ILIKE CAST(:pattern AS varchar)
            OR t.holder_document_number ILIKE CAST(:pattern AS varchar)
            OR a.child_details ->> 'nombre' ILIKE CAST(:pattern AS varchar)
            OR a.child_details ->> 'rut' ILIKE CAST(:pattern AS varchar)
            OR a.child_details ->> 'iglesia' ILIKE CAST(:pattern AS varchar))
     ORDER BY e.starts_at, t.holder_last_name, t.holder_first_name, t.id
    """
)


@dataclass(frozen=True)
class EventRef:
    id: uuid.UUID
    name: str
    starts_at: datetime
    timezone: str

    @property
    def local_day(self) -> date:
        """The day the event starts where it happens (a child's age is counted on it, not on UTC's date)."""
        return shown_in_zone(self.starts_at, self.timezone).date()


@dataclass(frozen=True)
class TicketFilters:
    status: str | None = None
    is_child: bool | None = None
    search: str | None = None
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class TicketSummary:
    total: int
    adults: int
    children: int
    by_status: dict[str, int]


@dataclass(frozen=True)
class EventTickets:
    event: EventRef
    rows: list[Any]
    summary: TicketSummary


def _pattern(search: str | None) -> str | None:
    if not search or not search.strip():
        return None
    return contains_pattern(search)


def load_event(session: Session, event_id: uuid.UUID) -> EventRef:
    row = session.execute(_EVENT, {"event_id": event_id}).first()
    if row is None:
        raise NotFound("Event not found")
    return EventRef(row.id, row.name, row.starts_at, row.timezone)


def event_tickets(session: Session, event_id: uuid.UUID, filters: TicketFilters) -> EventTickets:
    """The event's tickets matching the filters (every one unless a limit is given), and their summary."""
    event = load_event(session, event_id)
    parameters = {
        "event_id": event_id,
        "status": filters.status,
        "is_child": filters.is_child,
        "pattern": _pattern(filters.search),
    }
    rows = list(session.execute(_EVENT_TICKETS, {**parameters, "limit": filters.limit, "offset": filters.offset}))
    if filters.limit is None and not filters.offset:
        # Every matching ticket is loaded (the CSV, the old client's list): count them rather than ask again.
        groups = Counter((row.status, row.is_child) for row in rows)
    else:
        summary = session.execute(_EVENT_TICKET_SUMMARY, parameters)
        groups = Counter({(row.status, row.is_child): int(row.tickets) for row in summary})
    by_status: dict[str, int] = {}
    for (status, _), tickets in groups.items():
        by_status[status] = by_status.get(status, 0) + tickets
    children = sum(tickets for (_, is_child), tickets in groups.items() if is_child)
    adults = sum(groups.values()) - children
    return EventTickets(event, rows, TicketSummary(adults + children, adults, children, by_status))


def child_tickets(session: Session, event_id: uuid.UUID | None, search: str | None, with_cancelled: bool) -> list[Any]:
    return list(
        session.execute(
            _CHILD_TICKETS, {"event_id": event_id, "pattern": _pattern(search), "with_cancelled": with_cancelled}
        )
    )


# -- the old API's children records -------------------------------------------------------------


def _text(details: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = details.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _birth_date(details: dict[str, Any]) -> date | None:
    raw = _text(details, "fecha_nacimiento", "birth_date")
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            return None


def _age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _medications(details: dict[str, Any]) -> list[dict[str, Any]]:
    listed = details.get("medicamentos") or details.get("medications") or []
    medications = []
    for medication in listed if isinstance(listed, list) else []:
        if not isinstance(medication, dict):
            continue
        medications.append(
            {
                "nombre_medicamento": _text(medication, "nombre_medicamento", "name", "nombre") or "",
                "frecuencia": _text(medication, "frecuencia", "frequency", "dosis", "dose") or "",
                "observaciones": _text(medication, "observaciones", "notes", "observations"),
            }
        )
    return medications


def child_record(row: Any, event_day: date) -> dict[str, Any]:
    """The old API's `ChildDetails` fields for a child ticket, from its attendee's details and the ticket."""
    details = row.child_details if isinstance(row.child_details, dict) else {}
    birth = _birth_date(details)
    allergies = _text(details, "detalle_alergias", "allergies")
    special_needs = _text(details, "detalle_necesidad_especial", "special_needs")
    medications = _medications(details)
    stated_age = details.get("edad")
    return {
        "nombre": _text(details, "nombre") or f"{row.holder_first_name} {row.holder_last_name}".strip(),
        "rut": _text(details, "rut") or row.holder_document_number or "",
        "tipo_documento": _text(details, "tipo_documento") or row.holder_document_type or "",
        "fecha_nacimiento": birth.isoformat() if birth else "",
        "edad": stated_age if isinstance(stated_age, int) else (_age_on(birth, event_day) or 0),
        "correo": _text(details, "correo", "email") or row.attendee_email,
        "toma_medicamento": bool(details.get("toma_medicamento", bool(medications))),
        "es_alergico": bool(details.get("es_alergico", allergies is not None)),
        "detalle_alergias": allergies,
        "nombre_contacto_emergencia": _text(details, "nombre_contacto_emergencia", "emergency_contact_name"),
        "parentesco_contacto_emergencia": _text(
            details, "parentesco_contacto_emergencia", "emergency_contact_relationship"
        ),
        "numero_emergencia": _text(details, "numero_emergencia", "emergency_contact_phone") or "",
        "pais_telefono": _text(details, "pais_telefono", "phone_country") or "",
        "iglesia": _text(details, "iglesia", "church"),
        "tiene_necesidad_especial": bool(details.get("tiene_necesidad_especial", special_needs is not None)),
        "detalle_necesidad_especial": special_needs,
        "medicamentos": medications,
    }


def buyer_name(row: Any) -> str:
    name = " ".join(part for part in (row.buyer_first_name, row.buyer_last_name) if part)
    return name or row.user_email or row.buyer_email or ""


# -- the door's CSV -------------------------------------------------------------------------------

CSV_HEADER = (
    "ticket_id",
    "first_name",
    "last_name",
    "document_type",
    "document_number",
    "ticket_type",
    "is_child",
    "status",
    "checked_in_at",
    "order_id",
    "buyer_email",
    "attendee_email",
)
# A cell a spreadsheet would run as a formula (=, +, -, @, and the tab / carriage return that some read the
# same way) gets a leading apostrophe: shown as text, never evaluated (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def spreadsheet_safe(value: Any) -> str:
    """One CSV cell."""
    return "" if value is None else spreadsheet_text(str(value))


def spreadsheet_values(value: Any) -> Any:
    """JSON the web client turns into a spreadsheet: every text in it made safe, numbers, booleans and nulls kept."""
    if isinstance(value, str):
        return spreadsheet_text(value)
    if isinstance(value, dict):
        return {key: spreadsheet_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [spreadsheet_values(item) for item in value]
    return value


def attendees_csv(tickets: EventTickets) -> str:
    """RFC 4180 CSV (quotes, commas and line breaks quoted by the csv module) with a UTF-8 BOM for Excel."""
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    zone_name = tickets.event.timezone
    for row in tickets.rows:
        checked_in_at = shown_in_zone(row.used_at, zone_name)
        writer.writerow(
            spreadsheet_safe(value)
            for value in (
                row.id,
                row.holder_first_name,
                row.holder_last_name,
                row.holder_document_type,
                row.holder_document_number,
                row.ticket_type_name,
                "yes" if row.is_child else "no",
                row.status,
                checked_in_at.isoformat() if checked_in_at else "",
                row.order_id,
                row.buyer_email or row.user_email,
                row.attendee_email,
            )
        )
    return "\ufeff" + output.getvalue()
