"""Per-user token version: bumping it revokes every session and access token of the user.

Revision ID: 0012_harden
Revises: 0011_picture2
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_harden"
down_revision: str | None = "0011_picture2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
