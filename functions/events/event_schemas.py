"""Request and response models of the events API (compatible with the old service's EventCreate / EventResponse)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crowdify.config.settings import SUPPORTED_CURRENCIES
from crowdify.core.money import JsonMoney

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=5000)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Currency = Literal[SUPPORTED_CURRENCIES]  # type: ignore[valid-type]
# Tickets one buyer may hold and own for an event (live holds plus tickets not cancelled); null: no limit.
MaxTicketsPerBuyer = Annotated[int | None, Field(ge=1, le=1_000_000)]
# How long a waiting-list offer (a personal code) lasts before it goes to the next in line.
WaitingListOfferHours = Annotated[int, Field(ge=1, le=720)]


class WaitingRoomSettings(BaseModel):
    """An event's waiting room (crowdify.domain.waiting_room): people who join before `opens_at` get places drawn
    at random then; the inlet lets `admissions_per_minute` of them buy, each within `admission_minutes`."""

    model_config = ConfigDict(extra="forbid")

    opens_at: datetime
    admissions_per_minute: int = Field(default=600, ge=1, le=100_000)
    admission_minutes: int = Field(default=10, ge=1, le=120)


class ServiceInput(BaseModel):
    """An add-on service as the old client sends it in `services` (a free-form object there)."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID | None = None
    name: Name
    description: OptionalText = None
    price: Price
    service_type: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] = "general"
    stock_total: int = Field(default=0, ge=0, le=1_000_000)
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    organizer_id: uuid.UUID | None = None
    name: Name
    location_text: OptionalText = None
    point_location: Annotated[str | None, StringConstraints(max_length=100)] = None
    starts_at: datetime
    ends_at: datetime | None = None
    capacity_total: int = Field(ge=0, le=1_000_000)
    allow_children: bool = False
    category: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=100)] = "otro"
    description: OptionalText = None
    image_url: Annotated[str | None, StringConstraints(max_length=2000)] = None
    price: Price | None = None
    services: list[ServiceInput] | None = Field(default=None, max_length=50)
    currency: Currency | None = None
    timezone: Annotated[str | None, StringConstraints(max_length=64)] = None
    status: Literal["draft", "published"] | None = None
    max_tickets_per_buyer: MaxTicketsPerBuyer = None
    waiting_list_offer_hours: WaitingListOfferHours = 24
    # null: no waiting room (purchases open to everyone).
    waiting_room: WaitingRoomSettings | None = None


class EventUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name | None = None
    location_text: OptionalText = None
    point_location: Annotated[str | None, StringConstraints(max_length=100)] = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    capacity_total: int | None = Field(default=None, ge=0, le=1_000_000)
    # Accepted only to say why it cannot be written: it is derived from capacity, sales and holds.
    capacity_available: int | None = None
    allow_children: bool | None = None
    category: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=100)] = None
    description: OptionalText = None
    image_url: Annotated[str | None, StringConstraints(max_length=2000)] = None
    price: Price | None = None
    services: list[ServiceInput] | None = Field(default=None, max_length=50)
    currency: Currency | None = None
    timezone: Annotated[str | None, StringConstraints(max_length=64)] = None
    status: Literal["draft", "published", "cancelled"] | None = None
    # null removes the limit; leaving the field out keeps it.
    max_tickets_per_buyer: MaxTicketsPerBuyer = None
    waiting_list_offer_hours: WaitingListOfferHours | None = None
    # null turns the waiting room off; leaving the field out keeps it.
    waiting_room: WaitingRoomSettings | None = None


class TicketTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    price: Price
    capacity: int | None = Field(default=None, ge=0, le=1_000_000)
    sales_start_at: datetime | None = None
    sales_end_at: datetime | None = None
    max_per_order: int | None = Field(default=None, ge=1, le=100)
    is_child: bool = False
    is_default: bool = False
    # Listed publicly and sold only with a promo code that names it.
    is_hidden: bool = False


class TicketTypeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    price: Price | None = None
    capacity: int | None = Field(default=None, ge=0, le=1_000_000)
    sales_start_at: datetime | None = None
    sales_end_at: datetime | None = None
    max_per_order: int | None = Field(default=None, ge=1, le=100)
    is_default: bool | None = None
    is_hidden: bool | None = None


class TicketTypeResponse(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    name: str
    price: JsonMoney
    currency: str
    is_child: bool
    is_default: bool
    is_hidden: bool = False
    capacity: int | None
    capacity_available: int
    sales_start_at: datetime | None
    sales_end_at: datetime | None
    max_per_order: int | None
    created_at: datetime | None
    updated_at: datetime | None


class EventServiceResponse(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    name: str
    description: str | None
    price: JsonMoney
    service_type: str
    stock_total: int
    stock_available: int
    min_age: int | None
    max_age: int | None
    created_at: datetime | None


class EventResponse(BaseModel):
    id: uuid.UUID
    organizer_id: uuid.UUID
    name: str
    location_text: str | None
    point_location: str | None
    starts_at: datetime
    ends_at: datetime | None
    capacity_total: int
    capacity_available: int
    allow_children: bool
    category: str | None
    description: str | None
    image_url: str | None
    price: JsonMoney | None
    currency: str
    timezone: str
    status: str
    max_tickets_per_buyer: int | None
    waiting_list_offer_hours: int
    waiting_room: WaitingRoomSettings | None = None
    ticket_types: list[TicketTypeResponse]
    event_services: list[EventServiceResponse]
    created_at: datetime
    updated_at: datetime | None


class VoucherCheck(BaseModel):
    """What a promo code does, and nothing else: not its use, its limits or who made it."""

    valid: bool
    code: str
    discount_type: str
    value: JsonMoney
    ticket_type_ids: list[uuid.UUID]
    valid_until: datetime | None
