"""An index on members.user: a person's rows over all their teams are found by user id
(time zones learnt from the platform, DMs, `samen forget`). Without it each such lookup
read the whole members table.

Revision ID: 0006_member_user_index
Revises: 0005_privacy
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_member_user_index"
down_revision: str | None = "0005_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_members_user", "members", ["user"])


def downgrade() -> None:
    op.drop_index("ix_members_user", table_name="members")
