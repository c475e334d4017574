"""aiosqlite connections whose every statement is one trip to the connection's thread.

aiosqlite runs each SQLite connection in a thread of its own; every call is a trip there
and back through a queue and the event loop. SQLAlchemy's aiosqlite adapter makes four
such trips per statement: make a cursor, execute, fetch the rows, close the cursor. Each
costs some 45 microseconds of the event loop's time, more than SQLite's own work for the
store's small indexed statements (P1 and P4 in docs/performance.md).

`OneTripConnection` is an aiosqlite connection whose cursors do all four in one trip: the
sqlite3 cursor is made, executed, read to the end and closed in the connection's thread,
and what SQLAlchemy asks of it afterwards (description, rowcount, lastrowid, the rows) is
kept on the Python side. A transaction's BEGIN travels in the trip of its first
statement; a COMMIT or ROLLBACK with no transaction open is no trip. Everything else -
COMMIT, ROLLBACK, the thread, closing - is aiosqlite's own.
Rows are read in full at execute, as SQLAlchemy's aiosqlite adapter does for every
non-streaming cursor.

It relies on internals of aiosqlite 0.22 (pinned in pyproject.toml): Connection's
`_execute` (run a function in the connection's thread), `_conn` (the sqlite3 connection,
only touched in that thread) and `_thread`, and `aiosqlite.context.Result` (what
`cursor()` returns: awaitable and an async context manager).
tests/store/test_sqlite_driver.py checks the driver under SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite
from aiosqlite.context import Result

# What one statement leaves behind: description, rowcount, lastrowid, rows.
_Outcome = tuple[Any, int, int | None, list[Any]]


def _run(
    conn: sqlite3.Connection, begin: str | None, sql: str, parameters: Any, many: bool
) -> _Outcome:  # in the connection's thread
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy uses, one trip per statement."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        return await self._trip(sql, () if parameters is None else parameters, many=False)

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneTripCursor:
        return await self._trip(sql, parameters, many=True)

    async def _trip(self, sql: str, parameters: Any, *, many: bool) -> OneTripCursor:
        connection = self._connection
        begin, connection.pending_begin = connection.pending_begin, None
        run: Any = connection._execute  # untyped in aiosqlite
        outcome: _Outcome = await run(_run, connection._conn, begin, sql, parameters, many)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self.arraysize if size is None else size
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection handing out `OneTripCursor`s (made without a trip).

    `pending_begin` (BEGIN or BEGIN IMMEDIATE) is sent in the same trip as the next
    statement: a transaction's first statement and its BEGIN cost one trip. A commit or
    rollback when no transaction is open - none was begun, or no statement has run since
    BEGIN was asked for - drops it and makes no trip: a read of one statement without
    BEGIN (`db.ONE_STATEMENT`) is one trip in all."""

    pending_begin: str | None = None

    async def commit(self) -> None:
        self.pending_begin = None
        if self._conn.in_transaction:  # else nothing to end: no trip
            await super().commit()

    async def rollback(self) -> None:
        self.pending_begin = None
        if self._conn.in_transaction:
            await super().rollback()

    def cursor(self) -> Result[Any]:
        return Result(self._new_cursor())

    async def _new_cursor(self) -> OneTripCursor:
        return OneTripCursor(self)


def one_trip_creator(database: str, **connect_args: Any) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect opening `database` (a file
    path) with sqlite3's `connect_args`, as aiosqlite.connect would."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **connect_args)
        return connection

    async def create() -> aiosqlite.Connection:
        connection = OneTripConnection(connector, 64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        return await connection

    return create
