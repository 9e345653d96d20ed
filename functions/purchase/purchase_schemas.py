"""Request and response models of the purchase API (compatible with the old service's PurchaseRequest & co.)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crowdify.money import JsonMoney

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=2000)]
# The orders column holds this much; the Idempotency-Key header is held to it too.
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Deliberately loose (one @, no spaces): the address is the buyer's to get right, not ours to police.
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]

MAX_ATTENDEES_PER_ORDER = 50
MAX_SERVICE_UNITS_PER_LINE = 100


class ChildDetailsData(BaseModel):
    """As the old client sends it; extra keys are kept (it is stored as JSON and shown to coordinators)."""

    model_config = ConfigDict(extra="allow")

    birth_date: datetime | None = None
    allergies: OptionalText = None
    special_needs: OptionalText = None
    emergency_contact_name: OptionalText = None
    emergency_contact_phone: OptionalText = None
    medications: list[dict[str, Any]] | None = Field(default=None, max_length=50)


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
    selected_services: dict[uuid.UUID, Annotated[int, Field(ge=0, le=MAX_SERVICE_UNITS_PER_LINE)]] | None = None
    idempotency_key: Annotated[
        str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
    ] = None


class PurchaseResponse(BaseModel):
    order_id: uuid.UUID
    payment_link: str
    status: str


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
