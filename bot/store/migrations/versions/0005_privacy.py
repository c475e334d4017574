"""Privacy: the access log (NEN 7513 style), hash-chained.

Sealed columns (answers.value, runs.state, inbox.payload, outbox.message) keep their
column types: sealing happens in the models (bot/store/sealed.py), and values written
before it are read as they are until `samen keys rotate` seals them.

Revision ID: 0005_privacy
Revises: 0004_flowlib
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_privacy"
down_revision: str | None = "0004_flowlib"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("what", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("on_behalf_of", sa.String(128), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_log"),
    )


def downgrade() -> None:
    op.drop_table("access_log")
