"""Sealed values are bound to their rows (issue 23): the associated data of every sealed
value names its table, column and row identity ("answers.value:<run>␟<step>␟...", see
bot/store/sealed.py), so that a value copied to another row or column does not open.
Values sealed before (envelope v1, bound to their column only) are refused when read.

No schema change. The data migration needs the data key, which Alembic does not have:
`Store.open` seals every v1 value again, bound to its row (v2), whenever its scan of the
sealed columns finds one left (`rekey.bind_unbound`; a start interrupted half-way is
finished by the next), and `samen keys rotate` does so too. This revision marks the
database as written by a Samen that binds: an older Samen does not know it and refuses
to start on it, rather than read values it cannot open. Downgrading changes nothing (an
older Samen cannot open v2 values; restore a backup to go back).

Revision ID: 0009_bound_ciphertext
Revises: 0008_privacy_sealed_only
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009_bound_ciphertext"
down_revision: str | None = "0008_privacy_sealed_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The data migration runs in Store.open, with the key (see the docstring).
    pass


def downgrade() -> None:
    pass
