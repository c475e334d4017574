"""The database object every repository of the store shares: engines, sessions, keyring.

One style of access throughout the store: the ORM's `AsyncSession` (expire_on_commit
off, so the rows a method returns keep their values after its transaction), with
ORM-enabled statements on the mapped classes. Bulk writes are
`session.execute(insert(Model), rows)` and `update(Model)` with a list of rows.

Reads run in a session of `engine`; writes in a session of `writer` - on a SQLite file
an engine of one connection that begins with BEGIN IMMEDIATE, so the writers of this
process queue in asyncio instead of in SQLite's busy handler (see `db.writer_engine`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.store.db import writer_engine
from bot.store.sealed import Keyring, attach, default_data_dir
from bot.store.tables import Base

log = logging.getLogger(__name__)

ERROR_MAX = 200  # the width of the error/note columns


class Database:
    """The engines, session factories and keyring of one open store."""

    def __init__(self, engine: AsyncEngine, keyring: Keyring | None = None) -> None:
        self.engine = engine
        # Sealed columns (answers, run state, inbox and outbox payloads) use this keyring.
        self.keyring = keyring or Keyring.from_environment(default_data_dir(engine.url))
        attach(engine.sync_engine.dialect, self.keyring)
        if engine.dialect.name != "sqlite" and self.keyring.path is not None:
            # Several processes share one PostgreSQL: they must share one key as well.
            log.warning("data key from a key file; set SAMEN_DATA_KEY when several hosts run")
        self.dialect = engine.dialect.name
        self.writer = writer_engine(engine)
        attach(self.writer.sync_engine.dialect, self.keyring)
        self.reads = async_sessionmaker(engine, expire_on_commit=False)
        self.writes = async_sessionmaker(self.writer, expire_on_commit=False)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read transaction: one snapshot for every statement in the block."""
        async with self.reads() as session, session.begin():
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; on SQLite it holds the write lock from its start."""
        async with self.writes() as session, session.begin():
            yield session

    def insert(self, model: type[Base]) -> Any:
        """An INSERT into `model` with ON CONFLICT for this backend (both spell it alike)."""
        if self.dialect == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    async def close(self) -> None:
        await self.writer.dispose()
        await self.engine.dispose()


class Repository:
    """A group of the store's methods over one table group, on the shared `Database`.
    `Store` (bot/store/repo.py) is all of them at once."""

    def __init__(self, db: Database) -> None:
        self.db = db


def full_row(
    model: type[Base], values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`values` with the caller's `defaults` for keys it leaves out, checked against
    `model`'s columns before anything is written: an unknown key is a bug, and a missing
    required one is named (rather than left to the database's NOT NULL). The columns'
    own defaults are the ORM's to fill in."""
    table = cast(Table, model.__table__)
    columns = {column.key: column for column in table.columns if column.key != "id"}
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"not {table.name} fields: {', '.join(sorted(unknown))}")
    row = {**(defaults or {}), **values}
    for key, column in columns.items():
        required = not column.nullable and column.default is None
        if required and column.server_default is None and key not in row:
            raise ValueError(f"{table.name}.{key} is required")
    return row


async def count_in(s: AsyncSession, model: type[Base], *where: Any) -> int:
    """How many rows of `model` match `where`."""
    return await s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def rowcount(result: Any) -> int:
    """The rows an UPDATE or DELETE matched."""
    return cast(CursorResult[Any], result).rowcount


def short(text: str) -> str:
    """An error or note for its column: one line, cut to the column's width."""
    return " ".join(text.split())[:ERROR_MAX]


def new_id() -> str:
    return uuid.uuid4().hex
