"""Repair records keep every version (one row per resolution) and a manager's signature
override; one-time sign-off links; the survey's four dimensions and its link's expiry.

Revision ID: 0010_clientpages
Revises: 0009_rules2
Create Date: 2026-12-08 02:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_clientpages"
down_revision: str | None = "0009_rules2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = (
    "ticket_id, diagnosis, cause_class, actions, parts, time_on_site_minutes, technician_id,"
    " technician_name, technician_signed_at, client_signed_name, client_signed_at,"
    " client_satisfied, created_at"
)


def _records_table(*, versioned: bool) -> None:
    columns: list[sa.Column[object]] = []
    if versioned:
        columns += [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("ticket_id", sa.Integer(), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        ]
    else:
        columns.append(sa.Column("ticket_id", sa.Integer(), nullable=False))
    columns += [
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
    ]
    if versioned:
        columns += [
            sa.Column("client_comment", sa.String(length=2000), nullable=True),
            sa.Column("override_reason", sa.String(length=2000), nullable=True),
            sa.Column("override_by", sa.String(length=150), nullable=True),
            sa.Column("override_at", sa.DateTime(timezone=True), nullable=True),
        ]
    columns.append(sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    op.create_table(
        "repair_records",
        *columns,
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
        sa.PrimaryKeyConstraint("id" if versioned else "ticket_id", name=op.f("pk_repair_records")),
        *(
            [sa.UniqueConstraint("ticket_id", "version", name=op.f("uq_repair_records_ticket_id"))]
            if versioned
            else []
        ),
    )
    if versioned:
        op.create_index(
            op.f("ix_repair_records_ticket_id"), "repair_records", ["ticket_id"], unique=False
        )


def upgrade() -> None:
    # Rebuilt through a plain copy: the primary key moves from ticket_id to id, which neither
    # database alters in place with the constraint names kept.
    op.execute("CREATE TABLE repair_records_old AS SELECT * FROM repair_records")
    op.drop_table("repair_records")
    _records_table(versioned=True)
    op.execute(
        f"INSERT INTO repair_records (version, {_KEPT}) SELECT 1, {_KEPT} FROM repair_records_old"
    )
    op.drop_table("repair_records_old")
    op.create_table(
        "signoff_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["repair_records.id"],
            name=op.f("fk_signoff_links_record_id_repair_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signoff_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_signoff_links_token_sha256")),
    )
    op.create_index(
        op.f("ix_signoff_links_record_id"), "signoff_links", ["record_id"], unique=False
    )
    with op.batch_alter_table("ticket_surveys") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        for name in ("response_time", "repair_quality", "attitude", "problem_solving"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_surveys") as batch:
        for name in ("problem_solving", "attitude", "repair_quality", "response_time"):
            batch.drop_column(name)
        batch.drop_column("expires_at")
    op.drop_index(op.f("ix_signoff_links_record_id"), table_name="signoff_links")
    op.drop_table("signoff_links")
    # Back to one record per ticket: the latest version of each survives.
    op.execute(
        "CREATE TABLE repair_records_old AS SELECT * FROM repair_records r WHERE r.version ="
        " (SELECT max(v.version) FROM repair_records v WHERE v.ticket_id = r.ticket_id)"
    )
    op.drop_index(op.f("ix_repair_records_ticket_id"), table_name="repair_records")
    op.drop_table("repair_records")
    _records_table(versioned=False)
    op.execute(f"INSERT INTO repair_records ({_KEPT}) SELECT {_KEPT} FROM repair_records_old")
    op.drop_table("repair_records_old")
