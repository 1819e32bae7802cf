"""Inspection rows say how a found fault was handled; one-time client signing links.

Revision ID: 0013_inspect2
Revises: 0012_harden
Create Date: 2026-12-08 02:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_inspect2"
down_revision: str | None = "0012_harden"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inspection_rows") as batch:
        batch.add_column(sa.Column("disposition", sa.String(length=16), nullable=True))
    op.create_table(
        "inspection_sign_links",
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("inspection_id"),
        sa.UniqueConstraint("token_sha256"),
    )


def downgrade() -> None:
    op.drop_table("inspection_sign_links")
    with op.batch_alter_table("inspection_rows") as batch:
        batch.drop_column("disposition")
