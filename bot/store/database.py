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
import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, Text, case, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.store.db import writer_engine
from bot.store.sealed import (
    ENV_KEY,
    ENV_OLD_KEYS,
    PREFIX_CHARS,
    SEALED_COLUMNS,
    UNBOUND,
    AuditKey,
    DataKeyError,
    Keyring,
    attach,
    attach_audit,
    default_data_dir,
    key_ids_in,
)
from bot.store.tables import AccessLogRow, Base

log = logging.getLogger(__name__)

ERROR_MAX = 200  # the width of the error/note columns


class Database:
    """The engines, session factories and keyring of one open store."""

    def __init__(
        self, engine: AsyncEngine, keyring: Keyring | None = None, audit: AuditKey | None = None
    ) -> None:
        self.engine = engine
        # Sealed columns (answers, run state, inbox and outbox payloads) use this keyring.
        self.keyring = keyring or Keyring.from_environment(default_data_dir(engine.url))
        # The access log's HMAC chain uses this key (in memory only when none is given).
        self.audit = audit or AuditKey(secrets.token_bytes(32))
        attach(engine.sync_engine.dialect, self.keyring)
        attach_audit(engine.sync_engine.dialect, self.audit)
        if engine.dialect.name != "sqlite" and self.keyring.path is not None:
            # Several processes share one PostgreSQL: they must share one key as well.
            log.warning("data key from a key file; set SAMEN_DATA_KEY when several hosts run")
        self.dialect = engine.dialect.name
        self.writer = writer_engine(engine)
        attach(self.writer.sync_engine.dialect, self.keyring)
        attach_audit(self.writer.sync_engine.dialect, self.audit)
        # PostgreSQL reads in autocommit: at READ COMMITTED (its default) every statement
        # sees what was committed before it, inside a transaction or not, so BEGIN and
        # COMMIT around a read only cost two round trips more. SQLite reads keep their
        # transaction: there it is one snapshot (see `db.py`).
        readers = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else engine
        )
        self.reads = async_sessionmaker(readers, expire_on_commit=False)
        self.writes = async_sessionmaker(self.writer, expire_on_commit=False)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read: on SQLite one snapshot for every statement in the block; on PostgreSQL
        each statement sees what was committed before it (READ COMMITTED, in autocommit).
        Never for a read that locks (FOR UPDATE): that belongs in `writing`."""
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


@dataclass
class SealedScan:
    """What the sealed columns hold, from a scan of the values' starts (none is opened):
    the ids of the keys they were sealed with, how many values are not sealed at all,
    and how many are sealed but not bound to their rows (v1, from before binding)."""

    keys: set[str]
    plain: int
    unbound: int


async def sealed_key_ids(engine: AsyncEngine) -> SealedScan:
    """Scan the sealed columns (see `SealedScan`)."""
    scan = SealedScan(set(), 0, 0)
    async with engine.connect() as conn:
        for table_name, column_name in SEALED_COLUMNS:
            column = Base.metadata.tables[table_name].c[column_name]
            start = func.substr(sql_cast(column, Text), 1, PREFIX_CHARS)
            sealed = or_(start.like("sealed:v%"), start.like('{"sealed":%'))
            starts = await conn.scalars(select(start).where(sealed).distinct())
            scan.keys |= key_ids_in(list(starts))[0]
            v1 = or_(start.like(f"sealed:{UNBOUND}:%"), start.like(f'{{"sealed":%"{UNBOUND}:%'))
            counts = select(
                func.coalesce(func.sum(case((~sealed, 1), else_=0)), 0),
                func.coalesce(func.sum(case((v1, 1), else_=0)), 0),
            ).where(column.is_not(None))
            plain, unbound = (await conn.execute(counts.select_from(column.table))).one()
            scan.plain += int(plain)
            scan.unbound += int(unbound)
        await conn.rollback()
    return scan


async def check_keys(engine: AsyncEngine, keyring: Keyring) -> SealedScan:
    """Refuse a keyring that lacks a key the stored values were sealed with, before
    anything is written: with the key file missing, the keyring holds a new key that
    opens nothing stored, and Samen must not go on sealing under it. A new key is
    written to its file only when nothing sealed needs another one. Returns the scan:
    how many values in sealed columns are plain (from before sealing existed) or
    unbound (from before binding)."""
    scan = await sealed_key_ids(engine)
    missing = sorted(scan.keys - set(keyring.keys))
    if missing:
        if keyring.new:
            where = f"the key file {keyring.path} is missing"
        elif keyring.path is not None:
            where = f"the key file {keyring.path} does not hold it"
        else:
            where = f"{ENV_KEY} / {ENV_OLD_KEYS} do not hold it"
        raise DataKeyError(
            f"the database holds values sealed with key {', '.join(missing)}, and {where}; "
            f"Samen does not start and makes no new key: restore the key file from your "
            f"backup, or give the key in {ENV_KEY} (older ones in {ENV_OLD_KEYS})"
        )
    if keyring.new:
        keyring.save()
        log.warning(
            "made a new data key in %s: back it up apart from the data folder "
            "(without it, sealed answers cannot be read; with it beside a copy of the "
            "data, they can)",
            keyring.path,
        )
    return scan


async def audit_key_for(engine: AsyncEngine) -> AuditKey:
    """The access log's key for this database; a new one is written to its file with
    the number of rows the log already has (chained before there was a key)."""
    audit = AuditKey.from_environment(default_data_dir(engine.url))
    if engine.dialect.name != "sqlite" and audit.path is not None:
        # Several processes share one PostgreSQL: they must chain with one key as well.
        log.warning("audit key from a key file; set SAMEN_AUDIT_KEY when several hosts run")
    if audit.new:
        async with engine.connect() as conn:
            audit.legacy_rows = int(
                await conn.scalar(select(func.count()).select_from(AccessLogRow)) or 0
            )
            await conn.rollback()
        audit.save()
        log.warning("made a new access-log key in %s: back it up with the data key", audit.path)
    return audit


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
