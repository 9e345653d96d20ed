"""the waiting list: entries per event (and ticket type), offers as personal codes, seats kept for the list

Revision ID: 0004_waiting_list
Revises: 0003_vouchers
Create Date: 2026-12-04 20:30:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_waiting_list"
down_revision = "0003_vouchers"
branch_labels = None
depends_on = None

STATUSES = "'waiting', 'offered', 'bought', 'expired', 'left', 'removed'"


def upgrade() -> None:
    op.add_column("events", sa.Column("waiting_list_offer_hours", sa.Integer(), server_default="24", nullable=False))
    op.create_check_constraint(
        op.f("ck_events_waiting_list_offer_hours_range"),
        "events",
        "waiting_list_offer_hours BETWEEN 1 AND 720",
    )
    op.add_column("ticket_types", sa.Column("waiting_list_seats", sa.Integer(), server_default="0", nullable=False))
    op.create_check_constraint(
        op.f("ck_ticket_types_waiting_list_seats_not_negative"), "ticket_types", "waiting_list_seats >= 0"
    )
    op.create_table(
        "waiting_list_entries",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("ticket_type_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="waiting", nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_ticket_type_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("offer_seats", sa.Integer(), nullable=True),
        sa.Column("offer_voucher_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_message_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("offer_email_claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_waiting_list_entries_status")),
        sa.CheckConstraint("seats >= 1", name=op.f("ck_waiting_list_entries_seats_positive")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_waiting_list_entries_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_type_id"],
            ["ticket_types.id"],
            name=op.f("fk_waiting_list_entries_ticket_type_id_ticket_types"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_ticket_type_id"],
            ["ticket_types.id"],
            name=op.f("fk_waiting_list_entries_offer_ticket_type_id_ticket_types"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_waiting_list_entries_user_id_users")),
        sa.ForeignKeyConstraint(
            ["offer_voucher_id"],
            ["vouchers.id"],
            name=op.f("fk_waiting_list_entries_offer_voucher_id_vouchers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waiting_list_entries")),
    )
    # One entry per person and list; the event-wide list has no type, and NULLs never collide in a unique index.
    op.execute(
        "CREATE UNIQUE INDEX uq_waiting_list_entries_one_per_list ON waiting_list_entries "
        "(event_id, coalesce(ticket_type_id, '00000000-0000-0000-0000-000000000000'::uuid), user_id)"
    )
    op.create_index("ix_waiting_list_entries_line", "waiting_list_entries", ["event_id", "status", "joined_at", "id"])
    op.create_index("ix_waiting_list_entries_offer_voucher_id", "waiting_list_entries", ["offer_voucher_id"])


def downgrade() -> None:
    op.drop_table("waiting_list_entries")
    op.drop_constraint(op.f("ck_ticket_types_waiting_list_seats_not_negative"), "ticket_types", type_="check")
    op.drop_column("ticket_types", "waiting_list_seats")
    op.drop_constraint(op.f("ck_events_waiting_list_offer_hours_range"), "events", type_="check")
    op.drop_column("events", "waiting_list_offer_hours")
