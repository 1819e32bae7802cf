"""Status page: daily uptime rollups per device and per site subsystem, maintenance windows,
share links and contact cards; agents' heartbeats for the console.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SECONDS = ("up_s", "down_s", "unknown_s", "maintenance_s", "nodata_s")


def upgrade() -> None:
    op.create_table(
        "uptime_days",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _SECONDS),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_uptime_days_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "day", name=op.f("pk_uptime_days")),
    )
    op.create_table(
        "subsystem_days",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("subsystem", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _SECONDS),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_subsystem_days_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "subsystem", "day", name=op.f("pk_subsystem_days")),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_maintenance_windows_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_index(
        "ix_maintenance_windows_site_id_starts_at",
        "maintenance_windows",
        ["site_id", "starts_at"],
    )
    op.create_table(
        "status_pages",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("link_sha256", sa.String(length=64), nullable=True),
        sa.Column("link_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contact", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_status_pages_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_status_pages")),
        sa.UniqueConstraint("link_sha256", name=op.f("uq_status_pages_link_sha256")),
    )

    op.create_table(
        "agent_heartbeats",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outbox_depth", sa.BigInteger(), nullable=False),
        sa.Column("outbox_bytes", sa.BigInteger(), nullable=False),
        sa.Column("outbox_oldest_age_s", sa.Float(), nullable=True),
        sa.Column("outbox_dropped_total", sa.BigInteger(), nullable=False),
        sa.Column("outbox_rejected_total", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_agent_heartbeats_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["agent_tokens.id"],
            name=op.f("fk_agent_heartbeats_token_id_agent_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_agent_heartbeats")),
    )
    op.create_index(
        op.f("ix_agent_heartbeats_site_id"), "agent_heartbeats", ["site_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_heartbeats_site_id"), table_name="agent_heartbeats")
    op.drop_table("agent_heartbeats")
    op.drop_table("status_pages")
    op.drop_index("ix_maintenance_windows_site_id_starts_at", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
    op.drop_table("subsystem_days")
    op.drop_table("uptime_days")
