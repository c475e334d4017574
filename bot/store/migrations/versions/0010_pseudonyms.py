"""People pseudonymous, group titles sealed (issue 23): `answers.member` holds the keyed
pseudonym of the person who answered (`AuditKey.pseudonym`, "p-" + 16 hex) instead of
their platform id, and `teams.name` (a group's title, a channel's name: it may name a
client or a family) is sealed like `members.name`. `teams.name` becomes TEXT: a sealed
value is longer than the 200 characters it had.

On SQLite the type is changed without copying the table, which every other table
references with ON DELETE CASCADE (a batch copy drops `teams`, and with foreign keys on
that deletes every member, run and answer): the column is renamed, a TEXT column added,
the names copied over and the old column dropped (SQLite 3.35 or later).

The data migrations need keys, which Alembic does not have; `Store.open` runs them with
the store's keys: it seals the plain team names right after it has applied this
revision (`bot.store.migrate.applied_now`), and it turns every member id in `answers`
that is not pseudonymous yet (not "p-...", nor an erased person's "forgotten-...") into
its pseudonym at every start until none is left (`bot.store.pseudonyms`), so a start
interrupted half-way is finished by the next; it runs after 0009's binding (it reads
the answers, and the flush binds each again to its row's new identity). Downgrading
restores the column's type only: names stay sealed and members pseudonymous (no key is
at hand to undo either).

Revision ID: 0010_pseudonyms
Revises: 0009_bound_ciphertext
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_pseudonyms"
down_revision: str | None = "0009_bound_ciphertext"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The data migrations run in Store.open, with the keys (see the docstring).
    _retype_team_name("TEXT", sa.Text(), sa.String(200))


def downgrade() -> None:
    _retype_team_name("VARCHAR(200)", sa.String(200), sa.Text())


def _retype_team_name(
    declared: str, new: sa.types.TypeEngine[str], old: sa.types.TypeEngine[str]
) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("teams", "name", type_=new, existing_type=old, existing_nullable=False)
        return
    op.execute("ALTER TABLE teams RENAME COLUMN name TO name_before_0010")
    op.execute(f"ALTER TABLE teams ADD COLUMN name {declared} NOT NULL DEFAULT ''")
    op.execute("UPDATE teams SET name = name_before_0010")
    op.execute("ALTER TABLE teams DROP COLUMN name_before_0010")
