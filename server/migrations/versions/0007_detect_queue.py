"""Detection off the request path: the durable queue of ingest batches awaiting detection.

Revision ID: 0007_detect_queue
Revises: 0006_sla_rules
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_detect_queue"
down_revision: str | None = "0006_sla_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "detect_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ts_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ts_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_detect_queue_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detect_queue")),
    )
    op.create_index(op.f("ix_detect_queue_site_id"), "detect_queue", ["site_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_detect_queue_site_id"), table_name="detect_queue")
    op.drop_table("detect_queue")
