"""Predictive maintenance: daily rollups of each device's numeric checks.

Revision ID: 0005_predict
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_predict"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_days",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("part", sa.String(length=128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("min", "max", "mean", "last")),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("resets", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_check_days_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "check", "day", "part", name=op.f("pk_check_days")),
    )


def downgrade() -> None:
    op.drop_table("check_days")
