"""Timers: the timers table is the truth; APScheduler only arms in-memory jobs from it (R-SCH).

Every nudge and bell is a row in `timers` (status pending -> sent | skipped | cancelled |
failed). This module turns due rows into durable inbox events, exactly once, and nothing
else: the inbox is drained and feeds a `TimerFired` event to the engine.

Arming. An APScheduler 3 `AsyncIOScheduler` with its in-memory job store holds one job per
instant at which pending rows within `horizon` (default 10 minutes) fall due - not one per
row, so that a thousand bells due together are one job, not a thousand (P3):
`DateTrigger(run_date=due_at)`, job id `timers-at-<instant>`, no job args — nothing
pickled, no text, so renaming code loses nothing (R-SCH-4, -5) — with
`misfire_grace_time=None` and `coalesce=True`, so that
APScheduler's 1 s misfire grace never drops a timer (R-SCH-2). A poll loop every
`poll_interval` seconds arms rows inserted since (by a step or another process) and
also fires anything due that no job fired (a backstop, and what drives the timers under a
fake or scaled clock, for which APScheduler's real-time timing does not apply). The
the runtime may call `arm(row)` / `disarm(row_id)` right after its commit for immediacy.

Firing. `fire_due(now)` is the one code path: the APScheduler job, the poll loop, the
startup sweep (R-SCH-1) and the tests all call it. It takes every pending row due at `now`
in due order, the meeting's clock first (`_sweep`), in batches, yielding to the event loop
between them, and for each:

1. decides the catch-up from the row's kind and its lateness (`bot.core.catch_up.decide`);
2. for a shift (quiet hours), moves `due_at` to the next working morning, keeps the row
   pending and re-arms it — nothing is handed over yet;
3. otherwise hands it over: in ONE transaction (`Store.hand_over`, for up to
   `HAND_OVER_GROUP` rows at once) claims the row - compare-and-set from pending to sent,
   or skipped with a note - and puts its inbox event - platform "timer", key
   `timer:<row id>`, payload `{"timer_row": id, "run_id": ..., "timer": <the engine's
   timer id>, "kind": ..., "catch_up": "fire" | "late" | "skip"}`; THEN awaits
   `on_due(row, catch_up)` for each row it claimed, so that the inbox drains the
   inbox. A crash writes nothing (the row stays pending; the next sweep hands it over);
   a row another sweep or process claimed first gets no second event, so two sweeps, two
   processes or a job racing the poll loop hand a row over once (R-SCH-1, -6, -7).

One sweep runs at a time per process; a `fire_due` asked for meanwhile (a job, or
`on_due` itself) is folded into the running sweep instead of waiting for it. `on_due`
should be quick — a poke for the inbox to drain.

Catch-up defaults (lateness = now - due_at; `CatchUpPolicy` per kind, configurable):

| kind | fire (no marker) | late (with marker) | beyond | quiet hours |
| --- | --- | --- | --- | --- |
| bell, warning | <= 2 min | — | skipped: "not rung", the chair is told | — |
| reminder | <= 5 s | <= 12 h | skipped, recorded | shifted to the next working morning |
| deadline, turn, timeout, wait | <= 5 s | always | never skipped (state transitions) | — |
| evaluation | <= 5 s | always | never skipped | shifted to the next working morning |
| any other kind | as reminder | | | |

Quiet hours apply only to late nudges (an on-time timer was scheduled by the engine
knowing the team's hours) and only to kinds that merely nudge people: shifting a deadline
or a round's turn would stall a flow until morning. A row that was shifted is delivered
with the late marker when it fires. The team's zone is applied with `zoneinfo`, so the
next working morning is 08:30 local on both sides of a DST change (R-SCH-8). The
`quiet_hours` callback (sync or async) gives a timer's team hours, e.g.
`WorkingHours.parse(team.timezone, team.work_days, team.work_start, team.work_end)`. Moving
`due_at` is done by the Store's `reschedule_timer`.

Leadership (R-SCH-6). On PostgreSQL only the holder of a session-level advisory lock (held
on a dedicated connection) arms and fires; the others try again every `poll_interval` and
take over when the holder's connection dies (PostgreSQL then releases the lock). On SQLite
(one process) the lease is always held. Without the lease the scheduler arms and fires
nothing.

Logs carry row ids, kinds and catch-up decisions only (R-PRV-8).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

# APScheduler 3 ships no type information.
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import STATE_RUNNING  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]

from bot.core.catch_up import (
    DEFAULT_POLICIES,
    FALLBACK_POLICY,
    SHIFT_NOTE,
    Action,
    CatchUp,
    CatchUpPolicy,
    decide,
)
from bot.core.effects import clock_first
from bot.core.hours import WorkingHours
from bot.runtime.clock import Clock
from bot.store.lease import Lease
from bot.store.repo import HandOver
from bot.store.tables import TimerRow

log = logging.getLogger("samen.scheduler")

_TICK = timedelta(microseconds=1)
# Due rows handed over per transaction (`Store.hand_over`).
HAND_OVER_GROUP = 25
# A timer a step has just scheduled is armed at once only if due within this many
# polls; a later one is armed by a poll's full arming (`Scheduler.arm_new`).
_POLLS_AHEAD = 2
# Rows armed between two turns of the event loop (see `arm_horizon`).
_ARM_GROUP = 25


# --------------------------------------------------------------------------- the store


class TimerStore(Protocol):
    """The `bot.store.repo.Store` methods the scheduler uses."""

    async def hand_over(self, timers: Sequence[HandOver], now: datetime) -> set[int]: ...

    async def pending_timers(
        self,
        *,
        due_before: datetime | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> Sequence[TimerRow]: ...

    async def pending_due(
        self, *, due_before: datetime, after_id: int | None = None
    ) -> Sequence[tuple[int, datetime]]: ...

    async def next_due(self) -> datetime | None: ...

    async def oldest_overdue(self, now: datetime) -> datetime | None: ...

    async def count_timers(self, status: str) -> int: ...

    async def reschedule_timer(self, id: int, due_at: datetime, note: str) -> bool:
        """Move a PENDING timer to `due_at`; False if it is no longer pending."""
        ...


# --------------------------------------------------------------------------- leadership


# --------------------------------------------------------------------------- the scheduler

OnDue = Callable[[TimerRow, CatchUp], Awaitable[None]]
QuietHoursFor = Callable[[TimerRow], WorkingHours | Awaitable[WorkingHours | None] | None]


@dataclass(slots=True)
class SchedulerStats:
    fired: int = 0
    late: int = 0
    skipped: int = 0
    shifted: int = 0


class Scheduler:
    """Arms timers from the timers table and hands due ones to the inbox, exactly once."""

    def __init__(
        self,
        store: TimerStore,
        clock: Clock,
        on_due: OnDue | None = None,
        *,
        horizon: timedelta = timedelta(minutes=10),
        poll_interval: float = 5.0,
        policies: Mapping[str, CatchUpPolicy] | None = None,
        quiet_hours: QuietHoursFor | None = None,
        lease: Lease | None = None,
        batch: int = 100,
        use_apscheduler: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.on_due = on_due
        self.horizon = horizon
        self.poll_interval = poll_interval
        self.policies = {**DEFAULT_POLICIES, **(policies or {})}
        self.quiet_hours = quiet_hours
        self.lease = lease if lease is not None else Lease.for_store(store)
        self.batch = batch
        self.use_apscheduler = use_apscheduler
        self.stats = SchedulerStats()
        self._aps: AsyncIOScheduler | None = None
        self._armed: dict[int, datetime] = {}  # row id -> due_at it is armed for
        self._instants: dict[datetime, set[int]] = {}  # due_at -> rows; one job each
        self._seen: int | None = None  # the highest row id a full arming read
        self._sweep_until: datetime | None = None  # set while a sweep runs
        self._poll: asyncio.Task[None] | None = None
        self._stopping = False
        self._ticking = False
        self._jobs: set[asyncio.Task[Any]] = set()  # APScheduler callbacks running now

    # -- life cycle

    @property
    def sweeping(self) -> bool:
        """A sweep or an APScheduler callback is under way (for tests that wait for quiet)."""
        return self._sweep_until is not None or bool(self._jobs)

    async def start(self) -> None:
        """Take the lease if free, sweep past-due rows, arm the horizon, start polling."""
        self._stopping = False
        if self.use_apscheduler:
            self._aps = AsyncIOScheduler(timezone=UTC)
            self._aps.start()
        try:
            await self.tick()
        except BaseException:
            await self.stop()
            raise
        self._poll = asyncio.create_task(self._poll_loop(), name="scheduler-poll")

    async def stop(self) -> None:
        """Stop polling (a poll in progress finishes first), drop the jobs, free the lease."""
        self._stopping = True
        if self._poll is not None:
            if not self._ticking:
                self._poll.cancel()  # it is asleep on the clock: nothing is half done
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
            self._poll = None
        self._disarm_all()
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self._jobs:  # a callback in the middle of a sweep finishes it
            await asyncio.gather(*self._jobs, return_exceptions=True)
        await self.lease.release()

    async def _poll_loop(self) -> None:
        while not self._stopping:
            await self.clock.sleep(self.poll_interval)
            if self._stopping:
                break
            self._ticking = True
            try:
                await self.tick()
            except Exception as exc:  # the store is unreachable: try again next poll
                log.warning("scheduler poll failed: %s", type(exc).__name__)
            finally:
                self._ticking = False

    async def tick(self) -> None:
        """One poll: keep or take the lease, fire what is due, arm what is near."""
        was_held = self.lease.held
        if not await self.lease.check():
            if was_held:
                log.warning("timer lease lost: disarming %d timers", len(self._armed))
                self._disarm_all()
            return
        now = self.clock.now()
        await self.fire_due(now)  # the startup sweep on the first tick (R-SCH-1)
        await self.arm_horizon(now, full=True)

    # -- arming

    async def arm_horizon(self, now: datetime | None = None, *, full: bool | None = None) -> int:
        """Arm every pending row due within the horizon; disarm jobs of rows gone.

        Called without `now` (after a commit) it reads only the rows
        inserted since the last full arming: with a thousand timers in the horizon,
        reading them all after every step made each step cost O(timers) and stalled the
        event loop (P3 in docs/performance.md). The poll (`tick`) arms in full: rows that
        moved or went are seen there, and `fire_due` hands over anything due regardless."""
        if not self.lease.held:
            return 0
        if full is None:
            full = now is not None or self._seen is None
        now = now if now is not None else self.clock.now()
        # Only jobs armed before the read may be stale: a row a step arms while we
        # read was committed after it and is missing from `rows` for that reason alone.
        before = dict(self._armed)
        rows = await self.store.pending_due(
            due_before=now + self.horizon, after_id=None if full else self._seen
        )
        seen = {row_id for row_id, _ in rows}
        todo = [(row_id, due) for row_id, due in rows if self._armed.get(row_id) != due]
        # Steps a moment apart set timers due a moment apart: a thousand meetings' next
        # bells are a thousand jobs. Added in one go, each with a wake-up of APScheduler,
        # they held the event loop for 150 ms (P3); so a group at a time, one wake-up each.
        for start in range(0, len(todo), _ARM_GROUP):
            if start:
                await asyncio.sleep(0)
            with self._one_wakeup():
                for row_id, due in todo[start : start + _ARM_GROUP]:
                    self._arm(row_id, due)
        self._seen = max(seen, default=self._seen or 0)
        if not full:
            return len(self._armed)
        for row_id, due in before.items():
            if row_id not in seen and self._armed.get(row_id) == due:
                self.disarm(row_id)  # cancelled, or handed over by another process
        return len(self._armed)

    async def arm_new(self, due: Iterable[datetime]) -> int:
        """After a commit that scheduled timers due at `due`: arm them now if one falls due
        before the poll would arm it; otherwise leave them to the poll, which arms the
        horizon in full every `poll_interval`. Saves a read per step of a busy meeting,
        whose next bell is minutes away (P4 in docs/performance.md)."""
        soonest = min(due, default=None)
        if soonest is None:
            return len(self._armed)
        if soonest > self.clock.now() + _POLLS_AHEAD * timedelta(seconds=self.poll_interval):
            return len(self._armed)
        return await self.arm_horizon()

    def arm(self, row: TimerRow) -> bool:
        """Arm a job for a pending row due within the horizon (after a step's commit)."""
        if not self.lease.held or row.status != "pending":
            return False
        if row.due_at > self.clock.now() + self.horizon:
            return False  # the poll loop arms it when it comes near
        self._arm(row.id, row.due_at)
        return True

    def _arm(self, row_id: int, due_at: datetime) -> None:
        if self._armed.get(row_id) not in (None, due_at):
            self.disarm(row_id)  # moved: off its old instant
        self._armed[row_id] = due_at
        rows = self._instants.setdefault(due_at, set())
        rows.add(row_id)
        if self._aps is not None and len(rows) == 1:
            # One job per instant, not per row: a sweep hands over every row due then, and
            # 1000 jobs due together would stall the loop in APScheduler itself (P3).
            self._aps.add_job(
                self._job,
                DateTrigger(run_date=due_at, timezone=UTC),
                args=[],  # nothing: the instant is in the id, the rows are in the table
                id=_job_id(due_at),
                name=_job_id(due_at),  # what APScheduler logs: the instant, nothing else
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
            )

    @contextlib.contextmanager
    def _one_wakeup(self) -> Iterator[None]:
        """Jobs added in this block wake APScheduler once, at its end, instead of once
        each (a wake-up processes its due jobs and sets its timer). Paused meanwhile,
        which it cannot notice: nothing in the block gives the event loop a turn."""
        aps = self._aps
        if aps is None or aps.state != STATE_RUNNING:
            yield
            return
        aps.pause()
        try:
            yield
        finally:
            aps.resume()

    def disarm(self, row_id: int) -> None:
        """Forget a row's in-memory timer (cancelled, handled or moved); the job of its
        instant goes with the last row due then."""
        due_at = self._armed.pop(row_id, None)
        if due_at is None:
            return
        rows = self._instants.get(due_at)
        if rows is not None:
            rows.discard(row_id)
            if not rows:
                del self._instants[due_at]
                if self._aps is not None:
                    with contextlib.suppress(JobLookupError):  # it has just run
                        self._aps.remove_job(_job_id(due_at))

    def _disarm_all(self) -> None:
        for row_id in list(self._armed):
            self.disarm(row_id)

    async def _job(self) -> None:
        """APScheduler's callback: the same path as every other firing."""
        if self._stopping:
            return
        task = asyncio.current_task()
        assert task is not None  # APScheduler runs coroutine jobs as tasks
        self._jobs.add(task)
        try:
            await self.fire_due(self.clock.now())
        finally:
            self._jobs.discard(task)

    # -- firing

    async def fire_due(self, now: datetime | None = None) -> int:
        """Hand over every pending row due at `now`, in due order; return how many.

        One sweep runs at a time in this process: a call made while one runs (an
        APScheduler job, or `on_due` itself) returns 0 at once and the running sweep goes
        round again up to the later moment, so nobody waits on a lock and nothing is
        missed. Across processes the claim decides who hands a row over.
        """
        if not self.lease.held:
            return 0
        now = now if now is not None else self.clock.now()
        if self._sweep_until is not None:
            self._sweep_until = max(self._sweep_until, now)
            return 0
        self._sweep_until = now
        handed = 0
        try:
            swept: datetime | None = None
            while swept != self._sweep_until:
                swept = self._sweep_until
                handed += await self._sweep(swept)
        finally:
            self._sweep_until = None
        return handed

    async def _sweep(self, now: datetime) -> int:
        """Hand over the rows due at `now`, the meeting's clock first (`clock_first`). A
        later moment that falls due meanwhile (a bell's job) ends the sweep after the
        rows of the group in hand decided so far: the next round reads again, up to that
        moment, and hands its bell over before the rest. At a minute's turn a hundred
        nudges, starts and deadlines fall due together, and the nudges' working hours are
        looked up one by one: a bell due a moment later waited 250 ms behind them (P7)."""
        handed = 0
        tried: set[int] = set()
        while True:
            # +1 µs: `due_before` may be exclusive; rows due exactly now are due.
            rows = await self.store.pending_timers(due_before=now + _TICK, limit=self.batch)
            fresh = clock_first(
                (r for r in rows if r.due_at <= now and r.id not in tried),
                lambda r: r.kind,
                lambda r: r.run_id,
            )
            for start in range(0, len(fresh), HAND_OVER_GROUP):
                group = fresh[start : start + HAND_OVER_GROUP]
                tried.update(r.id for r in group)
                handed += await self._hand_over(group, now)
                await asyncio.sleep(0)  # let acks and sends run between groups
                if self._later_moment(now):
                    return handed  # `fire_due` goes round again, up to the later moment
            if not fresh or len(rows) < self.batch:
                return handed

    def _later_moment(self, now: datetime) -> bool:
        """A later moment fell due while the sweep up to `now` runs (see `fire_due`)."""
        return self._sweep_until is not None and self._sweep_until > now

    async def _hand_over(self, rows: Sequence[TimerRow], now: datetime) -> int:
        """Decide each row's catch-up, shift those in quiet hours, and hand the others
        over in one transaction (claim + inbox event); then tell `on_due` of each."""
        decided: list[tuple[TimerRow, CatchUp]] = []
        for row in rows:
            if decided and self._later_moment(now):
                break  # the rest wait for the next round, after the later moment's bell
            try:
                catch = await self._decide(row, now)
            except Exception as exc:  # left pending: the next sweep tries again
                log.warning("timer %s (%s): not handled: %s", row.id, row.kind, type(exc).__name__)
                continue
            if catch is not None:
                decided.append((row, catch))
        if not decided:
            return 0
        try:
            claimed = await self.store.hand_over(
                [
                    HandOver(
                        row.id,
                        "skipped" if catch.action is Action.skip else "sent",
                        {
                            "timer_row": row.id,
                            "run_id": row.run_id,
                            "timer": row.timer,
                            "kind": row.kind,
                            "catch_up": catch.action.value,
                        },
                        catch.note,
                    )
                    for row, catch in decided
                ],
                now,
            )
        except Exception as exc:  # nothing was written: the next sweep tries again
            log.warning("%d due timers not handed over: %s", len(decided), type(exc).__name__)
            return 0
        handed = 0
        for row, catch in decided:
            self.disarm(row.id)
            if row.id not in claimed:
                continue  # another sweep or process handed it over, or it was cancelled
            handed += 1
            if catch.action is Action.fire:
                self.stats.fired += 1
            elif catch.action is Action.late:
                self.stats.late += 1
            else:
                self.stats.skipped += 1
            log.info("timer %s (%s): %s", row.id, row.kind, catch.action.value)
            if self.on_due is not None:
                try:
                    await self.on_due(row, catch)
                except Exception as exc:  # the event is in the inbox; the inbox drains it
                    log.warning(
                        "timer %s (%s): on_due failed: %s", row.id, row.kind, type(exc).__name__
                    )
        return handed

    async def _decide(self, row: TimerRow, now: datetime) -> CatchUp | None:
        """The row's catch-up; None when it was shifted out of quiet hours instead."""
        policy = self.policies.get(row.kind, FALLBACK_POLICY)
        quiet = None
        if policy.shift_in_quiet_hours:
            # Also on time: a nudge due outside working hours waits for the morning
            # (of the person it is for, when the lookup knows their zone).
            quiet = await self._quiet_hours(row)
        catch = decide(policy, row.due_at, now, quiet, shifted=row.note == SHIFT_NOTE)
        if catch.action is not Action.shift:
            return catch
        assert catch.new_due is not None
        self.disarm(row.id)
        if await self.store.reschedule_timer(row.id, catch.new_due, catch.note):
            self.stats.shifted += 1
            log.info("timer %s (%s): shifted out of quiet hours", row.id, row.kind)
            if catch.new_due <= now + self.horizon:
                self._arm(row.id, catch.new_due)
        return None

    async def _quiet_hours(self, row: TimerRow) -> WorkingHours | None:
        if self.quiet_hours is None:
            return None
        found = self.quiet_hours(row)
        if inspect.isawaitable(found):
            found = await found
        return found

    # -- status

    async def status(self, now: datetime | None = None) -> dict[str, Any]:
        """For `samen status` (R-OPS-2): counts, next due, oldest overdue, armed, lease."""
        now = now if now is not None else self.clock.now()
        next_due = await self.store.next_due()
        oldest = await self.store.oldest_overdue(now)
        return {
            "lease_held": self.lease.held,
            "pending": await self.store.count_timers("pending"),
            "armed": len(self._armed),
            "next_due": next_due.isoformat() if next_due else None,
            "oldest_overdue": oldest.isoformat() if oldest else None,
            "fired": self.stats.fired,
            "late": self.stats.late,
            "skipped": self.stats.skipped,
            "shifted": self.stats.shifted,
        }


def _job_id(due_at: datetime) -> str:
    return f"timers-at-{due_at.astimezone(UTC).isoformat()}"
