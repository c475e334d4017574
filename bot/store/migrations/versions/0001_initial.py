"""The initial schema: teams, members, runs, answers, events, trajectories, timers, inbox, outbox.

Written out by hand so that it never changes when the models do; a test compares the
migrated database with `bot.store.tables` on SQLite and PostgreSQL. Times are
`TIMESTAMP WITH TIME ZONE` (the models' UTCDateTime stores UTC on SQLite, where the type
is plain text). Auto-increment ids are BIGINT, INTEGER on SQLite (its rowid alias).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _serial() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("address", sa.String(4), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("work_days", sa.String(32), nullable=False),
        sa.Column("work_start", sa.String(5), nullable=False),
        sa.Column("work_end", sa.String(5), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("platform", "channel", name="uq_teams_platform_channel"),
    )

    op.create_table(
        "members",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("absent_until", sa.Date(), nullable=True),
        sa.Column("joined_at", _time(), nullable=False),
        sa.Column("left_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_members_team_id_teams"
        ),
        sa.UniqueConstraint("team_id", "user", name="uq_members_team_id_user"),
    )
    op.create_index("ix_members_team_id", "members", ["team_id"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("flow_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("thread", sa.String(128), nullable=True),
        sa.Column("parent_run", sa.String(64), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_runs_team_id_teams"
        ),
    )
    op.create_index("ix_runs_team_id", "runs", ["team_id"])
    op.create_index("ix_runs_status", "runs", ["status"])

    op.create_table(
        "answers",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(100), nullable=False),
        sa.Column("question", sa.String(100), nullable=False),
        sa.Column("member", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("answered_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_answers"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], ondelete="CASCADE", name="fk_answers_run_id_runs"
        ),
        sa.UniqueConstraint(
            "run_id", "step", "question", "member", name="uq_answers_run_id_step_question_member"
        ),
    )
    op.create_index("ix_answers_run_id", "answers", ["run_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_events_team_id_teams"
        ),
    )
    op.create_index("ix_events_team_id", "events", ["team_id"])

    op.create_table(
        "trajectories",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("client_ref", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trajectories"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_trajectories_team_id_teams"
        ),
        sa.UniqueConstraint("team_id", "client_ref", name="uq_trajectories_team_id_client_ref"),
    )
    op.create_index("ix_trajectories_team_id", "trajectories", ["team_id"])

    op.create_table(
        "timers",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("timer", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_at", _time(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("handled_at", _time(), nullable=True),
        sa.Column("note", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], ondelete="CASCADE", name="fk_timers_run_id_runs"
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_timers_idempotency_key"),
    )
    op.create_index("ix_timers_run_id", "timers", ["run_id"])
    op.create_index("ix_timers_status_due", "timers", ["status", "due_at"])

    op.create_table(
        "inbox",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("handled_at", _time(), nullable=True),
        sa.Column("error", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("platform", "event_key", name="uq_inbox_platform_event_key"),
    )
    op.create_index("ix_inbox_status", "inbox", ["status", "id"])

    op.create_table(
        "outbox",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("msg_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", _time(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("sent_at", _time(), nullable=True),
        sa.Column("platform_ref", sa.String(200), nullable=True),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("error", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_outbox_team_id_teams"
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    )
    op.create_index("ix_outbox_team_id", "outbox", ["team_id"])
    op.create_index("ix_outbox_run_id", "outbox", ["run_id"])
    op.create_index("ix_outbox_status_due", "outbox", ["status", "not_before"])


def downgrade() -> None:
    for table in (
        "outbox",
        "inbox",
        "timers",
        "trajectories",
        "events",
        "answers",
        "runs",
        "members",
        "teams",
    ):
        op.drop_table(table)
