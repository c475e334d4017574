"""Sealed columns hold sealed values only: from this revision on the store refuses a
plain value in `answers.value`, `runs.state`, `inbox.payload`, `outbox.message`,
`evaluations.course`, `evaluations.snooze_reason` and `members.name` (one written
around Samen). Display names are sealed from now on: `members.name` becomes TEXT (a
sealed value is longer than the 200 characters it had; on SQLite the members table is
copied, which nothing references, so no cascade runs).

The data migration needs the data key, which Alembic does not have:
`Store.open` seals the plain values written before sealing existed right after it has
applied this revision (`bot.store.migrate.sealing_applied_now`, `rekey.seal_plain`), in
the same start, once. Downgrading changes nothing.

Revision ID: 0008_privacy_sealed_only
Revises: 0007_19_outbox_without_team
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_privacy_sealed_only"
down_revision: str | None = "0007_19_outbox_without_team"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The data migration runs in Store.open, with the key (see the docstring).
    with op.batch_alter_table("members") as batch:
        batch.alter_column("name", type_=sa.Text(), existing_type=sa.String(200))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.alter_column("name", type_=sa.String(200), existing_type=sa.Text())
