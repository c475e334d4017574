"""The runs and answers repository: runs of flows, and every write of a step.

A step of a run - its new state, answers, outgoing messages, new and cancelled timers,
the inbox row it consumed and its access-log entries - is written by `commit_step` in
ONE transaction, or not at all; `commit_steps` writes the steps of several runs in one
transaction (group commit), one statement per kind of row. Runs are guarded by a version
(optimistic concurrency): a write that expected an older version raises `StaleRun` and
changes nothing, so a double click, a Slack retry or a second process never applies the
same step twice (R-ING-1, -5, -6). On PostgreSQL the run rows are also locked (`SELECT
... FOR UPDATE`) for the length of the step. `commit_messages` writes what answers an
event outside any run (a reply to `/samen ...`) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.access_log import Access
from bot.store.access_log import append as append_access
from bot.store.database import Repository, full_row
from bot.store.inbox import mark_handled
from bot.store.outbox import insert_messages
from bot.store.sealed import bind_row
from bot.store.tables import AnswerRow, OutboxRow, RunRow, TimerRow
from bot.store.timers import insert_timers

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
    # Upsert on (run_id, step, question, member); `member` is the person's platform id,
    # stored as its keyed pseudonym (bot/store/pseudonyms.py).
    answers: Sequence[Mapping[str, Any]] = ()
    outbox: Sequence[Mapping[str, Any]] = ()  # insert; a known idempotency_key is skipped
    timers_new: Sequence[Mapping[str, Any]] = ()  # insert; a known idempotency_key is skipped
    timers_cancel: Sequence[str] = ()  # engine timer ids of this run; pending -> cancelled
    inbox_id: int | None = None  # the inbox row this step consumed: marked done
    now: datetime
    access: Sequence[Access] = ()  # access-log entries (summaries shown), same transaction


class RunRepository(Repository):
    """Runs, their answers, and the writes of their steps."""

    async def load_run(self, run_id: str) -> RunRow | None:
        return (await self.load_runs([run_id])).get(run_id)

    async def load_runs(self, run_ids: Iterable[str]) -> dict[str, RunRow]:
        """Several runs in one read, by id (missing ones are left out)."""
        async with self.db.reading() as s:
            rows = await s.scalars(select(RunRow).where(RunRow.id.in_(list(run_ids))))
            return {row.id: row for row in rows}

    async def run_threads(self, run_ids: Iterable[str]) -> dict[str, str | None]:
        """The platform threads of runs, by id (runs that do not exist are left out)."""
        query = select(RunRow.id, RunRow.thread).where(RunRow.id.in_(list(run_ids)))
        async with self.db.reading() as s:
            return {id: thread for id, thread in await s.execute(query)}

    async def active_runs(self, team_id: str, flow_id: str | None = None) -> list[RunRow]:
        """The team's runs that are still going, oldest first."""
        query = select(RunRow).where(RunRow.team_id == team_id, RunRow.status == ACTIVE_RUN)
        if flow_id is not None:
            query = query.where(RunRow.flow_id == flow_id)
        async with self.db.reading() as s:
            return list(await s.scalars(query.order_by(RunRow.created_at, RunRow.id)))

    async def create_run(self, row: RunRow) -> None:
        """Insert a new run as given; `StaleRun` if its id is taken."""
        async with self.db.writing() as s:
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
        async with self.db.writing() as s:
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
        async with self.db.writing() as s:
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
                    bind_row(
                        RunRow,
                        {
                            **w.run,
                            "id": w.run_id,
                            "version": w.run.get("version", cast(int, w.expected_version) + 1),
                            "updated_at": now,
                        },
                    )
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
        # Answers are stored by the person's pseudonym, never their platform id.
        audit = self.db.audit
        writes = [
            replace(w, answers=[{**a, "member": audit.pseudonym(a["member"])} for a in w.answers])
            for w in writes
        ]
        answers = [
            bind_row(
                AnswerRow,
                full_row(AnswerRow, a, {"run_id": w.run_id, "answered_at": now}),
                insert=True,
            )
            for w in writes
            for a in w.answers
        ]
        if answers:
            upsert = self.db.insert(AnswerRow)
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
        await insert_timers(self.db, s, new_timers)
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
        await insert_messages(self.db, s, outbox)
        await mark_handled(s, [w.inbox_id for w in writes if w.inbox_id is not None], now)
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
        async with self.db.writing() as s:
            await insert_timers(self.db, s, timers)
            await insert_messages(self.db, s, outbox)
            await mark_handled(s, inbox, now)

    async def _insert_run(self, s: AsyncSession, write: StepWrite) -> str:
        missing = {"team_id", "flow_id", "status", "state"} - set(write.run)
        if missing:
            raise ValueError(f"a new run needs {', '.join(sorted(missing))}")
        inserted = await s.scalar(
            self.db.insert(RunRow)
            .values(
                bind_row(
                    RunRow,
                    {
                        "id": write.run_id,
                        **{"version": 0, **write.run},
                        "created_at": write.now,
                        "updated_at": write.now,
                    },
                )
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


def _check_run_fields(write: StepWrite) -> None:
    unknown = set(write.run) - set(RUN_FIELDS)
    if unknown:
        raise ValueError(f"not run fields: {', '.join(sorted(unknown))}")
