"""Key rotation: re-seal every sealed value under the keyring's current key.

`samen keys rotate` adds a new key (the old ones stay for reading), calls `reseal`, and
drops the old keys only when `count_under_other_keys` says nothing still needs them.
Rows are re-sealed in batches of short transactions (R-OPS-4); a crash half-way leaves
every value readable, and running it again finishes the job. Plain values written before
sealing existed are sealed on the way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text, select, type_coerce, update

from bot.store.repo import Store
from bot.store.sealed import sealed_key_id
from bot.store.tables import AnswerRow, Base, EvaluationRow, InboxRow, OutboxRow, RunRow

BATCH = 200

# (model, attribute name, raw type): the sealed columns of `sealed.SEALED_COLUMNS`.
_SEALED: tuple[tuple[type[Base], str, Any], ...] = (
    (AnswerRow, "value", Text()),
    (RunRow, "state", JSON()),
    (InboxRow, "payload", JSON()),
    (OutboxRow, "message", JSON()),
    (EvaluationRow, "course", Text()),
    (EvaluationRow, "snooze_reason", Text()),
)


async def reseal(store: Store) -> dict[str, int]:
    """Re-seal every value not sealed with the current key; returns counts per table."""
    current = store.keyring.current
    counts: dict[str, int] = {}
    for model, name, raw_type in _SEALED:
        column = getattr(model, name)
        key = model.id  # type: ignore[attr-defined]
        done, last = 0, None
        while True:
            async with store.sessionmaker() as s, s.begin():
                query = select(key, type_coerce(column, raw_type)).order_by(key).limit(BATCH)
                if last is not None:
                    query = query.where(key > last)
                rows = (await s.execute(query)).all()
                if not rows:
                    break
                last = rows[-1][0]
                stale = [row_id for row_id, raw in rows if sealed_key_id(raw) != current]
                if stale:
                    values = await s.execute(select(key, column).where(key.in_(stale)))
                    for row_id, plain in values.all():
                        await s.execute(
                            update(model)
                            .where(key == row_id)
                            .values({name: plain})
                            .execution_options(synchronize_session=False)
                        )
                    done += len(stale)
        counts[model.__tablename__] = done
    return counts


async def count_under_other_keys(store: Store) -> int:
    """How many stored values are not sealed with the current key (0 when rotation is done)."""
    current = store.keyring.current
    found = 0
    async with store.sessionmaker() as s, s.begin():
        for model, name, raw_type in _SEALED:
            column = type_coerce(getattr(model, name), raw_type)
            for raw in await s.scalars(select(column)):
                if raw is not None and sealed_key_id(raw) != current:
                    found += 1
    return found
