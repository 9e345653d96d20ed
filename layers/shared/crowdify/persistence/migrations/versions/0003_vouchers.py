"""promo codes (vouchers) and hidden ticket types

Revision ID: 0003_vouchers
Revises: 0002
Create Date: 2026-12-04 20:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_vouchers"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ticket_types", sa.Column("is_hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "vouchers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=True),
        sa.Column("discount_type", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Numeric(12, 2), nullable=False),
        sa.Column("ticket_type_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("max_redemptions", sa.Integer(), nullable=False),
        sa.Column("max_per_buyer", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reserve_seats", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("reserved_ticket_type_id", sa.Uuid(), nullable=True),
        sa.Column("seats_reserved", sa.Integer(), server_default="0", nullable=False),
        sa.Column("redeemed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "discount_type IN ('percent', 'fixed', 'set_price')", name=op.f("ck_vouchers_discount_type")
        ),
        sa.CheckConstraint(
            "value >= 0 AND (discount_type <> 'percent' OR value <= 100)", name=op.f("ck_vouchers_value_in_range")
        ),
        sa.CheckConstraint("max_redemptions >= 1", name=op.f("ck_vouchers_max_redemptions_positive")),
        sa.CheckConstraint(
            "max_per_buyer IS NULL OR max_per_buyer >= 1", name=op.f("ck_vouchers_max_per_buyer_positive")
        ),
        sa.CheckConstraint("redeemed >= 0 AND redeemed <= max_redemptions", name=op.f("ck_vouchers_redeemed_in_range")),
        sa.CheckConstraint(
            "seats_reserved >= 0 AND seats_reserved + redeemed <= max_redemptions",
            name=op.f("ck_vouchers_seats_reserved_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_vouchers_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_vouchers_user_id_users")),
        sa.ForeignKeyConstraint(
            ["reserved_ticket_type_id"],
            ["ticket_types.id"],
            name=op.f("fk_vouchers_reserved_ticket_type_id_ticket_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("event_id", "code", name=op.f("uq_vouchers_event_id_code")),
    )
    op.create_index(
        "ix_vouchers_reserving", "vouchers", ["valid_until"], postgresql_where=sa.text("seats_reserved > 0")
    )
    op.add_column("orders", sa.Column("voucher_id", sa.Uuid(), nullable=True))
    op.add_column("orders", sa.Column("voucher_seats", sa.Integer(), server_default="0", nullable=False))
    op.add_column("orders", sa.Column("discount_total", sa.Numeric(12, 2), server_default="0", nullable=False))
    op.create_foreign_key(op.f("fk_orders_voucher_id_vouchers"), "orders", "vouchers", ["voucher_id"], ["id"])
    op.create_index(
        "ix_orders_voucher_id", "orders", ["voucher_id", "user_id"], postgresql_where=sa.text("voucher_id IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_orders_voucher_id", table_name="orders")
    op.drop_constraint(op.f("fk_orders_voucher_id_vouchers"), "orders", type_="foreignkey")
    op.drop_column("orders", "discount_total")
    op.drop_column("orders", "voucher_seats")
    op.drop_column("orders", "voucher_id")
    op.drop_index("ix_vouchers_reserving", table_name="vouchers")
    op.drop_table("vouchers")
    op.drop_column("ticket_types", "is_hidden")
