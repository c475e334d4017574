"""Key rotation: re-seal every sealed value under the keyring's current key.

`samen keys rotate` adds a new key (the old ones stay for reading), calls `reseal`, and
drops the old keys only when `count_under_other_keys` says nothing still needs them.
Rows are re-sealed in batches of short transactions (R-OPS-4); a crash half-way leaves
every value readable, and running it again finishes the job.

Plain values written before sealing existed are sealed on the way, and `Store.open`
seals them by itself (`seal_plain`, the data migration of sealing): the store refuses a
plain value in a sealed column when it reads one, so none may remain.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from sqlalchemy import JSON, Text, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.sealed import (
    TEXT_PREFIX,
    Keyring,
    is_sealed_json,
    is_sealed_text,
    sealed_key_id,
)
from bot.store.tables import (
    AnswerRow,
    Base,
    EvaluationRow,
    InboxRow,
    MemberRow,
    OutboxRow,
    RunRow,
    TeamRow,
)


class Store(Protocol):
    """What rotation needs of `bot.store.repo.Store`."""

    @property
    def keyring(self) -> Keyring: ...

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...


BATCH = 200

# (model, attribute name, raw type): the sealed columns of `sealed.SEALED_COLUMNS`.
_SEALED: tuple[tuple[type[Base], str, Any], ...] = (
    (AnswerRow, "value", Text()),
    (RunRow, "state", JSON()),
    (InboxRow, "payload", JSON()),
    (OutboxRow, "message", JSON()),
    (EvaluationRow, "course", Text()),
    (EvaluationRow, "snooze_reason", Text()),
    (MemberRow, "name", Text()),
    (TeamRow, "name", Text()),
)


async def reseal(store: Store) -> dict[str, int]:
    """Re-seal every value not sealed with the current key; returns counts per table."""
    return await _reseal(store.sessionmaker, store.keyring, plain_only=False)


async def seal_plain(sessionmaker: async_sessionmaker[AsyncSession], ring: Keyring) -> int:
    """Seal the values written before sealing existed; how many there were."""
    return sum((await _reseal(sessionmaker, ring, plain_only=True)).values())


async def _reseal(
    sessionmaker: async_sessionmaker[AsyncSession], ring: Keyring, *, plain_only: bool
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for model, name, raw_type in _SEALED:
        column = getattr(model, name)
        key = model.id  # type: ignore[attr-defined]
        ad = column.property.columns[0].type.column
        done, last = 0, None
        while True:
            async with sessionmaker() as s, s.begin():
                query = select(key, type_coerce(column, raw_type)).order_by(key).limit(BATCH)
                if last is not None:
                    query = query.where(key > last)
                rows = (await s.execute(query)).all()
                if not rows:
                    break
                last = rows[-1][0]
                for row_id, raw in rows:
                    kid = sealed_key_id(raw)
                    if raw is None or kid == ring.current or (plain_only and kid is not None):
                        continue
                    await s.execute(
                        update(model)
                        .where(key == row_id)
                        .values({name: _opened(ring, raw, ad)})
                        .execution_options(synchronize_session=False)
                    )
                    done += 1
        counts[model.__tablename__] = done
    return counts


def _opened(ring: Keyring, raw: Any, column: str) -> Any:
    """A stored value as its plain self: opened when sealed, else as it was written."""
    if is_sealed_text(raw):
        return ring.open(str(raw)[len(TEXT_PREFIX) :], column).decode("utf-8")
    if is_sealed_json(raw):
        return json.loads(ring.open(raw["sealed"], column))
    return raw


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
