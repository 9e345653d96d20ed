"""The domain's tables as SQLAlchemy 2 ORM models. Alembic migrations create them; nothing calls create_all."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crowdify.core.statuses import (
    EVENT_STATUSES,
    ORDER_STATUSES,
    ROLES,
    TICKET_STATUSES,
    WAITING_LIST_STATUSES,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(12, 2)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), onupdate=func.now())


def _uuid_primary_key() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


class User(Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", ROLES), name="role"),
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), server_default="user")


class Organizer(Timestamps, Base):
    __tablename__ = "organizers"
    __table_args__ = (
        Index("uq_organizers_one_default", "is_default", unique=True, postgresql_where=text("is_default")),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    org_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    is_default: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Event(Timestamps, Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(_one_of("status", EVENT_STATUSES), name="status"),
        CheckConstraint("capacity_total >= 0", name="capacity_total_not_negative"),
        CheckConstraint("ends_at IS NULL OR ends_at >= starts_at", name="ends_after_start"),
        CheckConstraint(
            "max_tickets_per_buyer IS NULL OR max_tickets_per_buyer >= 1", name="max_tickets_per_buyer_positive"
        ),
        CheckConstraint("waiting_list_offer_hours BETWEEN 1 AND 720", name="waiting_list_offer_hours_range"),
        CheckConstraint(
            "waiting_room_admissions_per_minute BETWEEN 1 AND 100000", name="waiting_room_admissions_per_minute_range"
        ),
        CheckConstraint(
            "waiting_room_admission_minutes BETWEEN 1 AND 120", name="waiting_room_admission_minutes_range"
        ),
        Index("ix_events_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    location_text: Mapped[str | None] = mapped_column(String(500))
    point_location: Mapped[str | None] = mapped_column(String(100))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    timezone: Mapped[str] = mapped_column(String(64), server_default="America/Santiago")
    currency: Mapped[str] = mapped_column(String(3), server_default="CLP")
    capacity_total: Mapped[int] = mapped_column(Integer)
    allow_children: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(20), server_default="published")
    # Tickets one buyer may hold and own for this event (live holds plus tickets not cancelled); None: no limit.
    max_tickets_per_buyer: Mapped[int | None] = mapped_column(Integer)
    # Seats held or sold, counted up when a hold is made and down only when it is released (seat_holds.py):
    # never below the true figure, so a purchase that fits under it needs no recount.
    seats_claimed: Mapped[int] = mapped_column(Integer, server_default="0")
    # Set when something made the counters overstate (a ticket cancelled, seats claimed again); cleared by the exact
    # recount. While it is clear and no hold waits past its deadline, the counters are exact (a cheap sold-out).
    claims_overstated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # How long a waiting-list offer (a personal code) stays valid (crowdify.domain.waiting_list).
    waiting_list_offer_hours: Mapped[int] = mapped_column(Integer, server_default="24")
    # The waiting room (crowdify.domain.waiting_room): on when it has an opening time.
    waiting_room_opens_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waiting_room_admissions_per_minute: Mapped[int] = mapped_column(Integer, server_default="600")
    waiting_room_admission_minutes: Mapped[int] = mapped_column(Integer, server_default="10")

    ticket_types: Mapped[list[TicketType]] = relationship(
        back_populates="event", order_by="TicketType.created_at", lazy="selectin"
    )
    services: Mapped[list[EventService]] = relationship(
        back_populates="event", order_by="EventService.created_at", lazy="selectin"
    )


class TicketType(Timestamps, Base):
    __tablename__ = "ticket_types"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("max_per_order IS NULL OR max_per_order >= 1", name="max_per_order_positive"),
        CheckConstraint("waiting_list_seats >= 0", name="waiting_list_seats_not_negative"),
        Index(
            "uq_ticket_types_one_default",
            "event_id",
            "is_child",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Money)
    capacity: Mapped[int | None] = mapped_column(Integer)
    sales_start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sales_end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_per_order: Mapped[int | None] = mapped_column(Integer)
    is_child: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_default: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Listed and sold only with a promo code that names this type.
    is_hidden: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # An upper bound of the seats of this type held or sold (see Event.seats_claimed).
    seats_claimed: Mapped[int] = mapped_column(Integer, server_default="0")
    # Seats released while people wait, kept out of sale for the waiting list's next offers; part of seats_claimed.
    waiting_list_seats: Mapped[int] = mapped_column(Integer, server_default="0")

    event: Mapped[Event] = relationship(back_populates="ticket_types")


class EventService(Timestamps, Base):
    """An add-on (parking, meal, …) sold with tickets; its stock is held and sold exactly like seats."""

    __tablename__ = "event_services"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("stock_total >= 0", name="stock_total_not_negative"),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Money)
    service_type: Mapped[str] = mapped_column(String(50), server_default="general")
    stock_total: Mapped[int] = mapped_column(Integer, server_default="0")
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)
    # An upper bound of the units held or sold (see Event.seats_claimed).
    units_claimed: Mapped[int] = mapped_column(Integer, server_default="0")

    event: Mapped[Event] = relationship(back_populates="services")


class Order(Timestamps, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_one_of("status", ORDER_STATUSES), name="status"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        UniqueConstraint("user_id", "idempotency_key"),
        # Live holds are summed per event on every purchase: keep that scan to pending orders only.
        Index(
            "ix_orders_pending_event",
            "event_id",
            "hold_expires_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_orders_user_id", "user_id"),
        Index("ix_orders_voucher_id", "voucher_id", "user_id", postgresql_where=text("voucher_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money)
    refunded_amount: Mapped[Decimal] = mapped_column(Money, server_default="0")
    buyer_email: Mapped[str | None] = mapped_column(String(320))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    hold_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payment_provider: Mapped[str] = mapped_column(String(30), server_default="mercadopago")
    preference_id: Mapped[str | None] = mapped_column(String(200))
    payment_link: Mapped[str | None] = mapped_column(String(2000))
    # The one payment that paid this order; any other approved payment is refunded as a duplicate.
    payment_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pdf_object_key: Mapped[str | None] = mapped_column(String(500))
    # The promo code this order redeemed, for how many of its seats, and what it took off the total.
    voucher_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("vouchers.id"))
    voucher_seats: Mapped[int] = mapped_column(Integer, server_default="0")
    discount_total: Mapped[Decimal] = mapped_column(Money, server_default="0")

    items: Mapped[list[OrderItem]] = relationship(back_populates="order", lazy="selectin")
    attendees: Mapped[list[Attendee]] = relationship(
        back_populates="order", order_by="Attendee.position", lazy="selectin"
    )


class Voucher(Timestamps, Base):
    """A promo code of one event (docs/architecture.md, "Promo codes").

    A reserving code keeps `seats_reserved` seats in the event's claim counters (and in `reserved_ticket_type_id`'s,
    when it names exactly one type) while it is live: they are out of general sale until redeemed or returned.
    """

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("discount_type IN ('percent', 'fixed', 'set_price')", name="discount_type"),
        CheckConstraint("value >= 0 AND (discount_type <> 'percent' OR value <= 100)", name="value_in_range"),
        CheckConstraint("max_redemptions >= 1", name="max_redemptions_positive"),
        CheckConstraint("max_per_buyer IS NULL OR max_per_buyer >= 1", name="max_per_buyer_positive"),
        CheckConstraint("redeemed >= 0 AND redeemed <= max_redemptions", name="redeemed_in_range"),
        CheckConstraint(
            "seats_reserved >= 0 AND seats_reserved + redeemed <= max_redemptions", name="seats_reserved_in_range"
        ),
        UniqueConstraint("event_id", "code"),
        Index("ix_vouchers_reserving", "valid_until", postgresql_where=text("seats_reserved > 0")),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    tag: Mapped[str | None] = mapped_column(String(100))
    discount_type: Mapped[str] = mapped_column(String(10))
    value: Mapped[Decimal] = mapped_column(Money)
    ticket_type_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default="{}")
    max_redemptions: Mapped[int] = mapped_column(Integer)
    max_per_buyer: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reserve_seats: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reserved_ticket_type_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket_types.id"))
    seats_reserved: Mapped[int] = mapped_column(Integer, server_default="0")
    redeemed: Mapped[int] = mapped_column(Integer, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # A personal code (a waiting-list offer): only this user may redeem it.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    event: Mapped[Event] = relationship()


class OrderItem(Base):
    """One line of an order: a quantity of one ticket type or of one add-on service, at the price paid."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("(ticket_type_id IS NULL) <> (event_service_id IS NULL)", name="ticket_type_xor_service"),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    ticket_type_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket_types.id"), index=True)
    event_service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("event_services.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    order: Mapped[Order] = relationship(back_populates="items")


class Attendee(Base):
    """Who a seat is for, as the buyer entered it; a ticket is issued from it once the order is paid."""

    __tablename__ = "attendees"
    __table_args__ = (UniqueConstraint("order_id", "position"),)

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    order_item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200), server_default="")
    email: Mapped[str | None] = mapped_column(String(320))
    document_type: Mapped[str] = mapped_column(String(50))
    document_number: Mapped[str] = mapped_column(String(100))
    is_child: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    child_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    order: Mapped[Order] = relationship(back_populates="attendees")


