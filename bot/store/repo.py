"""The store: every read and write the shell makes, each in its own short transaction.

`Store` is the only door to the database for the service, the scheduler and the outbox
worker. The same code runs on SQLite (the embedded default) and PostgreSQL; where they
differ (upserts, row locks) the difference is kept inside this module.

The rules it keeps:

- One method, one short transaction (R-OPS-4). A step of a run — its new state, answers,
  outgoing messages, new and cancelled timers and the inbox row it consumed — is written
  by `commit_step` in ONE transaction, or not at all.
- Runs are guarded by a version (optimistic concurrency): a write that expected an older
  version raises `StaleRun` and changes nothing, so a double click, a Slack retry or a
  second process never applies the same step twice (R-ING-1, -5, -6). On PostgreSQL the
  run row is also locked (`SELECT ... FOR UPDATE`) for the length of the step.
- Duplicates are absorbed by unique keys, never by reading first: inbox (platform +
  event key), timers and outbox (idempotency key) use INSERT ... ON CONFLICT DO NOTHING.
- Timers and outbox rows change state by compare-and-set (`WHERE status = 'pending'`),
  so two workers cannot both handle one row (R-SCH-3, R-SCH-6).
- Every datetime in and out is timezone-aware UTC; naive datetimes are refused.
- Nothing here logs or raises with answer text, names or secrets; only ids.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import CursorResult, Select, Table, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.store.access_log import Access
from bot.store.access_log import append as append_access
from bot.store.db import open_engine, writer_engine
from bot.store.migrate import upgrade
from bot.store.sealed import Keyring, attach, default_data_dir
from bot.store.tables import (
    AnswerRow,
    Base,
    CallbackTokenRow,
    EventRow,
    InboxRow,
    MemberRow,
    OutboxRow,
    PinnedMessageRow,
    PrivateChatRow,
    ReplyPromptRow,
    RunRow,
    StartLinkRow,
    TeamRow,
    TimerRow,
    TrajectoryRow,
)

log = logging.getLogger(__name__)

LANGUAGES = ("nl", "en", "nl-BE")
ADDRESSES = ("je", "u")
TEAM_SETTINGS = ("name", "language", "address", "timezone", "work_days", "work_start", "work_end")
RUN_FIELDS = (
    "team_id",
    "flow_id",
    "status",
    "version",
    "state",
    "thread",
    "parent_run",
    "finished_at",
)
ACTIVE_RUN = "active"
TIMER_OUTCOMES = ("sent", "skipped", "failed")
ERROR_MAX = 200  # the width of the error/note columns

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class StaleRun(Exception):
    """The run changed (or vanished) since it was loaded; nothing of the step was written.
    The caller reloads the run and decides again (usually: the event was already handled)."""

    def __init__(self, run_id: str, expected: int | None, found: int | None) -> None:
        self.run_id = run_id
        self.expected = expected
        self.found = found
        if found is None and expected is not None:
            what = "no longer exists"
        elif expected is None:
            what = "already exists"
        else:
            what = f"is at version {found}"
        super().__init__(
            f"run {run_id} {what}, expected version {expected}; reload it and try again"
        )


@dataclass(frozen=True)
class HandOver:
    """A due timer the scheduler hands to the service (`Store.hand_over`): claimed as
    `status` ("sent" or "skipped") with `note`, its inbox event `payload` stored under
    the key `timer:<timer_row>`."""

    timer_row: int
    status: str
    payload: Mapping[str, Any]
    note: str = ""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """An outbox row as `Store.outbox_due` reads it for delivery: every column of
    `OutboxRow`, as plain values the outbox worker may keep while the row changes."""

    id: int
    team_id: str
    run_id: str | None
    platform: str
    destination: str
    op: str
    msg_key: str
    kind: str
    priority: int
    message: Mapping[str, Any]
    status: str
    attempts: int
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None
    platform_ref: str | None
    idempotency_key: str
    error: str


class NotFound(LookupError):
    """A team or member the caller named does not exist."""


@dataclass(frozen=True, kw_only=True)
class Messages:
    """What `Store.commit_messages` writes for one event: messages and timers of no run,
    and the inbox row they answer, marked done."""

    outbox: Sequence[Mapping[str, Any]] = ()
    timers_new: Sequence[Mapping[str, Any]] = ()
    inbox_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class StepWrite:
    """Everything one step of a run writes, applied by `Store.commit_step` atomically.

    `run` holds the RunRow fields to write (any of `RUN_FIELDS`); fields left out keep
    their stored value. `expected_version` None means a new run: it is inserted (team_id,
    flow_id, status and state required) and raises `StaleRun` if the id exists. Otherwise
    the stored version must equal `expected_version`, and the new version is
    `run["version"]` (default: expected + 1, and it must be higher).

    The rows' own ids are assigned by the database. Defaults filled in: `run_id` on
    answers, timers and outbox rows; `team_id` of the run on outbox rows; `now` for
    `answered_at`, `created_at` and `not_before`. Timers are cancelled before new ones are
    inserted, so a step may cancel a timer id and schedule it again.
    """

    run_id: str
    expected_version: int | None
    run: Mapping[str, Any]
    answers: Sequence[Mapping[str, Any]] = ()  # upsert on (run_id, step, question, member)
    outbox: Sequence[Mapping[str, Any]] = ()  # insert; a known idempotency_key is skipped
    timers_new: Sequence[Mapping[str, Any]] = ()  # insert; a known idempotency_key is skipped
    timers_cancel: Sequence[str] = ()  # engine timer ids of this run; pending -> cancelled
    inbox_id: int | None = None  # the inbox row this step consumed: marked done
    now: datetime
    access: Sequence[Access] = ()  # access-log entries (summaries shown), same transaction


class Store:
    """The database as the shell sees it. Open with `Store.open(url)`; close when done."""

    def __init__(self, engine: AsyncEngine, keyring: Keyring | None = None) -> None:
        self._engine = engine
        # Sealed columns (answers, run state, inbox and outbox payloads) use this keyring.
        self.keyring = keyring or Keyring.from_environment(default_data_dir(engine.url))
        attach(engine.sync_engine.dialect, self.keyring)
        if engine.dialect.name != "sqlite" and self.keyring.path is not None:
            # Several processes share one PostgreSQL: they must share one key as well.
            log.warning("data key from a key file; set SAMEN_DATA_KEY when several hosts run")
        self._dialect = engine.dialect.name
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        # Writes start with BEGIN IMMEDIATE on SQLite, through one connection per process
        # (see db.writer_engine).
        self._writer = writer_engine(engine)
        attach(self._writer.sync_engine.dialect, self.keyring)
        self._writes = async_sessionmaker(self._writer, expire_on_commit=False)

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
            if migrate:
                await upgrade(engine)
            return cls(engine, keyring)
        except BaseException:
            await engine.dispose()
            raise

    async def close(self) -> None:
        await self._writer.dispose()
        await self._engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for writes outside this class (one short transaction each, please); on
        SQLite they take the write lock at BEGIN."""
        return self._writes

    @property
    def dialect(self) -> str:
        """The backend: "sqlite" or "postgresql"."""
        return self._dialect

    # ------------------------------------------------------------------ teams, members

    async def team_for_channel(
        self, platform: str, channel: str, *, name: str = "", now: datetime
    ) -> TeamRow:
        """The team of a platform channel, created with default settings if new.

        Concurrent callers for the same channel all get the same row: the insert skips on
        the unique (platform, channel) and everyone reads what was stored."""
        async with self._reading() as s:
            team = await s.scalar(_team_by_channel(platform, channel))
        if team is not None and (not name or team.name == name):
            return team
        async with self._writing() as s:
            if team is None:
                await s.execute(
                    self._insert(TeamRow)
                    .values(
                        id=_new_id(), platform=platform, channel=channel, name=name, created_at=now
                    )
                    .on_conflict_do_nothing(index_elements=["platform", "channel"])
                )
            team = (
                await s.scalars(
                    _team_by_channel(platform, channel).execution_options(populate_existing=True)
                )
            ).one()
            if name and team.name != name:  # a renamed channel
                team.name = name
            return team

    async def teams(self, *, by_name: bool = False) -> list[TeamRow]:
        """Every team, oldest first (`by_name`: by name)."""
        order = (TeamRow.name, TeamRow.id) if by_name else (TeamRow.created_at, TeamRow.id)
        async with self._reading() as s:
            return list(await s.scalars(select(TeamRow).order_by(*order)))

    async def get_team(self, team_id: str) -> TeamRow | None:
        return (await self.get_teams([team_id])).get(team_id)

    async def get_teams(self, team_ids: Iterable[str]) -> dict[str, TeamRow]:
        async with self._reading() as s:
            rows = await s.scalars(select(TeamRow).where(TeamRow.id.in_(list(team_ids))))
            return {row.id: row for row in rows}

    async def update_team(self, team_id: str, **settings: Any) -> TeamRow:
        """Change a team's settings: name, language (nl, en, nl-BE), address (je, u),
        timezone (an IANA zone), work_days (ISO weekdays, "1,2,3,4,5" or [1, 2, ...]),
        work_start and work_end (HH:MM, end after start).

        Raises ValueError with a message a chair can act on; NotFound for an unknown team."""
        values = validate_team_settings(settings)
        async with self._writing() as s:
            team = await s.scalar(select(TeamRow).where(TeamRow.id == team_id).with_for_update())
            if team is None:
                raise NotFound(f"no team with id {team_id}")
            start = values.get("work_start", team.work_start)
            end = values.get("work_end", team.work_end)
            if end <= start:
                raise ValueError(f"work_end ({end}) must be later than work_start ({start})")
            for key, value in values.items():
                setattr(team, key, value)
            return team

    async def upsert_member(
        self,
        team_id: str,
        user: str,
        name: str,
        *,
        now: datetime,
        roles: Iterable[str] | None = None,
        known: MemberRow | None = None,
    ) -> MemberRow:
        """Add a person to a team, or update them: a new name (when given) and roles (when
        given) replace the old; someone who had left is back, joined now. A person added
        without a name is named by their user id until a name comes.

        `roles` are the EXTRA roles (chair, coordinator, ...): everyone is a member
        implicitly, so "member" is never stored. `known`: their row as the caller just
        read it (`team_and_member`), so that it is not read again."""
        extra = None if roles is None else normalise_roles(roles)
        # Every inbound event names its person: when nothing changes, a read will do and
        # no write lock is taken (on SQLite one writer at a time serves every event).
        if known is None:
            known = await self.get_member(team_id, user)
        if (
            known is not None
            and known.left_at is None
            and (not name or known.name == name)
            and (extra is None or list(known.roles) == extra)
        ):
            return known
        async with self._writing() as s:
            inserted = await s.scalar(
                self._insert(MemberRow)
                .values(
                    id=_new_id(),
                    team_id=team_id,
                    user=user,
                    name=name or user,
                    roles=extra or [],
                    joined_at=now,
                )
                .on_conflict_do_nothing(index_elements=["team_id", "user"])
                .returning(MemberRow.id)
            )
            member = await self._member_for_update(s, team_id, user)
            if inserted is None:
                if name and member.name != name:
                    member.name = name
                if extra is not None:
                    member.roles = extra
                if member.left_at is not None:
                    member.left_at = None
                    member.joined_at = now
            return member

    async def team_and_member(
        self, platform: str, channel: str, user: str
    ) -> tuple[TeamRow | None, MemberRow | None]:
        """The team of a channel and `user`'s row in it (also when they left), in one read:
        the two lookups of every inbound event. None for what does not exist yet."""
        key = (platform, channel, user)
        return (await self.teams_and_members([key]))[key]

    async def teams_and_members(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[TeamRow | None, MemberRow | None]]:
        """`team_and_member` for many (platform, channel, user) at once, in one statement:
        the inbox drain reads those of a whole batch of events together. The teams on the
        channels, each with those of its members whose user is wanted (or none)."""
        wanted = set(keys)
        if not wanted:
            return {}
        users = sorted({u for _, _, u in wanted})
        query = (
            select(TeamRow, MemberRow)
            .outerjoin(MemberRow, (MemberRow.team_id == TeamRow.id) & MemberRow.user.in_(users))
            .where(
                tuple_(TeamRow.platform, TeamRow.channel).in_(
                    sorted({(p, c) for p, c, _ in wanted})
                )
            )
        )
        async with self._reading() as s:
            rows = (await s.execute(query)).all()
        teams: dict[tuple[str, str], TeamRow] = {}
        members: dict[tuple[str, str], MemberRow] = {}
        for team, member in rows:
            teams[(team.platform, team.channel)] = team
            if member is not None:
                members[(team.id, member.user)] = member
        found: dict[tuple[str, str, str], tuple[TeamRow | None, MemberRow | None]] = {}
        for platform, channel, user in wanted:
            known = teams.get((platform, channel))
            person = members.get((known.id, user)) if known is not None else None
            found[(platform, channel, user)] = (known, person)
        return found

    async def get_member(self, team_id: str, user: str) -> MemberRow | None:
        async with self._reading() as s:
            return await s.scalar(_member(team_id, user))

    async def set_roles(self, team_id: str, user: str, roles: Iterable[str]) -> MemberRow:
        """Replace a member's extra roles (see `upsert_member`)."""
        extra = normalise_roles(roles)
        async with self._writing() as s:
            member = await self._member_for_update(s, team_id, user)
            member.roles = extra
            return member

    async def set_absent(self, team_id: str, user: str, until: date | None) -> MemberRow:
        """Mark a member away until (and including) `until`; None: back."""
        async with self._writing() as s:
            member = await self._member_for_update(s, team_id, user)
            member.absent_until = until
            return member

    async def members(self, team_id: str, *, include_left: bool = False) -> list[MemberRow]:
        """The team's members in the order they joined."""
        query = select(MemberRow).where(MemberRow.team_id == team_id)
        if not include_left:
            query = query.where(MemberRow.left_at.is_(None))
        async with self._reading() as s:
            return list(await s.scalars(query.order_by(MemberRow.joined_at, MemberRow.user)))

    async def member_left(self, team_id: str, user: str, now: datetime) -> bool:
        """Record that someone left the team; False if they were not a (current) member."""
        async with self._writing() as s:
            result = await s.execute(
                update(MemberRow)
                .where(
                    MemberRow.team_id == team_id,
                    MemberRow.user == user,
                    MemberRow.left_at.is_(None),
                )
                .values(left_at=now)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    # ------------------------------------------------------------------ inbox (R-ING)

    async def inbox_put(
        self, platform: str, event_key: str, payload: dict[str, Any], now: datetime
    ) -> int | None:
        """Store an inbound event before it is acknowledged (R-ING-3). Returns its id, or
        None when this platform event was stored before: a duplicate, to be dropped."""
        (inbox_id,) = await self.inbox_put_many([(platform, event_key, payload)], now)
        return inbox_id

    async def inbox_put_many(
        self, events: Sequence[tuple[str, str, dict[str, Any]]], now: datetime
    ) -> list[int | None]:
        """`inbox_put` for a burst of (platform, event key, payload), in one statement and
        one transaction: an id per event, None for a duplicate (of an event stored before
        or of one earlier in `events`)."""
        first: dict[tuple[str, str], int] = {}
        for n, (platform, key, _) in enumerate(events):
            first.setdefault((platform, key), n)
        if not first:
            return []
        async with self._writing() as s:
            result = await _put_events(
                self, s, [_new_event(*events[n], now) for n in first.values()]
            )
            stored = {(platform, key): id for id, platform, key in result}
        return [
            stored.get((platform, key)) if first[(platform, key)] == n else None
            for n, (platform, key, _) in enumerate(events)
        ]

    async def inbox_pending(self, limit: int = 100) -> list[InboxRow]:
        """Events not yet handled, oldest first."""
        query = select(InboxRow).where(InboxRow.status == "new").order_by(InboxRow.id).limit(limit)
        async with self._reading() as s:
            return list(await s.scalars(query))

    async def inbox_done(self, id: int, now: datetime, error: str = "") -> None:
        """Mark an event handled: done, or failed with a short reason (no message text)."""
        async with self._writing() as s:
            await s.execute(
                update(InboxRow)
                .where(InboxRow.id == id)
                .values(status="failed" if error else "done", handled_at=now, error=_short(error))
                .execution_options(synchronize_session=False)
            )

    async def purge_inbox(self, older_than: datetime) -> int:
        """Delete handled (done or failed) events received before `older_than`; returns
        how many. Unhandled events are kept whatever their age: deleting them loses work."""
        async with self._writing() as s:
            result = await s.execute(
                delete(InboxRow)
                .where(InboxRow.received_at < older_than, InboxRow.status != "new")
                .execution_options(synchronize_session=False)
            )
            count = _rowcount(result)
        log.info("purged %d inbox rows received before %s", count, older_than.isoformat())
        return count

    # ------------------------------------------------------------------ runs

    async def load_run(self, run_id: str) -> RunRow | None:
        return (await self.load_runs([run_id])).get(run_id)

    async def load_runs(self, run_ids: Iterable[str]) -> dict[str, RunRow]:
        """Several runs in one read, by id (missing ones are left out)."""
        async with self._reading() as s:
            rows = await s.scalars(select(RunRow).where(RunRow.id.in_(list(run_ids))))
            return {row.id: row for row in rows}

    async def run_threads(self, run_ids: Iterable[str]) -> dict[str, str | None]:
        """The platform threads of runs, by id (runs that do not exist are left out)."""
        query = select(RunRow.id, RunRow.thread).where(RunRow.id.in_(list(run_ids)))
        async with self._reading() as s:
            return {id: thread for id, thread in await s.execute(query)}

    async def active_runs(self, team_id: str, flow_id: str | None = None) -> list[RunRow]:
        """The team's runs that are still going, oldest first."""
        query = select(RunRow).where(RunRow.team_id == team_id, RunRow.status == ACTIVE_RUN)
        if flow_id is not None:
            query = query.where(RunRow.flow_id == flow_id)
        async with self._reading() as s:
            return list(await s.scalars(query.order_by(RunRow.created_at, RunRow.id)))

    async def create_run(self, row: RunRow) -> None:
        """Insert a new run as given; `StaleRun` if its id is taken."""
        async with self._writing() as s:
            found = await s.scalar(select(RunRow.version).where(RunRow.id == row.id))
            if found is not None:
                raise StaleRun(row.id, None, found)
            s.add(row)

    async def commit_step(self, write: StepWrite) -> None:
        """Write one step of a run atomically; see `StepWrite`. Raises `StaleRun` (and
        writes nothing) when the run is not at `write.expected_version`."""
        _check_run_fields(write)
        if write.expected_version is not None:
            await self.commit_steps([write])  # every step of a run that exists: one path
            return
        async with self._writing() as s:
            team_id = await self._insert_run(s, write)
            await self._apply_steps(s, [write], {write.run_id: team_id}, write.now)

    async def commit_steps(self, writes: Sequence[StepWrite]) -> None:
        """Write steps of several existing runs in ONE transaction (group commit): all of
        them or, when any run is not at its `expected_version` (`StaleRun`), none.

        Each write means what it means for `commit_step`; one write per run. The rows are
        written with one statement per kind for all the steps together, so a burst of
        bells costs a handful of round trips instead of some twenty per bell (P4 in
        docs/performance.md). `now` is the first write's."""
        if not writes:
            return
        ids = [w.run_id for w in writes]
        if len(set(ids)) != len(ids):
            raise ValueError("commit_steps takes one step per run")
        for write in writes:
            _check_run_fields(write)
            if write.expected_version is None:
                raise ValueError(f"run {write.run_id}: commit_steps only moves existing runs")
            if write.run.get("version", write.expected_version + 1) <= write.expected_version:
                raise ValueError(f"run {write.run_id}: the new version must be higher")
        now = writes[0].now
        async with self._writing() as s:
            # PostgreSQL: the rows locked to the end; SQLite: the write lock is held already.
            found = {
                row.id: row
                for row in await s.execute(
                    select(RunRow.id, RunRow.version, RunRow.team_id)
                    .where(RunRow.id.in_(ids))
                    .with_for_update()
                )
            }
            for write in writes:
                at = found.get(write.run_id)
                if at is None or at.version != write.expected_version:
                    raise StaleRun(
                        write.run_id, write.expected_version, None if at is None else at.version
                    )
            # An UPDATE by primary key per run (the ORM groups runs that write the same fields).
            await s.execute(
                update(RunRow),
                [
                    {
                        **w.run,
                        "id": w.run_id,
                        "version": w.run.get("version", cast(int, w.expected_version) + 1),
                        "updated_at": now,
                    }
                    for w in writes
                ],
            )
            teams = {w.run_id: str(w.run.get("team_id", found[w.run_id].team_id)) for w in writes}
            await self._apply_steps(s, writes, teams, now)

    async def _apply_steps(
        self,
        s: AsyncSession,
        writes: Sequence[StepWrite],
        team_of_run: Mapping[str, str],
        now: datetime,
    ) -> None:
        """Everything of `writes` but the run rows, one statement per kind of row."""
        answers = [
            full_row(AnswerRow, a, {"run_id": w.run_id, "answered_at": now})
            for w in writes
            for a in w.answers
        ]
        if answers:
            upsert = self._insert(AnswerRow)
            await s.execute(
                upsert.on_conflict_do_update(
                    index_elements=["run_id", "step", "question", "member"],
                    set_={
                        "kind": upsert.excluded.kind,
                        "value": upsert.excluded.value,
                        "answered_at": upsert.excluded.answered_at,
                    },
                ),
                answers,
            )
        # Cancel before inserting: a step may cancel a timer and set it again.
        cancels = [(w.run_id, t) for w in writes for t in w.timers_cancel]
        if cancels:
            await s.execute(
                update(TimerRow)
                .where(
                    tuple_(TimerRow.run_id, TimerRow.timer).in_(cancels),
                    TimerRow.status == "pending",
                )
                .values(status="cancelled", handled_at=now)
                .execution_options(synchronize_session=False)
            )
        new_timers = [
            full_row(TimerRow, t, {"run_id": w.run_id}) for w in writes for t in w.timers_new
        ]
        await self._insert_new(s, TimerRow, new_timers)
        outbox = [
            full_row(
                OutboxRow,
                o,
                {
                    "run_id": w.run_id,
                    "team_id": team_of_run[w.run_id],
                    "created_at": now,
                    "not_before": now,
                },
            )
            for w in writes
            for o in w.outbox
        ]
        await self._insert_new(s, OutboxRow, outbox)
        await _mark_handled(s, [w.inbox_id for w in writes if w.inbox_id is not None], now)
        for write in writes:
            for access in write.access:
                await append_access(s, access, now)

    async def commit_messages(
        self,
        *,
        outbox: Sequence[Mapping[str, Any]] = (),
        timers_new: Sequence[Mapping[str, Any]] = (),
        inbox_id: int | None = None,
        now: datetime,
    ) -> None:
        """Messages and timers that belong to no run step (replies to `/samen ...`, the
        start timers of a planned visit), written with their inbox row marked done in one
        transaction, so a crash never answers a command twice or loses it."""
        await self.commit_messages_many(
            [Messages(outbox=outbox, timers_new=timers_new, inbox_id=inbox_id)], now=now
        )

    async def commit_messages_many(self, writes: Sequence[Messages], *, now: datetime) -> None:
        """`commit_messages` for several events at once (replies to a burst of commands):
        all of them in one transaction, one statement per kind of row."""
        timers = [full_row(TimerRow, t, {"run_id": None}) for w in writes for t in w.timers_new]
        outbox = [
            full_row(OutboxRow, o, {"run_id": None, "created_at": now, "not_before": now})
            for w in writes
            for o in w.outbox
        ]
        inbox = [w.inbox_id for w in writes if w.inbox_id is not None]
        if not (timers or outbox or inbox):
            return
        async with self._writing() as s:
            await self._insert_new(s, TimerRow, timers)
            await self._insert_new(s, OutboxRow, outbox)
            await _mark_handled(s, inbox, now)

    async def original_destination(self, run_id: str, msg_key: str) -> str | None:
        """Where the message first sent under `msg_key` went (edits go to the same chat)."""
        async with self._reading() as s:
            found = await s.scalar(
                select(OutboxRow.destination)
                .where(
                    OutboxRow.run_id == run_id, OutboxRow.msg_key == msg_key, OutboxRow.op == "send"
                )
                .order_by(OutboxRow.id)
                .limit(1)
            )
            return str(found) if found is not None else None

    async def add_trajectory(
        self, team_id: str, client_ref: str, owner: str, started_on: date, *, now: datetime
    ) -> TrajectoryRow | None:
        """Register a treatment under a pseudonym; None when the team already has that
        reference (a second registration must not silently replace the first)."""
        new_id = _new_id()
        async with self._writing() as s:
            await s.execute(
                self._insert(TrajectoryRow)
                .values(
                    id=new_id,
                    team_id=team_id,
                    client_ref=client_ref,
                    owner=owner,
                    started_on=started_on,
                    status="open",
                    policy={},
                    sessions=0,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["team_id", "client_ref"])
            )
        return await self.get_trajectory(new_id)

    async def get_trajectory(self, trajectory_id: str) -> TrajectoryRow | None:
        async with self._reading() as s:
            return await s.get(TrajectoryRow, trajectory_id)

    async def get_event(self, event_id: str) -> EventRow | None:
        async with self._reading() as s:
            return await s.get(EventRow, event_id)

    # ------------------------------------------------------------------ timers (R-SCH)

    async def pending_timers(
        self,
        *,
        due_before: datetime | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[TimerRow]:
        """Pending timers, soonest first; with `due_before`, only those due at or before it;
        with `after_id`, only rows inserted after that one."""
        query = (
            select(TimerRow)
            .where(*_pending(due_before, after_id))
            .order_by(TimerRow.due_at, TimerRow.id)
            .limit(limit)
        )
        async with self._reading() as s:
            return list(await s.scalars(query))

    async def pending_due(
        self, *, due_before: datetime, after_id: int | None = None
    ) -> list[tuple[int, datetime]]:
        """(id, due time) of the pending timers due at or before `due_before`; with
        `after_id`, only rows inserted after that one. What arming needs and no more: a
        full arming reads every timer of the coming minutes, a thousand in a busy hour."""
        query = (
            select(TimerRow.id, TimerRow.due_at)
            .where(*_pending(due_before, after_id))
            .order_by(TimerRow.due_at, TimerRow.id)
        )
        async with self._reading() as s:
            return [(id, due_at) for id, due_at in await s.execute(query)]

    async def get_timer(self, id: int) -> TimerRow | None:
        async with self._reading() as s:
            return await s.get(TimerRow, id)

    async def hand_over(self, timers: Sequence[HandOver], now: datetime) -> set[int]:
        """Claim due timers and put their inbox events, in ONE transaction; return the ids
        claimed. A timer no longer pending (handed over by another sweep or process, or
        cancelled) is not claimed and gets no inbox event; a crash writes nothing, so the
        next sweep simply tries again (R-SCH-1, -6, -7). One statement per outcome and
        one insert for all the events: a burst of due timers costs a few round trips."""
        for item in timers:
            if item.status not in TIMER_OUTCOMES:
                raise ValueError(
                    f"a timer is claimed as one of {', '.join(TIMER_OUTCOMES)}, not {item.status!r}"
                )
        if not timers:
            return set()
        by_outcome: dict[tuple[str, str], list[int]] = {}
        for item in timers:
            by_outcome.setdefault((item.status, _short(item.note)), []).append(item.timer_row)
        claimed: set[int] = set()
        async with self._writing() as s:
            for (status, note), ids in by_outcome.items():
                result = await s.execute(
                    update(TimerRow)
                    .where(TimerRow.id.in_(ids), TimerRow.status == "pending")
                    .values(
                        status=status, handled_at=now, note=note, attempts=TimerRow.attempts + 1
                    )
                    .returning(TimerRow.id)
                    .execution_options(synchronize_session=False)
                )
                claimed.update(result.scalars())
            events = [
                _new_event("timer", f"timer:{item.timer_row}", item.payload, now)
                for item in timers
                if item.timer_row in claimed
            ]
            if events:
                await _put_events(self, s, events)
        return claimed

    async def reschedule_timer(self, id: int, due_at: datetime, note: str = "") -> bool:
        """Move a pending timer to `due_at` (catch-up: shifted out of quiet hours). False
        when it is no longer pending."""
        async with self._writing() as s:
            result = await s.execute(
                update(TimerRow)
                .where(TimerRow.id == id, TimerRow.status == "pending")
                .values(due_at=due_at, note=_short(note))
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    async def cancel_run_timers(self, run_id: str, now: datetime) -> int:
        """Cancel every pending timer of a run in one transaction (R-SCH-9); returns how many."""
        async with self._writing() as s:
            result = await s.execute(
                update(TimerRow)
                .where(TimerRow.run_id == run_id, TimerRow.status == "pending")
                .values(status="cancelled", handled_at=now)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result)

    async def next_due(self) -> datetime | None:
        """When the soonest pending timer is due."""
        async with self._reading() as s:
            return await s.scalar(
                select(func.min(TimerRow.due_at)).where(TimerRow.status == "pending")
            )

    async def oldest_overdue(self, now: datetime) -> datetime | None:
        """The due time of the oldest pending timer that is past due at `now`."""
        async with self._reading() as s:
            return await s.scalar(
                select(func.min(TimerRow.due_at)).where(
                    TimerRow.status == "pending", TimerRow.due_at < now
                )
            )

    async def count_timers(self, status: str) -> int:
        async with self._reading() as s:
            return (
                await s.scalar(
                    select(func.count()).select_from(TimerRow).where(TimerRow.status == status)
                )
                or 0
            )

    # ------------------------------------------------------------------ outbox (R-OUT)

    async def outbox_due(
        self, now: datetime, limit: int = 200, skip: Collection[tuple[str, str]] = ()
    ) -> list[QueuedMessage]:
        """Pending messages that may go out at `now`: by priority (bells first), then in the
        order they were written; none of the conversations (platform, destination) in
        `skip` (the worker knows none of theirs may go yet)."""
        query = (
            select(OutboxRow)
            .where(OutboxRow.status == "pending", OutboxRow.not_before <= now)
            .order_by(OutboxRow.priority, OutboxRow.id)
            .limit(limit)
        )
        if skip:
            query = query.where(
                tuple_(OutboxRow.platform, OutboxRow.destination).not_in(sorted(skip))
            )
        async with self._reading() as s:
            rows = await s.scalars(query)
            return [
                QueuedMessage(**{f.name: getattr(row, f.name) for f in fields(QueuedMessage)})
                for row in rows
            ]

    async def outbox_sent_many(
        self,
        sent: Sequence[tuple[int, datetime, str | None]],
        threads: Mapping[str, str] | None = None,
    ) -> None:
        """Mark messages delivered - (id, when, the platform's id for it) each - and give
        runs the platform thread their first message opened, in one transaction. A row
        no longer pending and a run that has a thread already are left as they are."""
        async with self._writing() as s:
            if sent:  # an UPDATE by primary key per message, still pending
                await s.execute(
                    update(OutboxRow)
                    .where(OutboxRow.status == "pending")
                    .execution_options(synchronize_session=False),
                    [
                        {"id": i, "status": "sent", "sent_at": at, "platform_ref": ref}
                        for i, at, ref in sent
                    ],
                )
            if threads:
                await s.execute(
                    update(RunRow)
                    .where(RunRow.thread.is_(None))
                    .execution_options(synchronize_session=False),
                    [{"id": r, "thread": t} for r, t in threads.items()],
                )

    async def outbox_retry(self, id: int, not_before: datetime, error: str) -> bool:
        """Count a failed attempt and hold the message until `not_before`."""
        return await self._outbox_transition(
            id, not_before=not_before, error=_short(error), attempts=OutboxRow.attempts + 1
        )

    async def outbox_failed(self, id: int, error: str) -> bool:
        """Give up on a message: the last attempt failed and no retries are left (R-OUT-3)."""
        return await self._outbox_transition(
            id, status="failed", error=_short(error), attempts=OutboxRow.attempts + 1
        )

    async def outbox_drop(self, id: int, now: datetime, refused: str | None = None) -> bool:
        """Remove a pending delete row (op "delete", queued by `samen forget`) when it is
        done: the platform deleted the message or had it no more (`refused` None), or will
        not delete it, or the attempts ran out (`refused`: the reason code). The row names
        the person's chat, so it goes either way; a refusal is recorded in the access log
        (the platform and the reason code, under the forgotten person's placeholder), so
        that an erasure the platform did not complete shows. False if the row was not a
        pending delete (another worker settled it)."""
        async with self._writing() as s:
            row = await s.scalar(
                select(OutboxRow).where(
                    OutboxRow.id == id, OutboxRow.op == "delete", OutboxRow.status == "pending"
                )
            )
            if row is None:
                return False
            platform, subject = row.platform, str(row.message.get("for") or "unknown")
            result = await s.execute(
                delete(OutboxRow)
                .where(OutboxRow.id == id, OutboxRow.status == "pending")
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) != 1:
                return False
            if refused is not None:
                what = f"platform message not deleted on {platform}: {_short(refused)}"
                await append_access(s, Access("erase", what, f"person:{subject}", "outbox"), now)
            return True

    async def message_ref(self, run_id: str, msg_key: str) -> str | None:
        """The platform's id of the message a run sent under `msg_key` (for edits)."""
        async with self._reading() as s:
            return await s.scalar(
                select(OutboxRow.platform_ref)
                .where(
                    OutboxRow.run_id == run_id,
                    OutboxRow.msg_key == msg_key,
                    OutboxRow.op == "send",
                    OutboxRow.status == "sent",
                )
                .order_by(OutboxRow.id.desc())
                .limit(1)
            )

    async def outbox_backlog(self) -> int:
        """Messages still to deliver, due now or later."""
        return await self._count(OutboxRow, OutboxRow.status == "pending")

    # ------------------------------------------------------------------ events

    async def add_event(
        self,
        team_id: str,
        kind: str,
        at: datetime,
        *,
        label: str = "",
        created_by: str | None = None,
        participants: Sequence[str] = (),
        now: datetime,
    ) -> EventRow:
        """Register a visit, MDO or meeting. `label` must never hold a client's name;
        `participants` (member ids) take part in the flows it starts."""
        event = EventRow(
            id=_new_id(),
            team_id=team_id,
            kind=kind,
            at=at,
            label=label,
            created_by=created_by,
            created_at=now,
            participants=" ".join(participants),
        )
        async with self._writing() as s:
            s.add(event)
        return event

    async def event_start_timers(self, event_id: str) -> list[TimerRow]:
        """The pending timers that will start a flow for this event (`start:<flow>:<id>:...`),
        soonest first."""
        async with self._reading() as s:
            rows = await s.scalars(
                select(TimerRow)
                .where(
                    TimerRow.run_id.is_(None),
                    TimerRow.status == "pending",
                    TimerRow.timer.like(f"start:%:{event_id}:%"),
                )
                .order_by(TimerRow.due_at, TimerRow.id)
            )
            return list(rows)

    async def move_event(self, event_id: str, at: datetime) -> EventRow | None:
        """Give an event a new moment; None when there is no such event. The caller moves
        its start timers (their offsets depend on the flows)."""
        async with self._writing() as s:
            event = await s.get(EventRow, event_id)
            if event is None:
                return None
            event.at = at
            return event

    async def cancel_event(self, event_id: str, now: datetime) -> int:
        """Remove an event and cancel the flows it would still start, in one transaction;
        returns how many starts were cancelled (-1 when there is no such event)."""
        async with self._writing() as s:
            event = await s.get(EventRow, event_id)
            if event is None:
                return -1
            result = await s.execute(
                update(TimerRow)
                .where(
                    TimerRow.run_id.is_(None),
                    TimerRow.status == "pending",
                    TimerRow.timer.like(f"start:%:{event_id}:%"),
                )
                .values(status="cancelled", handled_at=now)
                .execution_options(synchronize_session=False)
            )
            await s.delete(event)
            return _rowcount(result)

    async def events(self, team_id: str, *, after: datetime | None = None) -> list[EventRow]:
        """The team's events in time order; with `after`, only those later than it."""
        query = select(EventRow).where(EventRow.team_id == team_id)
        if after is not None:
            query = query.where(EventRow.at > after)
        async with self._reading() as s:
            return list(await s.scalars(query.order_by(EventRow.at, EventRow.id)))

    # ------------------------------------------------------------------ one person's view

    async def teams_of(self, platform: str, user: str) -> list[TeamRow]:
        """The teams `user` is a member of on `platform` (not those they left), oldest first."""
        query = (
            select(TeamRow)
            .join(MemberRow, MemberRow.team_id == TeamRow.id)
            .where(
                TeamRow.platform == platform,
                MemberRow.user == user,
                MemberRow.left_at.is_(None),
            )
            .order_by(TeamRow.created_at, TeamRow.id)
        )
        async with self._reading() as s:
            return list(await s.scalars(query))

    async def open_trajectories(self, team_id: str, owner: str) -> list[TrajectoryRow]:
        """The team's open trajectories `owner` registered, by their reference."""
        query = (
            select(TrajectoryRow)
            .where(
                TrajectoryRow.team_id == team_id,
                TrajectoryRow.owner == owner,
                TrajectoryRow.status == "open",
            )
            .order_by(TrajectoryRow.client_ref)
        )
        async with self._reading() as s:
            return list(await s.scalars(query))

    async def pending_timers_of_kind(self, kind: str, *, limit: int = 1000) -> list[TimerRow]:
        """Pending timers of one kind ("evaluation", ...), soonest first."""
        query = (
            select(TimerRow)
            .where(TimerRow.status == "pending", TimerRow.kind == kind)
            .order_by(TimerRow.due_at, TimerRow.id)
            .limit(limit)
        )
        async with self._reading() as s:
            return list(await s.scalars(query))

    async def set_timezones(self, platform: str, zones: Mapping[str, str]) -> set[str]:
        """Each person's own zone (`zones`: user id -> IANA name, checked by the caller) on
        their member rows in every team on `platform` they belong to, in one transaction;
        returns the users in such a team (the others are not stored: the caller may try
        again later). A row that already holds the zone is not written."""
        if not zones:
            return set()
        # EXISTS, not `team_id IN (teams on the platform)`: the planner then finds the
        # person's rows by ix_members_user instead of probing every team on the platform.
        on_platform = (
            select(TeamRow.id)
            .where(TeamRow.id == MemberRow.team_id, TeamRow.platform == platform)
            .exists()
        )
        async with self._writing() as s:
            found = set(
                await s.scalars(
                    select(MemberRow.user)
                    .where(
                        MemberRow.user.in_(list(zones)), on_platform, MemberRow.left_at.is_(None)
                    )
                    .distinct()
                )
            )
            by_zone: dict[str, list[str]] = {}
            for user in sorted(found):
                by_zone.setdefault(zones[user], []).append(user)
            for zone, users in by_zone.items():  # one UPDATE per zone: people share a few
                await s.execute(
                    update(MemberRow)
                    .where(
                        MemberRow.user.in_(users),
                        on_platform,
                        MemberRow.left_at.is_(None),
                        MemberRow.timezone.is_(None) | (MemberRow.timezone != zone),
                    )
                    .values(timezone=zone)
                    .execution_options(synchronize_session=False)
                )
        return found

    # ------------------------------------------------------------------ operations

    async def status(self, now: datetime) -> dict[str, Any]:
        """What `samen status` shows (R-OPS-2): timers, backlogs and failures."""
        async with self._reading() as s:
            pending = TimerRow.status == "pending"
            return {
                "timers_pending": await _count_in(s, TimerRow, pending),
                "next_due": await s.scalar(select(func.min(TimerRow.due_at)).where(pending)),
                "oldest_overdue": await s.scalar(
                    select(func.min(TimerRow.due_at)).where(pending, TimerRow.due_at < now)
                ),
                "inbox_backlog": await _count_in(s, InboxRow, InboxRow.status == "new"),
                "outbox_backlog": await _count_in(s, OutboxRow, OutboxRow.status == "pending"),
                "outbox_failed": await _count_in(s, OutboxRow, OutboxRow.status == "failed"),
            }

    # ------------------------------------------------------------------ adapter state

    async def save_callback_tokens(
        self, platform: str, tokens: Mapping[str, str], now: datetime
    ) -> None:
        """Remember what short callback tokens stand for (a token's data never changes)."""
        if not tokens:
            return
        async with self._writing() as s:
            await s.execute(
                self._insert(CallbackTokenRow).on_conflict_do_nothing(
                    index_elements=["platform", "token"]
                ),
                [
                    {"platform": platform, "token": t, "data": d, "created_at": now}
                    for t, d in tokens.items()
                ],
            )

    async def callback_tokens(self, platform: str, tokens: Iterable[str]) -> dict[str, str]:
        """The data of those `tokens` that are known (unknown ones are left out)."""
        wanted = sorted(set(tokens))
        if not wanted:
            return {}
        async with self._reading() as s:
            rows = await s.execute(
                select(CallbackTokenRow.token, CallbackTokenRow.data).where(
                    CallbackTokenRow.platform == platform, CallbackTokenRow.token.in_(wanted)
                )
            )
            return {token: data for token, data in rows}

    async def save_reply_prompt(
        self,
        platform: str,
        message: str,
        prompt: tuple[str, list[Any]] | None,
        now: datetime,
    ) -> None:
        """What a reply to `message` answers: (run id, its free questions as JSON); None
        forgets it (the form closed)."""
        async with self._writing() as s:
            await s.execute(
                delete(ReplyPromptRow).where(
                    ReplyPromptRow.platform == platform, ReplyPromptRow.message == message
                )
            )
            if prompt is not None:
                run_id, questions = prompt
                s.add(
                    ReplyPromptRow(
                        platform=platform,
                        message=message,
                        run_id=run_id,
                        questions=questions,
                        created_at=now,
                    )
                )

    async def reply_prompt(self, platform: str, message: str) -> tuple[str, list[Any]] | None:
        """(run id, free questions) of a form message, or None."""
        async with self._reading() as s:
            row = await s.get(ReplyPromptRow, (platform, message))
            return (row.run_id, list(row.questions)) if row is not None else None

    async def set_private_chat(self, platform: str, user: str, state: str, now: datetime) -> None:
        """Record whether the bot may write to `user` privately: "open" or "blocked"."""
        if state not in ("open", "blocked"):
            raise ValueError("a private chat is 'open' or 'blocked'")
        async with self._writing() as s:
            await s.execute(
                self._insert(PrivateChatRow)
                .values(platform=platform, user=user, state=state, updated_at=now)
                .on_conflict_do_update(
                    index_elements=["platform", "user"],
                    set_={"state": state, "updated_at": now},
                )
            )

    async def private_chat(self, platform: str, user: str) -> str | None:
        """ "open", "blocked", or None when the bot never tried or heard."""
        async with self._reading() as s:
            row = await s.get(PrivateChatRow, (platform, user))
            return row.state if row is not None else None

    async def start_link_for(
        self, platform: str, team_id: str, user: str, now: datetime
    ) -> tuple[str, bool]:
        """The open deep-link token of `user` in a team: (token, True) when it is new and
        should be posted, (token, False) when one is already waiting to be pressed."""
        async with self._writing() as s:
            token = await s.scalar(
                select(StartLinkRow.token)
                .where(
                    StartLinkRow.platform == platform,
                    StartLinkRow.team_id == team_id,
                    StartLinkRow.user == user,
                    StartLinkRow.used_at.is_(None),
                )
                .order_by(StartLinkRow.created_at)
                .limit(1)
            )
            if token is not None:
                return token, False
            token = uuid.uuid4().hex
            s.add(
                StartLinkRow(
                    token=token, platform=platform, team_id=team_id, user=user, created_at=now
                )
            )
            return token, True

    async def use_start_links(self, platform: str, user: str, now: datetime) -> int:
        """`user` pressed Start: every open link of theirs is used. Returns how many."""
        async with self._writing() as s:
            result = await s.execute(
                update(StartLinkRow)
                .where(
                    StartLinkRow.platform == platform,
                    StartLinkRow.user == user,
                    StartLinkRow.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result)

    async def start_link(self, token: str) -> StartLinkRow | None:
        async with self._reading() as s:
            return await s.get(StartLinkRow, token)

    async def outbox_wait_for_start(self, id: int, error: str) -> bool:
        """Park a pending message to a person who has not started the bot: it is not
        retried, and waits until `outbox_release` (R-OUT: no retries burnt on it)."""
        return await self._outbox_transition(id, status="waiting", error=_short(error))

    async def outbox_release(self, platform: str, destination: str, now: datetime) -> int:
        """The messages parked for `destination` are pending again, due now (in their
        original order: the outbox sends a conversation by id)."""
        async with self._writing() as s:
            result = await s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.platform == platform,
                    OutboxRow.destination == destination,
                    OutboxRow.status == "waiting",
                )
                .values(status="pending", not_before=now, error="")
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result)

    async def pinned_message(self, platform: str, chat: str, run_id: str) -> str | None:
        """The platform ref of the status message `run_id` keeps pinned in `chat`."""
        async with self._reading() as s:
            row = await s.get(PinnedMessageRow, (platform, chat, run_id))
            return row.message_ref if row is not None else None

    async def set_pinned_message(
        self, platform: str, chat: str, run_id: str, message_ref: str, now: datetime
    ) -> None:
        async with self._writing() as s:
            await s.execute(
                self._insert(PinnedMessageRow)
                .values(
                    platform=platform,
                    chat=chat,
                    run_id=run_id,
                    message_ref=message_ref,
                    created_at=now,
                )
                .on_conflict_do_update(
                    index_elements=["platform", "chat", "run_id"],
                    set_={"message_ref": message_ref},
                )
            )

    async def move_channel(self, platform: str, old: str, new: str) -> bool:
        """A group got a new id (Telegram: upgraded to a supergroup): the team follows,
        and so do messages still waiting for it. False when no team had `old`."""
        async with self._writing() as s:
            result = await s.execute(
                update(TeamRow)
                .where(TeamRow.platform == platform, TeamRow.channel == old)
                .values(channel=new)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) != 1:
                return False
            await s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.platform == platform,
                    OutboxRow.destination == old,
                    OutboxRow.status.in_(("pending", "waiting")),
                )
                .values(destination=new)
                .execution_options(synchronize_session=False)
            )
            return True

    # ------------------------------------------------------------------ internals

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        """A read transaction: one snapshot for every statement in the block."""
        async with self._reads() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        async with self._writes() as session, session.begin():
            yield session

    def _insert(self, model: type[Base]) -> Any:
        """INSERT with ON CONFLICT support for this backend (both spell it the same)."""
        if self._dialect == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    async def _insert_new(
        self,
        s: AsyncSession,
        model: type[TimerRow] | type[OutboxRow],
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert timer or outbox rows; one whose idempotency key is known is skipped."""
        if rows:
            await s.execute(
                self._insert(model).on_conflict_do_nothing(index_elements=["idempotency_key"]),
                rows,
            )

    async def _count(self, model: type[Base], *where: Any) -> int:
        async with self._reading() as s:
            return await _count_in(s, model, *where)

    async def _outbox_transition(self, id: int, **values: Any) -> bool:
        # Compare-and-set from pending: a row another worker already settled stays as it is.
        async with self._writing() as s:
            result = await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == id, OutboxRow.status == "pending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    async def _member_for_update(self, s: AsyncSession, team_id: str, user: str) -> MemberRow:
        member = await s.scalar(
            _member(team_id, user).with_for_update().execution_options(populate_existing=True)
        )
        if member is None:
            raise NotFound(f"no member {user} in team {team_id}")
        return member

    async def _insert_run(self, s: AsyncSession, write: StepWrite) -> str:
        missing = {"team_id", "flow_id", "status", "state"} - set(write.run)
        if missing:
            raise ValueError(f"a new run needs {', '.join(sorted(missing))}")
        inserted = await s.scalar(
            self._insert(RunRow)
            .values(
                id=write.run_id,
                **{"version": 0, **write.run},
                created_at=write.now,
                updated_at=write.now,
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(RunRow.id)
        )
        if inserted is None:
            raise StaleRun(write.run_id, None, await lock_run(s, write.run_id))
        return str(write.run["team_id"])


async def lock_run(session: AsyncSession, run_id: str) -> int | None:
    """Lock a run's row for the rest of `session`'s transaction and return its version
    (None if there is no such run). On PostgreSQL this is `SELECT ... FOR UPDATE`; on
    SQLite the store's write transactions already hold the database's write lock."""
    return await session.scalar(select(RunRow.version).where(RunRow.id == run_id).with_for_update())


def validate_team_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Check team settings and return them normalised; ValueError names what is wrong."""
    unknown = set(settings) - set(TEAM_SETTINGS)
    if unknown:
        raise ValueError(
            f"unknown team setting(s): {', '.join(sorted(unknown))}; "
            f"known are {', '.join(TEAM_SETTINGS)}"
        )
    values: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "name":
            values[key] = str(value).strip()[:200]
        elif key == "language":
            if value not in LANGUAGES:
                raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {value!r}")
            values[key] = value
        elif key == "address":
            if value not in ADDRESSES:
                raise ValueError(f"address must be 'je' (informal) or 'u' (formal), not {value!r}")
            values[key] = value
        elif key == "timezone":
            values[key] = _valid_zone(value)
        elif key == "work_days":
            values[key] = _valid_days(value)
        else:  # work_start, work_end
            if not isinstance(value, str) or not _TIME.match(value):
                raise ValueError(f"{key} must be a time as HH:MM (e.g. 08:30), not {value!r}")
            values[key] = value
    return values


def normalise_roles(roles: Iterable[str]) -> list[str]:
    """Extra roles, sorted and without duplicates; "member" is implicit and dropped."""
    result = set()
    for role in roles:
        name = str(role).strip().lower()
        if not _ROLE.match(name):
            raise ValueError(f"a role is a short lowercase word (e.g. chair), not {role!r}")
        if name != "member":
            result.add(name)
    return sorted(result)


def _valid_zone(value: Any) -> str:
    if isinstance(value, str) and value and value == value.strip():
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return value
    raise ValueError(
        f"timezone must be an IANA time zone such as Europe/Amsterdam or "
        f"Europe/Brussels, not {value!r}"
    )


def _valid_days(value: Any) -> str:
    problem = (
        f"work_days must be ISO weekdays 1 (Monday) to 7 (Sunday), e.g. '1,2,3,4,5', not {value!r}"
    )
    parts = value.split(",") if isinstance(value, str) else value
    try:
        days = sorted({int(str(part).strip()) for part in parts})
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if not days or days[0] < 1 or days[-1] > 7:
        raise ValueError(problem)
    return ",".join(str(day) for day in days)


def _check_run_fields(write: StepWrite) -> None:
    unknown = set(write.run) - set(RUN_FIELDS)
    if unknown:
        raise ValueError(f"not run fields: {', '.join(sorted(unknown))}")


async def _mark_handled(s: AsyncSession, inbox_ids: Sequence[int], now: datetime) -> None:
    """The inbox rows a transaction answered: done."""
    if inbox_ids:
        await s.execute(
            update(InboxRow)
            .where(InboxRow.id.in_(list(inbox_ids)))
            .values(status="done", handled_at=now, error="")
            .execution_options(synchronize_session=False)
        )


async def _put_events(store: Store, s: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> Any:
    """Insert new inbox rows, skipping known (platform, event key): the rows stored, as
    (id, platform, event key)."""
    return await s.execute(
        store._insert(InboxRow)
        .on_conflict_do_nothing(index_elements=["platform", "event_key"])
        .returning(InboxRow.id, InboxRow.platform, InboxRow.event_key),
        rows,
    )


def _pending(due_before: datetime | None, after_id: int | None) -> list[Any]:
    """Pending timers, due at or before `due_before` and inserted after `after_id`."""
    where: list[Any] = [TimerRow.status == "pending"]
    if due_before is not None:
        where.append(TimerRow.due_at <= due_before)
    if after_id is not None:
        where.append(TimerRow.id > after_id)
    return where


def _new_event(
    platform: str, key: str, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """An inbox row as it is first stored: new, unhandled."""
    return {
        "platform": platform,
        "event_key": key,
        "payload": dict(payload),
        "status": "new",
        "received_at": now,
        "error": "",
    }


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


def _team_by_channel(platform: str, channel: str) -> Select[TeamRow]:
    return select(TeamRow).where(TeamRow.platform == platform, TeamRow.channel == channel)


def _member(team_id: str, user: str) -> Select[MemberRow]:
    return select(MemberRow).where(MemberRow.team_id == team_id, MemberRow.user == user)


async def _count_in(s: AsyncSession, model: type[Base], *where: Any) -> int:
    return await s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _short(text: str) -> str:
    return " ".join(text.split())[:ERROR_MAX]


def _new_id() -> str:
    return uuid.uuid4().hex
