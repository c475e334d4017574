"""The inbox keeps two plain routing fields beside its sealed payload (issue 18, P7):
`conversation` (the platform and channel an event belongs to, all timers one
conversation) and `run_id` (the run an answer or a run's timer is for).

With them a process lists the waiting events and picks the conversations it handles
without opening every payload, and a run's timer can wait for the answers to that run
received before it fell due (bot/runtime/inbox.py). Neither says more than the outbox's
own plain `destination` and `run_id` already do. Rows stored before this revision have
neither: the drain reads them from the payload (`bot.store.inbox.conversation_of`).

Revision ID: 0011_inbox_routing
Revises: 0010_pseudonyms
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_inbox_routing"
down_revision: str | None = "0010_pseudonyms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adds only what is missing, so that a database whose version was set back (as the
    # tests of earlier data migrations do) upgrades again.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inbox")}
    if "conversation" not in present:
        op.add_column("inbox", sa.Column("conversation", sa.String(250), nullable=True))
    if "run_id" not in present:
        op.add_column("inbox", sa.Column("run_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("run_id")
        batch.drop_column("conversation")
