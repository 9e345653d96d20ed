"""The organiser's side of promo codes: terms from requests, responses, and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from typing import TYPE_CHECKING

from attendee_export import spreadsheet_safe
from sqlalchemy import select
from voucher_schemas import VoucherResponse, VoucherTermsInput

from crowdify.core.errors import NotFound
from crowdify.core.timezones import in_event_zone, shown_in_zone
from crowdify.domain.vouchers import VoucherTerms

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crowdify.persistence.models import Event, Voucher

CSV_COLUMNS = (
    "code",
    "tag",
    "discount_type",
    "value",
    "ticket_type_ids",
    "max_redemptions",
    "redeemed",
    "max_per_buyer",
    "valid_from",
    "valid_until",
    "reserve_seats",
    "seats_reserved",
    "is_active",
)


def event_or_not_found(session: Session, event_id: uuid.UUID) -> Event:
    from crowdify.persistence.models import Event

    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("Event not found")
    return event


def terms_from(body: VoucherTermsInput, reserve_seats: bool, event: Event) -> VoucherTerms:
    """Naive date-times are the event's wall-clock time, as everywhere in the API."""
    return VoucherTerms(
        discount_type=body.discount_type,
        value=body.value,
        max_redemptions=body.max_redemptions,
        tag=body.tag,
        ticket_type_ids=tuple(body.ticket_type_ids),
        max_per_buyer=body.max_per_buyer,
        valid_from=in_event_zone(body.valid_from, event.timezone),
        valid_until=in_event_zone(body.valid_until, event.timezone),
        reserve_seats=reserve_seats,
    )


def event_vouchers(session: Session, event_id: uuid.UUID) -> list[Voucher]:
    from crowdify.persistence.models import Voucher

    event_or_not_found(session, event_id)
    query = select(Voucher).where(Voucher.event_id == event_id).order_by(Voucher.created_at, Voucher.code)
    return list(session.scalars(query))


def voucher_response(voucher: Voucher, timezone: str) -> VoucherResponse:
    response = VoucherResponse.model_validate(voucher, from_attributes=True)
    return response.model_copy(
        update={
            "valid_from": shown_in_zone(voucher.valid_from, timezone),
            "valid_until": shown_in_zone(voucher.valid_until, timezone),
        }
    )


def vouchers_csv(vouchers: list[Voucher], timezone: str) -> str:
    """Every cell made safe for a spreadsheet, as the attendee export's."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(CSV_COLUMNS)
    for voucher in vouchers:
        shown = voucher_response(voucher, timezone)
        row = shown.model_dump(mode="json")
        row["ticket_type_ids"] = " ".join(row["ticket_type_ids"])
        writer.writerow([spreadsheet_safe(row[column]) for column in CSV_COLUMNS])
    return output.getvalue()
