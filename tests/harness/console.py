"""The console world: a team typing into the real runtime, stepped by hand on a fake clock.

Store, service, scheduler (its firing path, without APScheduler's wall clock), outbox and
the console adapter all run for real; only time is simulated. `console_world` builds one;
the runtime, evaluation and privacy tests use it (the `team` fixture in tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.config import Settings
from bot.runtime.clock import FakeClock
from bot.wiring import Runtime, build_runtime
from tests.harness.world import FLOWS, START, World

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


class Team(World):
    """Type lines as someone, let time pass, read what Samen printed."""

    def __init__(
        self,
        runtime: Runtime,
        console: ConsoleAdapter,
        clock: FakeClock,
        printed: list[str],
        *,
        between: timedelta | None = None,
    ) -> None:
        super().__init__(runtime, clock)
        self.console, self.printed = console, printed
        # Time let pass after each typed line (the outbox paces replies a second apart).
        self.between = between

    async def type(self, *lines: str) -> None:
        for line in lines:
            inbound = self.console.parse(line)
            if inbound is not None:
                await self.runtime.inbound(inbound)
            if self.between is not None:
                await self.settle()
                await self.wait(self.between)
        await self.settle()

    def said(self) -> str:
        return "\n".join(self.printed)

    def since(self, mark: int) -> str:
        return "\n".join(self.printed[mark:])

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        """Raw rows of the SQLite database (sealed columns stay sealed)."""
        with sqlite3.connect(str(self.runtime.store.engine.url.database)) as db:
            return db.execute(sql).fetchall()


@asynccontextmanager
async def console_world(
    tmp_path: Path,
    *,
    start: datetime = START,
    flows: Path = FLOWS,
    data: Path | None = None,
    between: timedelta | None = None,
) -> AsyncIterator[Team]:
    """A console team on a fresh database in `data` (default `tmp_path`), the flows of
    `flows`, the clock at `start`; stopped afterwards."""
    printed: list[str] = []
    console = ConsoleAdapter(out=printed.append)
    clock = FakeClock(start)
    settings = Settings(data_dir=data or tmp_path, flows_dir=flows)
    runtime = await build_runtime(settings, clock=clock, adapters=[console], use_apscheduler=False)
    try:
        yield Team(runtime, console, clock, printed, between=between)
    finally:
        await runtime.stop()
