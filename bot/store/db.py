"""Opening the database: an async engine tuned for SQLite or PostgreSQL, checked on open.

SQLite is the embedded default. Every connection gets WAL (readers never block the
writer), a busy timeout of 10 s (R-OPS-4: waiting writers queue instead of failing with
"database is locked"), `synchronous=NORMAL` (durable with WAL, far fewer fsyncs) and
foreign keys on. sqlite3's own transaction handling is switched off and the store emits
BEGIN itself: plain BEGIN for reads, BEGIN IMMEDIATE for writes (see `WRITE_OPTION`), so a
write transaction takes the write lock up front and waits in the busy handler, instead of
failing when it upgrades a read snapshot that another writer has moved past. This is
SQLAlchemy's documented recipe for aiosqlite (the "connect" and "begin" events), on the
stock aiosqlite driver.

PostgreSQL is the production store: a bounded pool whose connections are pinged when they
come out of the pool after sitting idle (`IDLE_PING_S`), so that a restarted server costs
a new connection, not an error; a connection in steady use is not pinged before every
transaction (SQLAlchemy's `pool_pre_ping` would cost three round trips each time: BEGIN,
the ping, ROLLBACK). `schema` puts every table of this engine in one schema via
`search_path` (tests use it to isolate runs in a shared database).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

CONNECT_TIMEOUT_S = 5.0
# A pooled PostgreSQL connection idle for this long is pinged before it is used again.
IDLE_PING_S = 5.0
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long a write waits for the SQLite writer connection of its process (see
# `writer_engine`) before it fails: far beyond any one write; only a stuck writer hits it.
WRITER_WAIT_S = 60.0

# Connections the SQLite read engine keeps open. Each is a thread of aiosqlite's and a
# file handle; one opened beyond the pool is closed again when it comes back, and opening
# costs a thread and four PRAGMAs. The service drains up to
# eight conversations side by side and the outbox, scheduler and intake read too: keep
# enough for all of them.
SQLITE_READERS = 16

# An execution option on the store's write engine: the SQLite "begin" hook then takes the
# write lock at BEGIN. Harmless on PostgreSQL, where it is ignored.
WRITE_OPTION = "samen_write"

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened. The message is one line for an operator:
    which database (password hidden), what went wrong and what to check."""


