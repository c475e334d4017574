"""Adapter state that must survive a restart (Telegram, issue #5): callback tokens, the
reply routing of sent forms, who has a private chat with the bot, the deep links posted
for people who have not started it, and the pinned status message of a meeting.

Revision ID: 0003_telegram
Revises: 0002_cadences
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_telegram"
down_revision: str | None = "0002_cadences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "callback_tokens",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "token", name="pk_callback_tokens"),
    )
    op.create_table(
        "reply_prompts",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("message", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "message", name="pk_reply_prompts"),
    )
    op.create_index("ix_reply_prompts_run_id", "reply_prompts", ["run_id"])
    op.create_table(
        "private_chats",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "user", name="pk_private_chats"),
    )
    op.create_table(
        "start_links",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("used_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("token", name="pk_start_links"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_start_links_team_id_teams"
        ),
    )
    op.create_index("ix_start_links_person", "start_links", ["platform", "team_id", "user"])
    op.create_table(
        "pinned_messages",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("chat", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("message_ref", sa.String(200), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "chat", "run_id", name="pk_pinned_messages"),
    )


def downgrade() -> None:
    for table in (
        "pinned_messages",
        "start_links",
        "private_chats",
        "reply_prompts",
        "callback_tokens",
    ):
        op.drop_table(table)
