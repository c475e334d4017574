"""Evaluation cadences: evaluation moments with their history, and team default policies.

Revision ID: 0002_cadences
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_cadences"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("trajectory_id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("snoozes", sa.Integer(), nullable=False),
        sa.Column("snoozed_until", sa.Date(), nullable=True),
        sa.Column("snooze_reason", sa.Text(), nullable=False),
        sa.Column("on_mdo_agenda", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("continue_until", sa.Date(), nullable=True),
        sa.Column("course", sa.Text(), nullable=False),
        sa.Column("next_on", sa.Date(), nullable=True),
        sa.Column("done_by", sa.String(128), nullable=True),
        sa.Column("done_at", _time(), nullable=True),
        sa.Column("escalated_at", _time(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.ForeignKeyConstraint(
            ["trajectory_id"],
            ["trajectories.id"],
            ondelete="CASCADE",
            name="fk_evaluations_trajectory_id_trajectories",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_evaluations_team_id_teams"
        ),
    )
    op.create_index("ix_evaluations_trajectory_id", "evaluations", ["trajectory_id"])
    op.create_index(
        "ix_evaluations_team_status_due", "evaluations", ["team_id", "status", "due_on"]
    )
    op.create_table(
        "team_cadences",
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name="pk_team_cadences"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_team_cadences_team_id_teams"
        ),
    )


def downgrade() -> None:
    op.drop_table("team_cadences")
    op.drop_index("ix_evaluations_team_status_due", table_name="evaluations")
    op.drop_index("ix_evaluations_trajectory_id", table_name="evaluations")
    op.drop_table("evaluations")
