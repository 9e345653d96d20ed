"""per-buyer ticket limit of an event

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 15:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("max_tickets_per_buyer", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_events_max_tickets_per_buyer_positive"),
        "events",
        "max_tickets_per_buyer IS NULL OR max_tickets_per_buyer >= 1",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_events_max_tickets_per_buyer_positive"), "events", type_="check")
    op.drop_column("events", "max_tickets_per_buyer")
