"""Repair path (diagnosis, repair plan and its approval, the client's consent), the
emergency diagnosis deadline and repeat links between tickets.

Revision ID: 0009_rules2
Revises: 0008_inspections
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_rules2"
down_revision: str | None = "0008_inspections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("given_by", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_client_consents_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_consents")),
    )
    with op.batch_alter_table("client_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_consents_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "repair_plans",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.Column("diagnosis", sa.String(length=4000), nullable=False),
        sa.Column("diagnosed_by", sa.String(length=150), nullable=False),
        sa.Column("diagnosed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("tools", sa.JSON(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("estimated_minutes", sa.Integer(), nullable=True),
        sa.Column("planned_by", sa.String(length=150), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=150), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_repair_plans_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_repair_plans")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("diagnose_by", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("repeat_of_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tickets_repeat_of_id"), ["repeat_of_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_repeat_of_id_tickets"),
            "tickets",
            ["repeat_of_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tickets_repeat_of_id_tickets"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_tickets_repeat_of_id"))
        batch_op.drop_column("repeat_of_id")
        batch_op.drop_column("diagnose_by")

    op.drop_table("repair_plans")
    with op.batch_alter_table("client_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_consents_ticket_id"))

    op.drop_table("client_consents")
