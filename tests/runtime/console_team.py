"""A console team on the real runtime, stepped by hand on a fake clock.

Store, service, scheduler (its firing path, without APScheduler's wall clock), outbox and
the console adapter all run for real; only time is simulated. Shared by the runtime,
evaluation and privacy tests.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from adapters.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.wiring import Runtime
from tests.harness.settle import settle

# A meeting of two one-minute rounds (`/samen start kort`): its bells fall due a
# minute apart (tests of timers, restarts and groups of bells).
SHORT_MEETING = """\
id: kort-overleg
title: {nl: "Kort overleg", en: "Short meeting"}
languages: [nl, en]
roles: [chair]
permissions:
  start: [chair]
  bell: [chair]
  process_bell: [member]
triggers:
  - command: kort
steps:
  - id: ronde-1
    phase:
      title: {nl: "Ronde 1", en: "Round 1"}
      duration: 1m
      warnings: []
  - id: ronde-2
    phase:
      title: {nl: "Ronde 2", en: "Round 2"}
      duration: 1m
      warnings: []
"""


class Team:
    """Type lines as someone, let time pass, read what Samen printed."""

    def __init__(
        self,
        runtime: Runtime,
        console: ConsoleAdapter,
        clock: FakeClock,
        printed: list[str],
        *,
        pace: timedelta | None = None,
    ) -> None:
        self.runtime, self.console, self.clock, self.printed = runtime, console, clock, printed
        # Time let pass after each typed line (the outbox paces replies a second apart).
        self.pace = pace

    async def type(self, *lines: str) -> None:
        for line in lines:
            inbound = self.console.parse(line)
            if inbound is not None:
                await self.runtime.inbound(inbound)
            if self.pace is not None:
                await self.settle()
                await self.wait(self.pace)
        await self.settle()

    async def settle(self) -> None:
        """Run what is due until nothing moves (tests.harness.settle); the clock stays."""
        await settle(self.runtime)

    async def wait(self, delta: timedelta) -> None:
        """Move the clock on, stopping at every timer that falls due on the way."""
        end = self.clock.now() + delta
        while self.clock.now() < end:
            due = await self.runtime.store.next_due()
            target = min(due, end) if due is not None and due > self.clock.now() else end
            await self.clock.advance_to(target)
            await self.settle()

    async def wait_until(self, moment: datetime) -> None:
        await self.wait(moment - self.clock.now())

    def said(self) -> str:
        return "\n".join(self.printed)

    def since(self, mark: int) -> str:
        return "\n".join(self.printed[mark:])

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        """Raw rows of the SQLite database (sealed columns stay sealed)."""
        with sqlite3.connect(str(self.runtime.store.engine.url.database)) as db:
            return db.execute(sql).fetchall()
