"""Agent commands: operator requests delivered to a site's agent with the ingest answer (a
camera picture re-learn), kept with who asked and when the agent acknowledged.

Revision ID: 0011_picture2
Revises: 0010_clientpages
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_picture2"
down_revision: str | None = "0010_clientpages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_commands",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_agent_commands_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_agent_commands_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_agent_commands_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_commands")),
    )
    op.create_index("ix_agent_commands_site_id_acked_at", "agent_commands", ["site_id", "acked_at"])
    op.create_index(op.f("ix_agent_commands_device_id"), "agent_commands", ["device_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_commands_device_id"), table_name="agent_commands")
    op.drop_index("ix_agent_commands_site_id_acked_at", table_name="agent_commands")
    op.drop_table("agent_commands")
