"""Request and response models of the purchase API (compatible with the old service's PurchaseRequest & co.)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from crowdify.core.money import JsonMoney

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=2000)]
# The orders column holds this much; the Idempotency-Key header is held to it too.
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Deliberately loose (one @, no spaces): the address is the buyer's to get right, not ours to police.
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]

MAX_ATTENDEES_PER_ORDER = 50
MAX_SERVICE_UNITS_PER_LINE = 100
# An event takes at most this many add-on services (event_schemas), so an order names no more.
MAX_SERVICES_PER_ORDER = 50

# child_details is stored per attendee and shown to coordinators: each part of it is bounded, so that no order
# carries more than a few kilobytes of it per child (the old client sends a handful of short texts).
MAX_CHILD_DETAIL_KEYS = 40
MAX_DETAIL_KEY_LENGTH = 64
MAX_DETAIL_TEXT_LENGTH = 500
MAX_MEDICATIONS = 20
MAX_MEDICATION_KEYS = 8
DetailKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_DETAIL_KEY_LENGTH)]
DetailText = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=MAX_DETAIL_TEXT_LENGTH)]
# The old service's ChildDetailsData.medications: objects of texts.
Medication = Annotated[dict[DetailKey, DetailText], Field(max_length=MAX_MEDICATION_KEYS)]
Medications = Annotated[list[Medication], Field(max_length=MAX_MEDICATIONS)]


def _scalar_detail(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) <= MAX_DETAIL_TEXT_LENGTH:
        return value.strip()
    raise ValueError(f"must be a text of at most {MAX_DETAIL_TEXT_LENGTH} characters, a number, true / false or null")


ScalarDetail = Annotated[
    Any,
    AfterValidator(_scalar_detail),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_DETAIL_TEXT_LENGTH},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
            ]
        }
    ),
]


class ChildDetailsData(BaseModel):
    """The old client's fields, plus other keys it may send (`iglesia`, `edad`, … as the children's records read
    them in functions/admin/attendee_export.py): those are kept when they are short texts, numbers, booleans or null."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "maxProperties": MAX_CHILD_DETAIL_KEYS,
            "propertyNames": {"maxLength": MAX_DETAIL_KEY_LENGTH},
        },
    )
    __pydantic_extra__: dict[DetailKey, ScalarDetail] = Field(init=False)

    birth_date: datetime | None = None
    allergies: OptionalText = None
    special_needs: OptionalText = None
    emergency_contact_name: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=200)] = None
    emergency_contact_phone: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=50)] = None
    medications: Medications | None = None
    # The same list under the Spanish name the children's records also read.
    medicamentos: Medications | None = None

    @model_validator(mode="before")
    @classmethod
    def _few_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_CHILD_DETAIL_KEYS:
            raise ValueError(f"child_details takes at most {MAX_CHILD_DETAIL_KEYS} keys")
        return data


class AttendeeData(BaseModel):
    # Unknown fields (a `price`, say) are ignored: nothing the client says about money is read.
    model_config = ConfigDict(extra="ignore")

    name: Text200
    email: Email | None = None
    document_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    document_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    is_child: bool = False
    child_details: ChildDetailsData | None = None
    ticket_type_id: uuid.UUID | None = None


class PurchaseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: uuid.UUID
    event_id: uuid.UUID
    attendees: list[AttendeeData] = Field(min_length=1, max_length=MAX_ATTENDEES_PER_ORDER)
    selected_services: (
        Annotated[
            dict[uuid.UUID, Annotated[int, Field(ge=0, le=MAX_SERVICE_UNITS_PER_LINE)]],
            Field(max_length=MAX_SERVICES_PER_ORDER),
        ]
        | None
    ) = None
    idempotency_key: Annotated[
        str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
    ] = None
    # Not in the old service's model (its client never sends it): a promo code of the event.
    voucher_code: Annotated[str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] = None


class PurchaseResponse(BaseModel):
    order_id: uuid.UUID
    payment_link: str
    status: str
    # Not in the old service's model; the client may ignore them.
    total: JsonMoney
    discount: JsonMoney


class OrderStatusResponse(BaseModel):
    order_id: uuid.UUID
    status: str
    total: JsonMoney
    currency: str
    payment_provider: str | None
    payment_reference: str | None
    created_at: datetime
    paid_at: datetime | None
    # Not in the old service's model; the client may ignore them.
    event_id: uuid.UUID
    hold_expires_at: datetime
    payment_link: str | None
    discount_total: JsonMoney = Decimal(0)
