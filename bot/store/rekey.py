"""Key rotation: re-seal every sealed value under the keyring's current key, bound to
its row.

`samen keys rotate` adds a new key (the old ones stay for reading), calls `reseal`, and
drops the old keys only when `count_under_other_keys` says nothing still needs them.
Values sealed before they were bound to their rows (v1: bound to their column only) are
sealed again bound (v2) on the way, and `Store.open` does so by itself whenever one is
left (`bind_unbound`, the data migration of 0009_bound_ciphertext): a sealed column
refuses a v1 value when it reads one.
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
    UNBOUND,
    VERSION,
    Keyring,
    is_sealed_json,
    is_sealed_text,
    row_identity,
    sealed_key_id,
    sealed_type,
    sealed_version,
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
    """Re-seal every value not sealed with the current key, or not bound to its row (v1);
    returns counts per table."""
    return await _reseal(store.sessionmaker, store.keyring, which="all")


async def seal_plain(sessionmaker: async_sessionmaker[AsyncSession], ring: Keyring) -> int:
    """Seal the values written before sealing existed; how many there were."""
    return sum((await _reseal(sessionmaker, ring, which="plain")).values())


async def bind_unbound(sessionmaker: async_sessionmaker[AsyncSession], ring: Keyring) -> int:
    """Seal again, bound to their rows, the values sealed before that binding existed
    (v1, bound to their column only): the data migration of `0009_bound_ciphertext`,
    run by `Store.open` whenever one is left. How many there were."""
    return sum((await _reseal(sessionmaker, ring, which="unbound")).values())


def _needs_sealing(raw: Any, ring: Keyring, which: str) -> bool:
    if raw is None:
        return False
    version = sealed_version(raw)
    if which == "plain":
        return version is None
    if which == "unbound":
        return version == UNBOUND
    return version != VERSION or sealed_key_id(raw) != ring.current


async def _reseal(
    sessionmaker: async_sessionmaker[AsyncSession], ring: Keyring, *, which: str
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for model, name, raw_type in _SEALED:
        column = getattr(model, name)
        key = model.id  # type: ignore[attr-defined]
        sealed = sealed_type(column)
        assert sealed is not None
        identity = [getattr(model, part) for part in sealed.row]
        done, last = 0, None
        while True:
            async with sessionmaker() as s, s.begin():
                query = select(key, type_coerce(column, raw_type), *identity)
                query = query.order_by(key).limit(BATCH)
                if last is not None:
                    query = query.where(key > last)
                rows = (await s.execute(query)).all()
                if not rows:
                    break
                last = rows[-1][0]
                for row_id, raw, *parts in rows:
                    if not _needs_sealing(raw, ring, which):
                        continue
                    row = dict(zip(sealed.row, parts, strict=True))
                    plain = _opened(ring, raw, sealed.column, row_identity(sealed.column, parts))
                    await s.execute(
                        update(model)
                        .where(key == row_id)
                        .values({name: sealed.bound(row, plain)})
                        .execution_options(synchronize_session=False)
                    )
                    done += 1
        counts[model.__tablename__] = counts.get(model.__tablename__, 0) + done
    return counts


def _opened(ring: Keyring, raw: Any, column: str, row: str) -> Any:
    """A stored value as its plain self: opened when sealed (v1: with its column alone;
    v2: with its row as well), else as it was written."""
    if is_sealed_text(raw):
        return ring.open(str(raw)[len(TEXT_PREFIX) :], column, row).decode("utf-8")
    if is_sealed_json(raw):
        return json.loads(ring.open(raw["sealed"], column, row))
    return raw


async def count_under_other_keys(store: Store) -> int:
    """How many stored values are not sealed with the current key, or not bound to their
    rows (0 when rotation is done)."""
    ring = store.keyring
    found = 0
    async with store.sessionmaker() as s, s.begin():
        for model, name, raw_type in _SEALED:
            column = type_coerce(getattr(model, name), raw_type)
            for raw in await s.scalars(select(column)):
                if _needs_sealing(raw, ring, "all"):
                    found += 1
    return found
