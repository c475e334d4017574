"""Who takes part in a registered event: `events.participants`, member ids separated by
spaces (empty: the flows' own participants, usually the whole team). Set by
`/samen bezoek <when> @a @b`; the flows an event starts run with exactly those people.

Revision ID: 0004_flowlib
Revises: 0003_telegram
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_flowlib"
down_revision: str | None = "0003_telegram"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("participants", sa.String(2000), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("participants")
