"""The shell's clocks: the fake one tests move by hand, and the fast one for demos."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.runtime.clock import FakeClock, ScaledClock, SystemClock

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


async def test_the_fake_clock_wakes_sleepers_in_order_at_their_own_time() -> None:
    clock = FakeClock(T0)
    woke: list[tuple[str, datetime]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(nap(n, s)) for n, s in (("c", 30), ("a", 10), ("b", 20))]
    await clock.settle()
    assert clock.sleeping == 3 and woke == []
    await clock.advance(25)
    assert woke == [("a", T0 + timedelta(seconds=10)), ("b", T0 + timedelta(seconds=20))]
    assert clock.now() == T0 + timedelta(seconds=25)
    await clock.advance(5)
    assert [n for n, _ in woke] == ["a", "b", "c"]
    await asyncio.gather(*tasks)


async def test_a_sleeper_that_sleeps_again_is_woken_within_the_same_advance() -> None:
    clock = FakeClock(T0)
    ticks: list[datetime] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(1)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(3.5)
    assert ticks == [T0 + timedelta(seconds=s) for s in (1, 2, 3)]
    task.cancel()
    await clock.advance(10)  # a cancelled sleeper is skipped
    assert len(ticks) == 3 and clock.sleeping == 0


async def test_the_fake_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 1, 1))


async def test_the_system_clock_tells_aware_utc_time() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC and abs((datetime.now(UTC) - now).total_seconds()) < 1


async def test_the_scaled_clock_runs_faster_than_real_time() -> None:
    """Bounded real time: a 2-second nap at 100x takes about 20 ms."""
    clock = ScaledClock(100.0, T0)
    started = time.monotonic()
    await clock.sleep(2.0)
    real = time.monotonic() - started
    assert real < 1.0
    assert clock.now() - T0 >= timedelta(seconds=2)
