"""Request and response models of the admin API (field names and types of the old service's schemas, plus more)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator

from crowdify.core.email_address import EmailAddress
from crowdify.core.money import JsonMoney
from crowdify.core.statuses import ORDER_STATUSES, ROLES

Role = Literal[ROLES]  # type: ignore[valid-type]
OrderStatus = Literal[ORDER_STATUSES]  # type: ignore[valid-type]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# A plain shape check (email-validator is not a dependency); the mail provider has the last word.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]


# -- users, roles and the old API's scanners ------------------------------------------------------


def _absent_is_empty(value: object) -> object:
    # The web client reads these as strings: a user created from a token without an email, or an organiser
    # before its first admin, shows "" rather than a null the client would choke on.
    return "" if value is None else value


class UserResponse(BaseModel):
    id: uuid.UUID
    email: str

    _email_never_null = field_validator("email", mode="before")(_absent_is_empty)
    first_name: str | None = None
    last_name: str | None = None
    role: str
    created_at: datetime


class UsersListResponse(BaseModel):
    users: list[UserResponse]
    total: int
    limit: int
    offset: int


class UpdateUserRoleRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role


class CreateScannerRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: EmailAddress
    first_name: ShortText
    last_name: ShortText
    # SecretStr: the password never shows up in a repr, a log line or an error body.
    password: SecretStr = Field(min_length=1, max_length=200)


class ScannerResponse(UserResponse):
    pass


class ScannersListResponse(BaseModel):
    scanners: list[ScannerResponse]


class DeleteScannerResponse(BaseModel):
    message: str
    user_id: uuid.UUID


# -- organiser ----------------------------------------------------------------------------------


class OrganizerResponse(BaseModel):
    id: uuid.UUID
    org_name: str
    contact_email: str | None = None
    contact_phone: str | None = None
    user_id: str = ""
    created_at: datetime
    updated_at: datetime | None = None

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id_as_text(cls, value: object) -> object:
        return str(_absent_is_empty(value))


class OrganizerUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    org_name: ShortText | None = None
    contact_email: EmailAddress | None = None
    contact_phone: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=50)] = None


# -- orders -------------------------------------------------------------------------------------


class OrderItemView(BaseModel):
    id: uuid.UUID
    ticket_type_id: uuid.UUID | None
    event_service_id: uuid.UUID | None
    name: str
    quantity: int
    unit_price: JsonMoney
    subtotal: JsonMoney


class OrderTicketView(BaseModel):
    id: uuid.UUID
    ticket_type_id: uuid.UUID
    holder_first_name: str
    holder_last_name: str
    holder_document_type: str | None
    holder_document_number: str | None
    is_child: bool
    status: str
    used_at: datetime | None
    cancelled_at: datetime | None


class OrderRefundView(BaseModel):
    id: uuid.UUID
    provider_refund_id: str | None
    amount: JsonMoney | None
    reason: str
    ticket_ids: list[uuid.UUID] | None
    requested_by: uuid.UUID | None
    created_at: datetime


class OrderPaymentView(BaseModel):
    provider_payment_id: str
    status: str
    status_detail: str | None
    amount: JsonMoney
    currency: str
    refunded_amount: JsonMoney
    problem: str | None
    created_at: datetime


class AuditView(BaseModel):
    action: str
    actor_user_id: uuid.UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    created_at: datetime


class AdminOrderSummary(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_name: str
    user_id: uuid.UUID
    buyer_email: str | None
    status: str
    currency: str
    total: JsonMoney
    refunded_amount: JsonMoney
    ticket_count: int
    payment_id: str | None
    hold_expires_at: datetime
    paid_at: datetime | None
    created_at: datetime


class AdminOrdersListResponse(BaseModel):
    orders: list[AdminOrderSummary]
    total: int
    limit: int
    offset: int


class AdminOrderDetail(AdminOrderSummary):
    items: list[OrderItemView]
    tickets: list[OrderTicketView]
    payments: list[OrderPaymentView]
    refunds: list[OrderRefundView]
    history: list[AuditView]


# The client's key is stored behind this prefix in `refunds.idempotency_key` (200 characters), whole.
REFUND_KEY_PREFIX = "admin-refund-"
MAX_REFUND_KEY_LENGTH = 200 - len(REFUND_KEY_PREFIX)


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None: refund all that is left of the payment.
    amount: JsonMoney | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    ticket_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    reason: Reason | None = None
    idempotency_key: Annotated[str | None, StringConstraints(min_length=8, max_length=MAX_REFUND_KEY_LENGTH)] = None


class ConfirmOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
    # How it was paid (bank transfer number, receipt…): recorded in the audit log with the reason.
    payment_reference: Annotated[str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] = (
        None
    )


class ResendResponse(BaseModel):
    order_id: uuid.UUID
    message_id: uuid.UUID
    queued: bool


# -- dashboards ---------------------------------------------------------------------------------


class StatsPeriod(BaseModel):
    from_date: datetime | None = None
    to_date: datetime | None = None


class CurrencyStats(BaseModel):
    revenue: JsonMoney
    refunded: JsonMoney
    orders_paid: int
    tickets_sold: int


class DashboardStatsResponse(BaseModel):
    total_events: int
    active_events: int
    total_tickets_sold: int
    # The main currency's revenue only: amounts in different currencies are never added.
    total_revenue: JsonMoney
    currency: str
    period: StatsPeriod | None = None
    revenue_by_currency: dict[str, JsonMoney]
    by_currency: dict[str, CurrencyStats]
    orders_paid: int
    tickets_checked_in: int
    tickets_held: int


class OrganizerInfo(BaseModel):
    id: uuid.UUID
    org_name: str


class TicketTypeInfo(BaseModel):
    id: uuid.UUID
    name: str
    price: JsonMoney
    is_child: bool
    is_default: bool
    capacity: int | None


class EventServiceInfo(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None = None
    price: JsonMoney
    service_type: str = "general"
    stock_total: int = 0
    stock_available: int = 0
    min_age: int | None = None
    max_age: int | None = None


class ServiceStats(BaseModel):
    id: uuid.UUID
    name: str
    service_type: str
    stock: int
    sold: int
    remaining: int
    held: int


class EventStats(BaseModel):
    tickets_sold: int
    tickets_remaining: int
    revenue: JsonMoney
    sales_percentage: float
    services_stats: list[ServiceStats] | None = []
    tickets_held: int
    tickets_checked_in: int
    tickets_cancelled: int
    orders_paid: int
    refunded: JsonMoney
    currency: str


class AdminEventResponse(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None = None
    location_text: str | None = None
    point_location: str | None = None
    starts_at: datetime
    ends_at: datetime | None = None
    capacity_total: int
    capacity_available: int
    category: str
    image_url: str | None = None
    organizer: OrganizerInfo
    ticket_types: list[TicketTypeInfo]
    event_services: list[EventServiceInfo] = []
    stats: EventStats
    status: str
    currency: str
    timezone: str
    allow_children: bool


class AdminEventsListResponse(BaseModel):
    events: list[AdminEventResponse]


class TicketTypeStats(BaseModel):
    id: uuid.UUID
    name: str
    price: JsonMoney
    is_child: bool
    is_default: bool
    capacity: int | None
    tickets_sold: int
    tickets_held: int
    tickets_checked_in: int
    tickets_cancelled: int
    # Seats left under the type's own capacity; None when it has none (the event's capacity still applies).
    remaining: int | None
    # What the valid tickets of this type were sold for (unit prices); refunds are per order, not per type.
    gross_sales: JsonMoney


class DaySalesStats(BaseModel):
    date: str
    orders: int
    tickets: int
    revenue: JsonMoney


class CheckinSlot(BaseModel):
    starts_at: datetime
    checked_in: int
    offline_double_entries: int


class PromoCodeTagStats(BaseModel):
    """Codes of one tag (null: untagged) and what paid orders that redeemed them brought, refunds deducted."""

    tag: str | None
    codes: int
    seats: int
    revenue: JsonMoney


class EventDetailStatsResponse(BaseModel):
    event: AdminEventResponse
    ticket_types: list[TicketTypeStats]
    sales_by_day: list[DaySalesStats]
    checkins_by_quarter_hour: list[CheckinSlot]
    offline_double_entries: int
    promo_codes_by_tag: list[PromoCodeTagStats] = []


# -- tickets and children -------------------------------------------------------------------------


class EventInfo(BaseModel):
    id: uuid.UUID
    name: str


class OrderUserInfo(BaseModel):
    email: str
    first_name: str | None = None
    last_name: str | None = None


class OrderInfo(BaseModel):
    user: OrderUserInfo


class OrderItemInfo(BaseModel):
    order_id: uuid.UUID
    order: OrderInfo


class ChildMedication(BaseModel):
    nombre_medicamento: str
    frecuencia: str
    observaciones: str | None = None


class ChildDetails(BaseModel):
    nombre: str
    rut: str
    tipo_documento: str
    fecha_nacimiento: str
    edad: int
    correo: str | None = None
    toma_medicamento: bool
    es_alergico: bool
    detalle_alergias: str | None = None
    nombre_contacto_emergencia: str | None = None
    parentesco_contacto_emergencia: str | None = None
    numero_emergencia: str
    pais_telefono: str
    iglesia: str | None = None
    tiene_necesidad_especial: bool
    detalle_necesidad_especial: str | None = None
    medicamentos: list[ChildMedication] | None = []


class AdminTicketResponse(BaseModel):
    id: uuid.UUID
    holder_first_name: str
    holder_last_name: str
    holder_document_type: str | None = None
    holder_document_number: str | None = None
    is_child: bool
    status: str
    qr_signature: str
    issued_at: datetime
    validated_at: datetime | None = None
    used_at: datetime | None = None
    order_item: OrderItemInfo
    child_details: ChildDetails | None = None
    ticket_type_id: uuid.UUID
    ticket_type_name: str
    attendee_email: str | None = None


class TicketsSummary(BaseModel):
    total: int
    adults: int
    children: int
    by_status: dict[str, int]


class AdminTicketsListResponse(BaseModel):
    event: EventInfo
    tickets: list[AdminTicketResponse]
    summary: TicketsSummary


class ChildComprador(BaseModel):
    nombre: str
    email: str


class ChildExportData(ChildDetails):
    ticket_id: uuid.UUID
    medicamentos: list[ChildMedication]
    ticket_status: str
    comprador: ChildComprador


class ChildrenExportResponse(BaseModel):
    event: EventInfo
    children: list[ChildExportData]


class ChildTicketInfo(BaseModel):
    ticket_id: uuid.UUID
    event_id: uuid.UUID
    event_name: str
    event_date: str
    nombre: str
    rut: str
    edad: int
    es_alergico: bool
    detalle_alergias: str | None = None
    toma_medicamento: bool
    medicamentos: list[dict[str, Any]]
    tiene_necesidad_especial: bool
    detalle_necesidad_especial: str | None = None
    iglesia: str | None = None
    nombre_contacto_emergencia: str | None = None
    parentesco_contacto_emergencia: str | None = None
    numero_emergencia: str
    issued_at: str


class GlobalChildTicketsResponse(BaseModel):
    tickets: list[ChildTicketInfo]
    total_count: int
