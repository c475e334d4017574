"""The one-trip aiosqlite connection under SQLAlchemy: one trip per statement, and what
SQLAlchemy reads of a cursor (rows, rowcount, lastrowid, errors) as plain aiosqlite gives."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.store.db import ONE_STATEMENT, WRITE_OPTION, open_engine, writer_engine
from bot.store.sqlite_driver import OneTripConnection


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function run in an aiosqlite connection's thread."""
    seen: list[str] = []
    real = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return seen


async def test_a_statement_on_a_database_file_is_one_trip(tmp_path: Path, trips: list[str]) -> None:
    engine = await open_engine(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, OneTripConnection)
            trips.clear()
            rows = (await conn.execute(text("SELECT 1 UNION SELECT 2 ORDER BY 1"))).all()
            # BEGIN and the statement in one trip, where plain aiosqlite under SQLAlchemy
            # makes five (BEGIN; cursor, execute, fetchall, close)
            assert trips == ["_run"]
        assert [tuple(r) for r in rows] == [(1,), (2,)]
    finally:
        await engine.dispose()


async def test_a_read_of_one_statement_is_one_trip_with_its_commit(
    tmp_path: Path, trips: list[str]
) -> None:
    """Without BEGIN the statement runs in SQLite's own transaction for it, so the commit
    after it has nothing to end and makes no trip; a read that began does."""
    engine = await open_engine(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    one = engine.execution_options(**{ONE_STATEMENT: True})
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1), (2)"))
        trips.clear()
        async with one.connect() as conn:
            rows = (await conn.execute(text("SELECT x FROM t ORDER BY x"))).all()
            raw = await conn.get_raw_connection()
            assert not raw.driver_connection.in_transaction  # nothing left open
            await conn.commit()
        assert trips == ["_run"]
        assert [tuple(r) for r in rows] == [(1,), (2,)]
        trips.clear()
        async with engine.connect() as conn:  # the usual read: BEGIN ... COMMIT
            await conn.execute(text("SELECT x FROM t"))
            await conn.commit()
        assert trips == ["_run", "commit"]
        write = one.execution_options(**{WRITE_OPTION: True})
        async with write.begin() as conn:  # a write always begins
            await conn.execute(text("INSERT INTO t VALUES (3)"))
            raw = await conn.get_raw_connection()
            assert raw.driver_connection.in_transaction
    finally:
        await engine.dispose()


async def test_rows_counts_and_ids_are_those_of_sqlite3(tmp_path: Path) -> None:
    engine = await open_engine(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            first = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            assert first.lastrowid == 1
            many = await conn.execute(
                text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}, {"v": "d"}]
            )
            assert many.rowcount == 3
            changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
            assert changed.rowcount == 2
            returned = await conn.execute(text("INSERT INTO t (v) VALUES ('e') RETURNING id, v"))
            assert [tuple(r) for r in returned] == [(5, "e")]
            result = await conn.execute(text("SELECT v FROM t ORDER BY id"))
            assert result.fetchmany(2) == [("a",), ("b",)]
            assert result.fetchone() == ("c!",)
            assert result.fetchall() == [("d!",), ("e",)]
        with pytest.raises(IntegrityError):  # a driver error still reaches the caller as such
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        async with engine.connect() as conn:  # and the failed transaction left nothing
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 5
    finally:
        await engine.dispose()


async def test_an_in_memory_database_keeps_plain_aiosqlite() -> None:
    engine = await open_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert not isinstance(raw.driver_connection, OneTripConnection)
    finally:
        await engine.dispose()


async def test_a_write_transaction_holds_the_write_lock_from_its_first_statement(
    tmp_path: Path,
) -> None:
    path = tmp_path / "samen.db"
    engine = await open_engine(f"sqlite+aiosqlite:///{path}")
    writer = writer_engine(engine)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with writer.begin() as conn:
            pass  # a transaction without statements: nothing sent, nothing left pending
        async with writer.begin() as conn:
            await conn.execute(text("SELECT 1"))  # a read, but in a write transaction
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once committed
        other.execute("ROLLBACK")
        async with engine.connect() as conn:  # a read transaction takes no lock
            await conn.execute(text("SELECT 1"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        await writer.dispose()
        await engine.dispose()
