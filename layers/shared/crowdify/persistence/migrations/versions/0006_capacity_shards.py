"""capacity shards: an event's sellable seats banked over N rows per ticket type, so holds do not queue on one row

Revision ID: 0006_capacity_shards
Revises: 0005_waiting_room
Create Date: 2026-12-04 22:40:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_capacity_shards"
down_revision = "0005_waiting_room"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("capacity_shards", sa.Integer(), server_default="1", nullable=False))
    op.create_check_constraint(op.f("ck_events_capacity_shards_range"), "events", "capacity_shards BETWEEN 1 AND 64")
    op.create_table(
        "capacity_shards",
        sa.Column("ticket_type_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seats", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("seats >= 0", name=op.f("ck_capacity_shards_seats_not_negative")),
        sa.ForeignKeyConstraint(
            ["ticket_type_id"],
            ["ticket_types.id"],
            name=op.f("fk_capacity_shards_ticket_type_id_ticket_types"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_capacity_shards_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_type_id", "shard", name=op.f("pk_capacity_shards")),
    )
    op.create_index(op.f("ix_capacity_shards_event_id"), "capacity_shards", ["event_id"])


def downgrade() -> None:
    op.drop_table("capacity_shards")
    op.drop_constraint(op.f("ck_events_capacity_shards_range"), "events", type_="check")
    op.drop_column("events", "capacity_shards")
