"""Leases: which process does a job that only one process at a time may do.

On PostgreSQL several `samen run` processes may share one database; each takes the
lease of a job (firing timers, sending the outbox) when it is free, and the others wait
and take over when the holder's connection dies. The inbox is shared more finely: every
process handles it, one conversation at a time each (`ConversationLocks`). On SQLite
there is one process, which always holds every lease and every conversation.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("samen.lease")

# PostgreSQL advisory lock keys (bigint): "SAMEN" in ASCII, and the next numbers.
TIMER_LEASE = 0x53414D454E
OUTBOX_LEASE = 0x53414D454F
# The first key of the two-key advisory locks of conversations ("SAMC"), and of the lock
# each process holds while it handles the inbox, so that the others can count it ("SAMP").
CONVERSATION_LOCKS = 0x53414D43
PRESENCE = 0x53414D50


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


class ConversationLocks:
    """Which conversations of the inbox this process handles now.

    Every process stores what it receives and handles the inbox; the events of one
    conversation (a channel, a private chat, the timers) must be handled in order and by
    one process at a time. On PostgreSQL each conversation is a session-level advisory
    lock (two keys: `CONVERSATION_LOCKS` and a hash of the conversation), taken with
    `pg_try_advisory_lock` for a batch and given back after it, on one connection kept
    open for it. A process that dies drops its connection, and PostgreSQL gives its
    conversations back. Two conversations whose hashes meet only wait for each other.
    Anything else (SQLite, no engine): one process, every conversation its own.
    """

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.shared = engine is not None and engine.dialect.name == "postgresql"
        self._conn: AsyncConnection | None = None
        self._turn = asyncio.Lock()  # asyncpg: one operation at a time per connection
        self._held: set[str] = set()

    @classmethod
    def for_store(cls, store: object) -> ConversationLocks:
        engine = getattr(store, "engine", None)
        return cls(engine if isinstance(engine, AsyncEngine) else None)

    async def take(self, conversations: Sequence[str]) -> set[str]:
        """Those of `conversations` this process now holds (all of them unless shared);
        none when the database cannot be asked (the next drain asks again)."""
        if not self.shared or not conversations:
            return set(conversations)
        keys = {c: conversation_key(c) for c in conversations if c not in self._held}
        if not keys:
            return set(conversations)
        async with self._turn:
            try:
                conn = await self._connection()
                taken = (
                    await conn.execute(
                        text(
                            "SELECT k, pg_try_advisory_lock(:space, k) "
                            "FROM unnest(CAST(:keys AS integer[])) AS k"
                        ),
                        {"space": CONVERSATION_LOCKS, "keys": sorted(set(keys.values()))},
                    )
                ).all()
                await conn.commit()
            except Exception as exc:
                log.warning("conversations not taken: %s", type(exc).__name__)
                await self._drop()
                return set()
        got = {key for key, ok in taken if ok}
        held = {conversation for conversation, key in keys.items() if key in got}
        self._held |= held
        return held | (set(conversations) & self._held)

    async def give_back(self, conversations: Iterable[str]) -> None:
        """Let other processes handle `conversations` again (those still held)."""
        if not self.shared:
            return
        given = set(conversations) & self._held
        self._held -= given
        keys = sorted({conversation_key(c) for c in given})
        if not keys:
            return
        async with self._turn:
            if self._conn is None:
                return  # the connection went, and its locks with it
            try:
                await self._conn.execute(
                    text(
                        "SELECT pg_advisory_unlock(:space, k) "
                        "FROM unnest(CAST(:keys AS integer[])) AS k"
                    ),
                    {"space": CONVERSATION_LOCKS, "keys": keys},
                )
                await self._conn.commit()
            except Exception as exc:
                log.warning("conversations not given back: %s", type(exc).__name__)
                await self._drop()  # closing the connection gives them back

    async def others(self) -> int:
        """How many other processes handle this database's inbox now (0 unless shared;
        0 when the database cannot be asked)."""
        if not self.shared:
            return 0
        async with self._turn:
            try:
                conn = await self._connection()
                count = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND granted AND classid = :space AND objsubid = 2 "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database()) AND pid <> pg_backend_pid()"
                    ),
                    {"space": PRESENCE},
                )
                await conn.commit()
            except Exception as exc:
                log.warning("other processes not counted: %s", type(exc).__name__)
                await self._drop()
                return 0
        return int(count or 0)

    async def close(self) -> None:
        async with self._turn:
            await self._drop()

    async def _connection(self) -> AsyncConnection:
        """The connection the locks are held on; a new one first says this process is
        here (a lock of its own that the others count, see `others`)."""
        if self._conn is None:
            assert self.engine is not None
            conn = await self.engine.connect()
            try:
                await conn.execute(
                    text("SELECT pg_advisory_lock(:space, pg_backend_pid())"),
                    {"space": PRESENCE},
                )
                await conn.commit()
            except Exception:
                await conn.invalidate()
                await _close_quietly(conn)
                raise
            self._conn = conn
        return self._conn

    async def _drop(self) -> None:
        """Close the connection for good (not back into the pool, where a lock it still
        held would pass to whoever takes it next): its locks go with it."""
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            try:
                await conn.invalidate()
            except Exception as exc:
                log.debug("conversation lock connection not invalidated: %s", type(exc).__name__)
            await _close_quietly(conn)


def conversation_key(conversation: str) -> int:
    """A conversation's second advisory-lock key: a signed 32-bit hash of its name."""
    return zlib.crc32(conversation.encode("utf-8")) - 2**31


async def _close_quietly(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception as exc:
        log.debug("lease connection not closed: %s", type(exc).__name__)
