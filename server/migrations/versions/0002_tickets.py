"""Faults and tickets: tracks, episodes, tickets, audit events, SLA pauses, repair records, surveys,
per-client service policies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_policies",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("severity", sa.JSON(), nullable=False),
        sa.Column("sla", sa.JSON(), nullable=False),
        sa.Column("recovered_quiet_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_service_policies_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_service_policies")),
    )
    op.create_table(
        "fault_tracks",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_fault_tracks_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "code", name=op.f("pk_fault_tracks")),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("open_key", sa.String(length=96), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("system", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("symptom", sa.String(length=2000), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reporter", sa.String(length=200), nullable=False),
        sa.Column("reporter_contact", sa.String(length=200), nullable=True),
        sa.Column("first_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("eta", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_site_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.Column("last_reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_site_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_policy", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_tickets_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_tickets_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_tickets_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_tickets_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("open_key", name=op.f("uq_tickets_open_key")),
    )
    op.create_index("ix_tickets_client_id_created_at", "tickets", ["client_id", "created_at"])
    op.create_index("ix_tickets_device_id", "tickets", ["device_id"])
    op.create_index("ix_tickets_site_id", "tickets", ["site_id"])
    op.create_index("ix_tickets_state", "tickets", ["state"])

    op.create_table(
        "fault_episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("open_key", sa.String(length=96), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failing_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("parent_episode_id", sa.Integer(), nullable=True),
        sa.Column("held_for_device_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_fault_episodes_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_episode_id"],
            ["fault_episodes.id"],
            name=op.f("fk_fault_episodes_parent_episode_id_fault_episodes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_fault_episodes_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_fault_episodes_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fault_episodes")),
        sa.UniqueConstraint("open_key", name=op.f("uq_fault_episodes_open_key")),
    )
    op.create_index("ix_fault_episodes_device_id", "fault_episodes", ["device_id"])
    op.create_index("ix_fault_episodes_site_id_code", "fault_episodes", ["site_id", "code"])
    op.create_index("ix_fault_episodes_ticket_id", "fault_episodes", ["ticket_id"])

    op.create_table(
        "repair_records",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("diagnosis", sa.String(length=4000), nullable=False),
        sa.Column("cause_class", sa.String(length=16), nullable=False),
        sa.Column("actions", sa.String(length=4000), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("time_on_site_minutes", sa.Integer(), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=True),
        sa.Column("technician_name", sa.String(length=150), nullable=False),
        sa.Column("technician_signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_signed_name", sa.String(length=200), nullable=True),
        sa.Column("client_signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_satisfied", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_repair_records_technician_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_repair_records_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_repair_records")),
    )
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=150), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_ticket_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_events_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])

    op.create_table(
        "ticket_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_pauses_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_pauses")),
    )
    op.create_index("ix_ticket_pauses_ticket_id", "ticket_pauses", ["ticket_id"])
    op.create_table(
        "ticket_surveys",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_surveys_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_surveys")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_ticket_surveys_token_sha256")),
    )


def downgrade() -> None:
    op.drop_table("ticket_surveys")
    op.drop_index("ix_ticket_pauses_ticket_id", table_name="ticket_pauses")
    op.drop_table("ticket_pauses")
    op.drop_index("ix_ticket_events_ticket_id", table_name="ticket_events")

    op.drop_table("ticket_events")
    op.drop_table("repair_records")
    op.drop_index("ix_fault_episodes_ticket_id", table_name="fault_episodes")
    op.drop_index("ix_fault_episodes_site_id_code", table_name="fault_episodes")
    op.drop_index("ix_fault_episodes_device_id", table_name="fault_episodes")

    op.drop_table("fault_episodes")
    op.drop_index("ix_tickets_state", table_name="tickets")
    op.drop_index("ix_tickets_site_id", table_name="tickets")
    op.drop_index("ix_tickets_device_id", table_name="tickets")
    op.drop_index("ix_tickets_client_id_created_at", table_name="tickets")

    op.drop_table("tickets")
    op.drop_table("fault_tracks")
    op.drop_table("service_policies")
