"""An outbox row may belong to no team: Samen answers a person who writes to it privately
before they are in any team (a plain /start on Telegram, /samen help in a Slack DM).

Revision ID: 0007_19_outbox_without_team
Revises: 0006_member_user_index
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_19_outbox_without_team"
down_revision: str | None = "0006_member_user_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.alter_column("team_id", existing_type=sa.String(64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE team_id IS NULL")
    with op.batch_alter_table("outbox") as table:
        table.alter_column("team_id", existing_type=sa.String(64), nullable=False)
