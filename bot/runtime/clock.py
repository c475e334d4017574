"""The shell's clocks: real time, a fake one that tests move by hand, and a fast one for demos.

Only the shell reads time; `bot/core` gets `now` as an argument. Everything in the shell
that waits (the outbox between sends, the scheduler between polls) waits through
`Clock.sleep`, never `asyncio.sleep` directly, so that a test can replace minutes of
waiting with one `await clock.advance(...)` and no test depends on wall-clock timing.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where the shell gets the time and how it waits."""

    def now(self) -> datetime:
        """The current moment, an aware UTC datetime."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time without blocking the event loop.
        Cancellable; a non-positive value only yields to the loop once."""
        ...


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("aware datetimes only")
    return moment.astimezone(UTC)


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that stands still until a test moves it.

    `sleep` parks the caller on a future; `advance` moves time forward step by step,
    waking sleepers in the order of their wake time. At each wake the clock shows exactly
    that sleeper's wake time, and the loop gets a few turns so that the woken tasks run
    (and may go back to sleep, possibly before the end of this advance) before time moves
    on. Nothing here waits on real time.
    """

    # Enough loop turns for a woken task to run through a handful of awaits on in-memory
    # fakes and go back to sleep; tests that need more call `settle()` again.
    TURNS = 20

    def __init__(self, start: datetime) -> None:
        self._now = _aware_utc(start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []  # every duration asked for, for tests to inspect

    def now(self) -> datetime:
        return self._now

    @property
    def sleeping(self) -> int:
        """How many tasks are waiting on this clock right now."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (wake, next(self._seq), fut))
        await fut

    async def settle(self, turns: int | None = None) -> None:
        """Give the event loop some turns without moving time."""
        for _ in range(turns if turns is not None else self.TURNS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way, in order."""
        target = self._now + timedelta(seconds=seconds)
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            wake, _, fut = heapq.heappop(self._sleepers)
            if fut.done():  # the sleeper was cancelled
                continue
            self._now = max(self._now, wake)
            fut.set_result(None)
            await self.settle()
        self._now = max(self._now, target)
        await self.settle()

    async def advance_to(self, moment: datetime) -> None:
        await self.advance(max(0.0, (_aware_utc(moment) - self._now).total_seconds()))


class ScaledClock:
    """Time that runs `speed` times faster than real time, for `samen demo`.

    `now` is `start` plus the real (monotonic) time elapsed since construction times
    `speed`; `sleep(s)` sleeps `s / speed` real seconds.
    """

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = _aware_utc(start) if start is not None else datetime.now(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._t0) * self.speed
        return self._start + timedelta(seconds=elapsed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)