def redact_url(url: str | URL) -> str:
    """The URL with its password replaced by ***, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL SQLAlchemy can parse: still never echo what looks like a password.
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", str(url))


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


async def open_engine(
    url: str, *, schema: str | None = None, connect_timeout: float = CONNECT_TIMEOUT_S
) -> AsyncEngine:
    """Create an async engine for `url`, check that it answers `SELECT 1`, and return it.

    Raises `DatabaseUnavailable` (with the password hidden) when it does not answer within
    `connect_timeout` seconds or refuses the connection.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"the database URL {redact_url(url)!r} is not a valid SQLAlchemy URL; "
            "check SAMEN_DATABASE_URL (e.g. sqlite+aiosqlite:///.samen/samen.db or "
            "postgresql+asyncpg://user:password@host:5432/samen)"
        ) from None
    backend = parsed.get_backend_name()
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name {schema!r} is not a plain SQL identifier")

    if backend == "sqlite":
        pool = {"pool_size": SQLITE_READERS, "max_overflow": SQLITE_READERS}
        engine = _sqlite_engine(parsed, **(pool if _plain_file(parsed) else {}))
    elif backend == "postgresql":
        engine = _postgresql_engine(parsed, schema, connect_timeout)
    else:
        raise DatabaseUnavailable(
            f"the database URL {redact_url(parsed)!r} names {backend!r}; Samen supports "
            "sqlite+aiosqlite and postgresql+asyncpg; check SAMEN_DATABASE_URL"
        )

    try:
        async with asyncio.timeout(connect_timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        await engine.dispose()
        raise DatabaseUnavailable(_unavailable_message(parsed, exc, connect_timeout)) from None
    return engine


def writer_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine the store writes through.

    SQLite allows one writer at a time. Writers of one process that meet at the lock wait
    in SQLite's busy handler, which sleeps 1, 2, 5, ... up to 100 ms between tries: under
    load each write then costs tens of milliseconds of sleeping (P3/P4 in
    docs/performance.md). So on a SQLite file the store writes through a second engine on
    the same file whose pool holds exactly one connection: this process's writers queue
    for that connection in asyncio, in order and without sleeping, and only another
    process (a CLI command) still meets the busy handler. An in-memory database cannot be
    opened twice: it (and a "file:" URI, which may name one) writes through `engine`
    itself, as PostgreSQL does (its row locks let writers run side by side).
    """
    url = engine.url
    if engine.dialect.name != "sqlite" or not _plain_file(url):
        return engine.execution_options(**{WRITE_OPTION: True})
    writer = _sqlite_engine(url, pool_size=1, max_overflow=0, pool_timeout=WRITER_WAIT_S)
    return writer.execution_options(**{WRITE_OPTION: True})


def _plain_file(url: URL) -> bool:
    """A SQLite URL naming a file (not memory, not a "file:" URI, which may name memory)."""
    database = url.database or ""
    return database not in ("", ":memory:") and not database.startswith("file:")


def _sqlite_engine(url: URL, **pool: Any) -> AsyncEngine:
    if _plain_file(url):
        database = url.database or ""
        try:
            # A folder made here is Samen's own: only its user may enter it.
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            owner_only(Path(database).expanduser())
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot create the directory for the SQLite database {redact_url(url)!r} "
                f"({exc.strerror}); check SAMEN_DATA_DIR or SAMEN_DATABASE_URL"
            ) from None
    # hide_parameters: an error's text never carries the values of its statement (they
    # may be answers, before sealing decides; R-PRV-8), wherever the error ends up logged.
    engine = create_async_engine(url, hide_parameters=True, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take over BEGIN from sqlite3 (its legacy mode never begins before a SELECT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten, not left readable in the file (R-PRV-5).
            cursor.execute("PRAGMA secure_delete=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def owner_only(database: Path) -> None:
    """The SQLite file and its companions readable by their owner only (0600). The file is
    created here when missing, so that SQLite makes its WAL and shared-memory files with
    the same mode (it copies the database file's)."""
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in SQLITE_SUFFIXES:
        path = database.with_name(database.name + suffix)
        if path.exists() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


def _postgresql_engine(url: URL, schema: str | None, connect_timeout: float) -> AsyncEngine:
    connect_args: dict[str, Any] = {"timeout": connect_timeout}
    if schema is not None:
        connect_args["server_settings"] = {"search_path": schema}
    engine = create_async_engine(
        url,
        hide_parameters=True,  # see the SQLite engine
        pool_size=10,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,  # below typical idle timeouts of proxies and load balancers
        connect_args=connect_args,
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection as it is taken out, if it sat idle for `IDLE_PING_S` or
    more; one that does not answer is replaced (SQLAlchemy's documented pessimistic
    disconnect handling: `DisconnectionError` from a "checkout" listener)."""
    sync = engine.sync_engine

    @event.listens_for(sync, "checkin")
    def _idle_from(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["samen_idle_from"] = time.monotonic()

    @event.listens_for(sync, "checkout")
    def _ping(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_from = record.info.get("samen_idle_from")
        if idle_from is None or time.monotonic() - idle_from < IDLE_PING_S:
            return  # new, or in steady use
        try:
            sync.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection did not answer") from exc


def _unavailable_message(url: URL, exc: BaseException, timeout: float) -> str:
    shown = redact_url(url)
    if isinstance(exc, TimeoutError):
        reason = f"no answer within {timeout:g} s"
    else:
        reason = f"{type(exc).__name__}: {_one_line(exc)}"
        if url.password:
            reason = reason.replace(str(url.password), "***")
    if url.get_backend_name() == "sqlite":
        advice = (
            "is the data directory writable and the file a SQLite database? "
            "check SAMEN_DATA_DIR or SAMEN_DATABASE_URL"
        )
    else:
        advice = (
            "is PostgreSQL running and reachable, and are the user, password and "
            "database right? check SAMEN_DATABASE_URL"
        )
    return f"cannot open the database {shown} ({reason}); {advice}"


def _one_line(exc: BaseException) -> str:
    # SQLAlchemy wraps driver errors with a multi-line "(Background on this error ...)".
    original = getattr(exc, "orig", None) or exc
    message = " ".join(str(original).split())
    return message[:200] or type(original).__name__
