"""What every scenario world shares: a runtime on a fake clock, settled and stepped alike.

A world is the real runtime (`build_runtime`: store on SQLite, service, scheduler without
APScheduler's wall clock, outbox) with one platform's adapter, and the fake platform it
talks to when it has one. Tests let time pass with `wait`, which stops at every timer on
the way and settles after each step (tests.harness.settle).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.runtime.clock import FakeClock
from bot.wiring import Runtime
from tests.harness.settle import FakeServer, settle

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
# Monday 23 November 2026, 09:00 in Amsterdam: where most scenarios begin.
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class World:
    """The runtime, its clock and the fakes it talks to; `pace`: see `settle`."""

    def __init__(
        self,
        runtime: Runtime,
        clock: FakeClock,
        fakes: Sequence[FakeServer] = (),
        *,
        pace: timedelta | None = None,
    ) -> None:
        self.runtime, self.clock, self.pace = runtime, clock, pace
        self.fakes = tuple(fakes)

    async def settle(self) -> None:
        """Run what is due until nothing moves (tests.harness.settle)."""
        await settle(self.runtime, *self.fakes, pace=self.pace)

    async def wait(self, delta: timedelta) -> None:
        """Move the clock on, stopping at every timer that falls due on the way."""
        end = self.clock.now() + delta
        while self.clock.now() < end:
            due = await self.runtime.store.next_due()
            now = self.clock.now()
            await self.clock.advance_to(due if due is not None and now < due < end else end)
            await self.settle()

    async def wait_until(self, moment: datetime) -> None:
        await self.wait(moment - self.clock.now())
