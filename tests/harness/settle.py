"""Run a Samen runtime until nothing moves, and fail loudly when it does not stop.

One stop rule for every scenario test: the work is done when, twice in a row, a round
finds no inbox row pending, no timer due, no outbox row due that may be sent, none of the
runtime's own work running (a drain, a timer sweep, an outbox pass, a send in flight),
no fake platform answering a request, and nothing changed during the round. Twice,
because the runtime's own loops (when a test started them) and the adapters' tasks run
beside the harness: a round can end just before one of them takes its next step.

`settle` drives an in-process runtime by hand on its FakeClock. With `pace`, outbox rows
held back by a rate limit (or a platform's Retry-After) for at most that long are let go
by moving the clock on, never past the next timer. `settle_process` only watches: a real
`samen run` in another process, through its database and the fakes it talks to.

Neither returns quietly when the bound is reached: `Unsettled` says what still moved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.runtime.clock import FakeClock
from bot.store.db import open_engine
from bot.store.tables import InboxRow, OutboxRow, TimerRow
from bot.wiring import Runtime

QUIET_ROUNDS = 2  # quiet rounds in a row that end a settle (see the module docstring)
ROUNDS = 500  # rounds of work before `settle` gives up
SECONDS = 60.0  # wall-clock seconds before either gives up


class Unsettled(AssertionError):
    """The work did not stop within the bound; the message says what still moved."""


class FakeServer(Protocol):
    """What the harness asks a fake platform (tests.harness.fake_slack, fake_telegram)."""

    name: str

    @property
    def busy(self) -> int:
        """Requests being answered now (a long poll waiting for updates is not one)."""
        ...

    @property
    def answered(self) -> int:
        """Requests answered so far."""
        ...


@dataclass(frozen=True)
class Backlog:
    """Rows that still mean work: inbox rows not handled, timers and outbox rows due."""

    inbox: int
    timers: int
    outbox: int


async def backlog(
    engine: AsyncEngine,
    now: datetime,
    *,
    timers_ahead: timedelta = timedelta(0),
    outbox_ahead: timedelta = timedelta(0),
) -> Backlog:
    """Count what is left to do at `now`: inbox rows not handled, timers due up to
    `timers_ahead` later, outbox rows due up to `outbox_ahead` later."""
    inbox = select(func.count()).select_from(InboxRow).where(InboxRow.status == "new")
    timers = (
        select(func.count())
        .select_from(TimerRow)
        .where(TimerRow.status == "pending", TimerRow.due_at <= now + timers_ahead)
    )
    outbox = (
        select(func.count())
        .select_from(OutboxRow)
        .where(OutboxRow.status == "pending", OutboxRow.not_before <= now + outbox_ahead)
    )
    counts = select(inbox.scalar_subquery(), timers.scalar_subquery(), outbox.scalar_subquery())
    async with engine.connect() as conn:  # one round trip: settling reads this often
        found = (await conn.execute(counts)).one()
    return Backlog(*(int(n) for n in found))


def running(runtime: Runtime) -> list[str]:
    """The runtime's own work in progress, in words.

    Settling must not return while one of the runtime's loops (started by `Runtime.start`
    or `Scheduler.start`) or an adapter's work after an ack is half-way through; each says
    so through a public signal."""
    found = []
    if runtime.inbox.draining:
        found.append("the inbox is being drained")
    if runtime.scheduler.sweeping:
        found.append("a timer sweep is running")
    if runtime.outbox.sending:
        found.append(f"{runtime.outbox.sending} outbox sends or passes under way")
    for adapter in runtime.adapters:
        # The Slack adapter's work after an ack: users.info, views.open, views.publish.
        after_ack = getattr(adapter, "pending_tasks", 0)
        if after_ack:
            found.append(f"{after_ack} {adapter.platform} adapter tasks running")
    return found


def _serving(fakes: Sequence[FakeServer]) -> list[str]:
    return [f"{fake.name} is answering {fake.busy} requests" for fake in fakes if fake.busy]


def _done_so_far(runtime: Runtime, fakes: Sequence[FakeServer]) -> tuple[int, ...]:
    """Counters that move whenever work is done: a change during a round is movement."""
    stats = runtime.scheduler.stats
    sends = runtime.outbox.stats.values()
    return (
        runtime.inbox.handled,
        stats.fired + stats.late + stats.skipped + stats.shifted,
        sum(s.sent + s.retried + s.failed for s in sends),
        *(fake.answered for fake in fakes),
    )


async def settle(
    runtime: Runtime,
    *fakes: FakeServer,
    pace: timedelta | None = None,
    rounds: int = ROUNDS,
    seconds: float = SECONDS,
) -> None:
    """Do by hand what is due (inbox, timers, outbox) until nothing moves.

    `fakes`: the fake platforms the runtime talks to (idle when settled). `pace`: let
    the clock move on, at most this far at a time, for sends held back by a rate limit
    or a Retry-After; without it the clock stays where it is.
    Raises `Unsettled` after `rounds` rounds or `seconds` seconds."""
    clock = runtime.clock
    if pace is not None:
        assert isinstance(clock, FakeClock), "pacing moves the clock: it must be a FakeClock"
    started = time.monotonic()
    quiet = 0
    moving: list[str] = []
    for _ in range(rounds):
        before = _done_so_far(runtime, fakes)
        await runtime.inbox.drain()
        await runtime.scheduler.fire_due()
        await runtime.inbox.drain()
        wake = await runtime.outbox.pump()
        await runtime.outbox.flush()
        moving = running(runtime) + _serving(fakes)
        if _done_so_far(runtime, fakes) != before:
            moving.append("work was done this round")
        if not moving:  # only then is the database asked (the next round would anyway)
            now = clock.now()
            left = await backlog(runtime.store.engine, now, outbox_ahead=pace or timedelta(0))
            if left.inbox:
                moving.append(f"{left.inbox} inbox rows pending")
            if left.timers:
                moving.append(f"{left.timers} timers due")
            if left.outbox:
                if wake is None or wake <= now:
                    moving.append(f"{left.outbox} outbox rows due and sendable")
                elif pace is not None and wake <= now + pace:
                    # Held back by a rate limit: the clock moves on to when they may go.
                    assert isinstance(clock, FakeClock)
                    due = await runtime.store.next_due()
                    soonest = min(wake, due) if due is not None and due > now else wake
                    await clock.advance_to(soonest)
                    moving.append(f"{left.outbox} outbox rows held until {wake:%H:%M:%S}")
        if moving:
            quiet = 0
            await asyncio.sleep(0.001)  # the runtime's and the adapters' own tasks go on
        else:
            quiet += 1
            if quiet == QUIET_ROUNDS:
                return
        if time.monotonic() - started > seconds:
            break
    raise Unsettled(
        f"not settled after {time.monotonic() - started:.1f} s: still moving: " + "; ".join(moving)
    )


async def settle_process(
    url: str,
    *fakes: FakeServer,
    seconds: float = 30.0,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.1,
) -> None:
    """Wait until a `samen run` on the database `url` and the `fakes` are still.

    The process is watched, not driven: the same rule as `settle` on what it leaves in
    the database (timers and outbox rows due within `seconds` count: a retry it will
    make in two seconds is work still to come) and on the fakes. Raises `Unsettled`
    after `seconds`, or as soon as `alive()` turns false."""
    engine = await open_engine(url)
    started = time.monotonic()
    ahead = timedelta(seconds=seconds)
    quiet = 0
    moving: list[str] = []
    last: tuple[object, ...] | None = None
    try:
        while time.monotonic() - started <= seconds:
            if not alive():
                raise Unsettled("the process ended before its work was done")
            left = await backlog(engine, datetime.now(UTC), timers_ahead=ahead, outbox_ahead=ahead)
            moving = _serving(fakes)
            if left.inbox:
                moving.append(f"{left.inbox} inbox rows pending")
            if left.timers:
                moving.append(f"{left.timers} timers due within {seconds:g} s")
            if left.outbox:
                moving.append(f"{left.outbox} outbox rows pending within {seconds:g} s")
            seen = (left, *(fake.answered for fake in fakes))
            if last is not None and seen != last:
                moving.append("the database or a fake changed")
            last = seen
            if moving:
                quiet = 0
            else:
                quiet += 1
                if quiet == QUIET_ROUNDS:
                    return
            await asyncio.sleep(interval)
    finally:
        await engine.dispose()
    raise Unsettled(f"not settled within {seconds:g} s: still moving: " + "; ".join(moving))
