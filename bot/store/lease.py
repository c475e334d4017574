"""Leases: which process does a job that only one process at a time may do.

On PostgreSQL several `samen run` processes may share one database; each takes the
lease of a job (firing timers, sending the outbox) when it is free, and the others wait
and take over when the holder's connection dies. On SQLite there is one process, which
always holds every lease.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("samen.lease")

# PostgreSQL advisory lock keys (bigint): "SAMEN" in ASCII, and the next numbers.
TIMER_LEASE = 0x53414D454E
OUTBOX_LEASE = 0x53414D454F
INBOX_LEASE = 0x53414D4550


class Lease:
    """Who may do a job that one process at a time must do: fire timers (R-SCH-6), send
    the outbox (one sender keeps the platforms' rate limits and each chat's order), or
    handle the inbox (every process stores what it receives; one handles each event once).

    On PostgreSQL: the holder of a session-level advisory lock on a dedicated connection
    that stays open. `check()` keeps it (a ping on that connection) or tries to take it;
    when the holder's connection dies, PostgreSQL releases the lock and the next
    `check()` of another process takes it. Anything else (SQLite, no engine): one
    process, always held.
    """

    def __init__(
        self, engine: AsyncEngine | None = None, key: int = TIMER_LEASE, name: str = "timer"
    ) -> None:
        self.engine = engine
        self.key = key
        self.name = name  # what the log lines call it
        self.shared = engine is not None and engine.dialect.name == "postgresql"
        self._held = not self.shared
        self._conn: AsyncConnection | None = None
        # Checks and the release take turns on the lease's one connection, whichever tasks
        # call them: asyncpg runs one operation at a time on a connection.
        self._turn = asyncio.Lock()

    @classmethod
    def for_store(cls, store: object, key: int = TIMER_LEASE, name: str = "timer") -> Lease:
        engine = getattr(store, "engine", None)
        return cls(engine if isinstance(engine, AsyncEngine) else None, key, name)

    @property
    def held(self) -> bool:
        return self._held

    async def check(self) -> bool:
        """Keep or take the lease; True while held."""
        if not self.shared:
            return True
        async with self._turn:
            return await self._check()

    async def _check(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
                return True
            except Exception as exc:
                log.warning("%s lease lost: %s", self.name, type(exc).__name__)
                await self._drop()
        assert self.engine is not None
        conn: AsyncConnection | None = None
        try:
            conn = await self.engine.connect()
            got = (await conn.execute(select(func.pg_try_advisory_lock(self.key)))).scalar()
            # Commit so that the connection does not sit idle in a transaction; the lock
            # is session-level and outlives it.
            await conn.commit()
        except Exception as exc:
            log.warning("%s lease not checked: %s", self.name, type(exc).__name__)
            got = False
        if got and conn is not None:
            self._conn, self._held = conn, True
            log.info("%s lease taken", self.name)
        elif conn is not None:
            await _close_quietly(conn)
        return self._held

    async def release(self) -> None:
        async with self._turn:
            await self._release()

    async def _release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(select(func.pg_advisory_unlock(self.key)))
                await self._conn.commit()
            except Exception as exc:
                log.warning("%s lease not released cleanly: %s", self.name, type(exc).__name__)
            await self._drop()
        elif self.shared:
            self._held = False

    async def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            await _close_quietly(conn)


async def _close_quietly(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception as exc:
        log.debug("lease connection not closed: %s", type(exc).__name__)
