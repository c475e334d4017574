"""Signals between processes on one PostgreSQL: LISTEN/NOTIFY.

Every `samen run` process handles the inbox (one conversation at a time each, see
`bot/store/lease.py`), but one sends the outbox. When another process commits messages,
the sender hears of it at the commit (`notify` runs inside the transaction that writes
them; PostgreSQL delivers it when that transaction commits) instead of at its next poll.
The poll stays as the safety net: a signal lost with a connection is a delay, never a
lost message. On SQLite (one process) there is nothing to signal: the process wakes its
own sender directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

# The channel on which a commit with new outbox rows is announced.
OUTBOX_CHANNEL = "samen_outbox"


async def notify(s: AsyncSession, channel: str) -> None:
    """Announce `channel` when `s`'s transaction commits (PostgreSQL only; PostgreSQL
    folds the same announcement made twice in one transaction into one)."""
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(select(func.pg_notify(channel, "")))


class Listener:
    """Hears announcements of other processes on one connection kept open for it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.shared = engine.dialect.name == "postgresql"
        self._conn: AsyncConnection | None = None

    async def listen(self, channel: str, heard: Callable[[], None]) -> bool:
        """Call `heard` whenever a transaction that announced `channel` commits; False
        when the database cannot listen (not PostgreSQL, or not reachable now)."""
        if not self.shared:
            return False
        try:
            if self._conn is None:
                self._conn = await self.engine.connect()
            raw = await self._conn.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg's Connection: add_listener

            def on_signal(*_: object) -> None:
                heard()

            await driver.add_listener(channel, on_signal)
        except Exception as exc:
            log.warning("not listening on %s: %s", channel, type(exc).__name__)
            await self.close()
            return False
        return True

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.invalidate()  # not back into the pool with its LISTEN
                await conn.close()
            except Exception as exc:
                log.debug("listener connection not closed: %s", type(exc).__name__)
