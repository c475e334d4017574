"""The store: every read and write the shell makes, each in its own short transaction.

`Store` is the only door to the database for the runtime (inbox, runs, scheduler, outbox
worker), the features and the adapters' state: nothing outside bot/store opens a
session. The same code runs on SQLite (the embedded default) and PostgreSQL; where they
differ (upserts, row locks, BEGIN IMMEDIATE) the difference is kept inside bot/store.

`Store` is a facade over one repository per table group, each in its own module:
teams and members (teams.py), inbox (inbox.py), runs and answers (runs.py), timers
(timers.py), outbox (outbox.py), events (events.py), trajectories (evaluations.py) and
adapter state (adapter_state.py). It inherits them all, on one shared `Database`
(database.py: engines, sessions, keyring). Inheritance rather than delegation because
the repositories' method names are already distinct and are the store's public API as
callers know it (`store.commit_step`, `store.outbox_due`, ...): inheriting keeps every
name in one place, its repository, instead of a second list of forwarding methods here
that would have to follow each change. This module also exports the names callers
import from it (`StaleRun`, `StepWrite`, `HandOver`, `QueuedMessage`, ...).

The rules every repository keeps:

- One method, one short transaction (R-OPS-4). A step of a run is written by
  `commit_step` in ONE transaction, or not at all.
- Runs are guarded by a version (optimistic concurrency, `StaleRun`).
- Duplicates are absorbed by unique keys, never by reading first: inbox (platform +
  event key), timers and outbox (idempotency key) use INSERT ... ON CONFLICT DO NOTHING.
- Timers and outbox rows change state by compare-and-set (`WHERE status = 'pending'`),
  so two workers cannot both handle one row (R-SCH-3, R-SCH-6).
- Every datetime in and out is timezone-aware UTC; naive datetimes are refused.
- Nothing here logs or raises with answer text, names or secrets; only ids.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.store import access_log
from bot.store.adapter_state import AdapterStateRepository
from bot.store.database import (
    ERROR_MAX,
    Database,
    audit_key_for,
    check_keys,
    count_in,
    full_row,
)
from bot.store.db import open_engine
from bot.store.evaluations import TrajectoryRepository
from bot.store.events import EventRepository
from bot.store.inbox import InboxRepository
from bot.store.migrate import (
    TEAM_NAMES_SEALED,
    applied_now,
    current_revision,
    sealing_applied_now,
    upgrade,
)
from bot.store.outbox import OutboxRepository, QueuedMessage
from bot.store.pseudonyms import pseudonymise_answers, seal_team_names
from bot.store.rekey import bind_unbound, seal_plain
from bot.store.runs import (
    ACTIVE_RUN,
    RUN_FIELDS,
    Messages,
    RunRepository,
    StaleRun,
    StepWrite,
    lock_run,
)
from bot.store.sealed import AuditKey, Keyring, default_data_dir
from bot.store.tables import InboxRow, OutboxRow, TimerRow
from bot.store.teams import (
    ADDRESSES,
    LANGUAGES,
    TEAM_SETTINGS,
    NotFound,
    TeamRepository,
    normalise_roles,
    validate_team_settings,
)
from bot.store.timers import TIMER_OUTCOMES, HandOver, TimerRepository

log = logging.getLogger(__name__)

__all__ = [
    "ACTIVE_RUN",
    "ADDRESSES",
    "ERROR_MAX",
    "LANGUAGES",
    "RUN_FIELDS",
    "TEAM_SETTINGS",
    "TIMER_OUTCOMES",
    "HandOver",
    "Messages",
    "NotFound",
    "QueuedMessage",
    "StaleRun",
    "StepWrite",
    "Store",
    "full_row",
    "lock_run",
    "normalise_roles",
    "validate_team_settings",
]


class Store(
    TeamRepository,
    InboxRepository,
    RunRepository,
    TimerRepository,
    OutboxRepository,
    EventRepository,
    TrajectoryRepository,
    AdapterStateRepository,
):
    """The database as the shell sees it. Open with `Store.open(url)`; close when done."""

    def __init__(
        self, engine: AsyncEngine, keyring: Keyring | None = None, audit: AuditKey | None = None
    ) -> None:
        super().__init__(Database(engine, keyring, audit))

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        schema: str | None = None,
        keyring: Keyring | None = None,
    ) -> Store:
        """Connect (raising `DatabaseUnavailable` if that fails) and, unless `migrate` is
        False, bring the schema up to date first. Without `keyring`, the data key comes
        from `SAMEN_DATA_KEY` or the key file next to the SQLite database (see sealed.py)."""
        engine = await open_engine(url, schema=schema)
        try:
            seal_old, seal_titles = False, False
            if migrate:
                before = await current_revision(engine)
                seal_old = sealing_applied_now(before)
                seal_titles = applied_now(before, TEAM_NAMES_SEALED)
                await upgrade(engine)
            keyring = keyring or Keyring.from_environment(default_data_dir(engine.url))
            # Refuses a keyring that lacks a key the stored values need.
            scan = await check_keys(engine, keyring)
            store = cls(engine, keyring, await audit_key_for(engine))
            plain = scan.plain
            if plain and seal_titles:  # the data migration of 0010_pseudonyms
                plain -= await seal_team_names(store.db)
            if plain and seal_old:  # the data migration of 0008_privacy_sealed_only
                log.info("sealing %d values written before sealing existed", plain)
                await seal_plain(store.sessionmaker, keyring)
            elif plain:  # written around Samen since: refused whenever read
                log.warning("%d plain values in sealed columns: refused when read", plain)
            if scan.unbound:  # the data migration of 0009_bound_ciphertext (until none is left)
                log.info("binding %d sealed values to their rows", scan.unbound)
                await bind_unbound(store.sessionmaker, keyring)
            # 0010_pseudonyms: platform ids left in answers.member (until none is left). After
            # the binding: it reads the answers, and the flush binds them to their new rows.
            changed = await pseudonymise_answers(store.db)
            if changed:
                log.info("stored %d answers by their people's pseudonyms", changed)
            return store
        except BaseException:
            await engine.dispose()
            raise

    async def close(self) -> None:
        await self.db.close()

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    @property
    def keyring(self) -> Keyring:
        """The keys sealed columns (answers, run state, payloads) are sealed with."""
        return self.db.keyring

    def pseudonym(self, user: str) -> str:
        """The keyed pseudonym a person's answers are stored by (bot/store/pseudonyms.py)."""
        return self.db.audit.pseudonym(user)

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Write sessions, for tests and benchmarks that set up or inspect rows directly
        (the shell itself goes through the repositories); on SQLite they take the write
        lock at BEGIN."""
        return self.db.writes

    @property
    def dialect(self) -> str:
        """The backend: "sqlite" or "postgresql"."""
        return self.db.dialect

    # ------------------------------------------------------------------ operations

    async def status(self, now: datetime) -> dict[str, Any]:
        """What `samen status` shows (R-OPS-2): timers, backlogs and failures."""
        async with self.db.reading() as s:
            pending = TimerRow.status == "pending"
            return {
                "timers_pending": await count_in(s, TimerRow, pending),
                "next_due": await s.scalar(select(func.min(TimerRow.due_at)).where(pending)),
                "oldest_overdue": await s.scalar(
                    select(func.min(TimerRow.due_at)).where(pending, TimerRow.due_at < now)
                ),
                "inbox_backlog": await count_in(s, InboxRow, InboxRow.status == "new"),
                "outbox_backlog": await count_in(s, OutboxRow, OutboxRow.status == "pending"),
                "outbox_failed": await count_in(s, OutboxRow, OutboxRow.status == "failed"),
            }

    async def verify_access_log(self, kept: access_log.Anchor | None = None) -> access_log.Verdict:
        """Walk the access log's chain (`samen audit verify`), against `kept` if given."""
        async with self.db.reading() as s:
            return await access_log.verify(s, self.db.audit, kept)

    async def access_log_anchor(self) -> access_log.Anchor:
        """The access log's anchor (`samen audit anchor`)."""
        async with self.db.reading() as s:
            return await access_log.anchor(s)
