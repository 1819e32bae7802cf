"""Inspections: one per site and cycle period, its rows, photos, amendments after sign-off.

Revision ID: 0008_inspections
Revises: 0007_detect_queue
Create Date: 2026-12-08 00:19:42.640124
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_inspections"
down_revision: str | None = "0007_detect_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prefilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tech_name", sa.String(length=200), nullable=True),
        sa.Column("tech_role", sa.String(length=100), nullable=True),
        sa.Column("tech_signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_name", sa.String(length=200), nullable=True),
        sa.Column("client_role", sa.String(length=100), nullable=True),
        sa.Column("client_signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seal_sha256", sa.String(length=64), nullable=True),
        sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_inspections_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_inspections_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint(
            "site_id", "cycle", "period_start", name=op.f("uq_inspections_site_id")
        ),
    )
    op.create_index(op.f("ix_inspections_site_id"), "inspections", ["site_id"], unique=False)
    op.create_index(op.f("ix_inspections_state"), "inspections", ["state"], unique=False)

    op.create_table(
        "inspection_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("device_name", sa.String(length=200), nullable=True),
        sa.Column("area", sa.String(length=16), nullable=False),
        sa.Column("text_zh", sa.String(length=500), nullable=False),
        sa.Column("text_en", sa.String(length=500), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=True),
        sa.Column("prefill", sa.String(length=16), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("sentence", sa.String(length=1000), nullable=True),
        sa.Column("ticket_ids", sa.JSON(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_inspection_rows_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_rows_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_rows")),
        sa.UniqueConstraint(
            "inspection_id", "item_id", "subject", name=op.f("uq_inspection_rows_inspection_id")
        ),
    )
    op.create_index(
        op.f("ix_inspection_rows_inspection_id"), "inspection_rows", ["inspection_id"], unique=False
    )

    op.create_table(
        "inspection_amendments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_amendments_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["inspection_rows.id"],
            name=op.f("fk_inspection_amendments_row_id_inspection_rows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_amendments")),
    )
    op.create_index(
        op.f("ix_inspection_amendments_inspection_id"),
        "inspection_amendments",
        ["inspection_id"],
        unique=False,
    )

    op.create_table(
        "inspection_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_attachments_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["inspection_rows.id"],
            name=op.f("fk_inspection_attachments_row_id_inspection_rows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_attachments")),
    )
    op.create_index(
        op.f("ix_inspection_attachments_inspection_id"),
        "inspection_attachments",
        ["inspection_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_inspection_attachments_inspection_id"), table_name="inspection_attachments"
    )

    op.drop_table("inspection_attachments")
    op.drop_index(
        op.f("ix_inspection_amendments_inspection_id"), table_name="inspection_amendments"
    )

    op.drop_table("inspection_amendments")
    op.drop_index(op.f("ix_inspection_rows_inspection_id"), table_name="inspection_rows")

    op.drop_table("inspection_rows")
    op.drop_index(op.f("ix_inspections_state"), table_name="inspections")
    op.drop_index(op.f("ix_inspections_site_id"), table_name="inspections")

    op.drop_table("inspections")
