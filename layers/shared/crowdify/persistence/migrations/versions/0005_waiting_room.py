"""the waiting room: an event's room settings, its inlet's progress, and the people in its queue; and what lets a
sold-out purchase be refused without a recount (events.claims_overstated)

Revision ID: 0005_waiting_room
Revises: 0004_waiting_list
Create Date: 2026-12-04 23:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_waiting_room"
down_revision = "0004_waiting_list"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("waiting_room_opens_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "events",
        sa.Column("waiting_room_admissions_per_minute", sa.Integer(), server_default="600", nullable=False),
    )
    op.add_column(
        "events", sa.Column("waiting_room_admission_minutes", sa.Integer(), server_default="10", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_events_waiting_room_admissions_per_minute_range"),
        "events",
        "waiting_room_admissions_per_minute BETWEEN 1 AND 100000",
    )
    op.create_check_constraint(
        op.f("ck_events_waiting_room_admission_minutes_range"),
        "events",
        "waiting_room_admission_minutes BETWEEN 1 AND 120",
    )
    op.add_column(
        "events", sa.Column("claims_overstated", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_table(
        "waiting_rooms",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("placed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("serving", sa.Integer(), server_default="0", nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sold_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("serving <= placed", name=op.f("ck_waiting_rooms_serving_within_placed")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_waiting_rooms_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_waiting_rooms")),
    )
    op.create_table(
        "queue_entries",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("place", sa.Integer(), nullable=True),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("admitted_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("admission_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_queue_entries_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_queue_entries_user_id_users")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_queue_entries_order_id_orders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("event_id", "user_id", name=op.f("pk_queue_entries")),
        sa.UniqueConstraint("event_id", "place", name=op.f("uq_queue_entries_event_id_place")),
    )
    op.create_index(
        "ix_queue_entries_unplaced",
        "queue_entries",
        ["event_id", "joined_at", "user_id"],
        postgresql_where=sa.text("place IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("queue_entries")
    op.drop_table("waiting_rooms")
    op.drop_column("events", "claims_overstated")
    for constraint in ("waiting_room_admission_minutes_range", "waiting_room_admissions_per_minute_range"):
        op.drop_constraint(op.f(f"ck_events_{constraint}"), "events", type_="check")
    for column in ("waiting_room_admission_minutes", "waiting_room_admissions_per_minute", "waiting_room_opens_at"):
        op.drop_column("events", column)