class Ticket(Timestamps, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_one_of("status", TICKET_STATUSES), name="status"),
        UniqueConstraint("attendee_id"),
        Index("ix_tickets_event_status", "event_id", "status"),
        Index("ix_tickets_order_id", "order_id"),
    )

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    order_item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_items.id"))
    attendee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("attendees.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"))
    ticket_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket_types.id"))
    holder_first_name: Mapped[str] = mapped_column(String(200))
    holder_last_name: Mapped[str] = mapped_column(String(200), server_default="")
    holder_document_type: Mapped[str | None] = mapped_column(String(50))
    holder_document_number: Mapped[str | None] = mapped_column(String(100))
    is_child: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    qr_signature: Mapped[str] = mapped_column(String(200), unique=True)
    pdf_object_key: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), server_default="issued")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_by_device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    used_by_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Payment(Timestamps, Base):
    """Every payment MercadoPago told us about, matched to an order or not, with why it was not applied."""

    __tablename__ = "payments"

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    provider: Mapped[str] = mapped_column(String(30), server_default="mercadopago")
    provider_payment_id: Mapped[str] = mapped_column(String(100), unique=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), index=True)
    external_reference: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30))
    status_detail: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    refunded_amount: Mapped[Decimal] = mapped_column(Money, server_default="0")
    # Why this payment did not simply pay its order: amount_mismatch, duplicate_payment, late_payment_refunded …
    problem: Mapped[str | None] = mapped_column(String(100))
    provider_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), index=True)
    provider_payment_id: Mapped[str] = mapped_column(String(100), index=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScannerDevice(Timestamps, Base):
    __tablename__ = "scanner_devices"

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    name: Mapped[str] = mapped_column(String(200))
    event_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CheckIn(Base):
    """One scan at the door, accepted or not: the audit trail of who let whom in, and when."""

    __tablename__ = "checkins"
    __table_args__ = (
        Index("ix_checkins_ticket_id", "ticket_id"),
        Index("ix_checkins_event_recorded", "event_id", "recorded_at"),
        # A scanner's retry with the same nonce must find the first answer, never write a second verdict.
        Index(
            "uq_checkins_actor_nonce",
            "actor_id",
            "nonce",
            unique=True,
            postgresql_where=text("nonce IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    event_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The device id or user id that scanned: the scope of a nonce.
    actor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    inspector_id: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(20))
    nonce: Mapped[str | None] = mapped_column(String(200))
    offline: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    device_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class OutboxMessage(Base):
    """A message written in the transaction that caused it and published to SQS after the commit."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_unpublished", "created_at", postgresql_where=text("published_at IS NULL")),)

    id: Mapped[uuid.UUID] = _uuid_primary_key()
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    publish_attempts: Mapped[int] = mapped_column(Integer, server_default="0")


class WaitingListEntry(Base):
    """One person in an event's waiting list, for one ticket type or (no type) any type (crowdify.domain.waiting_list).

    An offer is a personal code reserving `offer_seats` of `offer_ticket_type_id` until `offer_expires_at`; its email
    goes out once per `offer_message_id` (claimed, then marked sent, as EmailDelivery does for tickets).
    """

    __tablename__ = "waiting_list_entries"
    __table_args__ = (
        CheckConstraint(_one_of("status", WAITING_LIST_STATUSES), name="status"),
        CheckConstraint("seats >= 1", name="seats_positive"),
        Index(
            "uq_waiting_list_entries_one_per_list",
            "event_id",
            text("coalesce(ticket_type_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            "user_id",
            unique=True,
        ),
        Index("ix_waiting_list_entries_line", "event_id", "status", "joined_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    ticket_type_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket_types.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    seats: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), server_default="waiting")
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offer_ticket_type_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket_types.id", ondelete="SET NULL"))
    offer_seats: Mapped[int | None] = mapped_column(Integer)
    offer_voucher_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vouchers.id", ondelete="SET NULL"), index=True
    )
    offered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offer_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offer_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    offer_email_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offer_emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WaitingRoom(Base):
    """An event's waiting-room inlet: whether the places were drawn, how many people have a place, and up to which
    place they are let in (crowdify.domain.waiting_room)."""

    __tablename__ = "waiting_rooms"
    __table_args__ = (CheckConstraint("serving <= placed", name="serving_within_placed"),)

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    drawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    placed: Mapped[int] = mapped_column(Integer, server_default="0")
    serving: Mapped[int] = mapped_column(Integer, server_default="0")
    admitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sold_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QueueEntry(Base):
    """One person in an event's waiting room: their place once drawn or lined up, and their admission."""

    __tablename__ = "queue_entries"
    __table_args__ = (
        UniqueConstraint("event_id", "place"),
        Index("ix_queue_entries_unplaced", "event_id", "joined_at", "user_id", postgresql_where=text("place IS NULL")),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    place: Mapped[int | None] = mapped_column(Integer)
    admitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    admitted_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    admission_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))


EMAIL_DELIVERY_STATUSES = ("sending", "sent", "skipped")


class EmailDelivery(Base):
    """One row per outbox message emailed: a redelivered message finds its row and sends nothing.

    The row is claimed (`sending`, with a claim token) in its own committed transaction before anything is sent, so
    concurrent deliveries of one message send once; it becomes `sent` right after SendGrid accepts the email. A
    failed attempt deletes its claim; a claim older than the lease (a crashed attempt) may be taken over.
    """

    __tablename__ = "email_deliveries"
    __table_args__ = (CheckConstraint(_one_of("status", EMAIL_DELIVERY_STATUSES), name="status"),)

    message_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    recipient: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), server_default="sending")
    claim_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
