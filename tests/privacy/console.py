"""A console team on the real runtime, stepped by hand (as in tests/runtime)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.wiring import Runtime

ROOT = Path(__file__).resolve().parent.parent.parent


class Team:
    def __init__(
        self, runtime: Runtime, console: ConsoleAdapter, clock: FakeClock, printed: list[str]
    ) -> None:
        self.runtime, self.console, self.clock, self.printed = runtime, console, clock, printed

    async def type(self, *lines: str) -> None:
        for line in lines:
            inbound = self.console.parse(line)
            if inbound is not None:
                await self.runtime.inbound(inbound)
        await self.settle()

    async def settle(self) -> None:
        for _ in range(5):
            await self.runtime.service.drain()
            await self.runtime.scheduler.fire_due()
            await self.runtime.service.drain()
            await self.runtime.outbox.pump()
            await self.runtime.outbox.flush()

    async def wait(self, delta: timedelta) -> None:
        end = self.clock.now() + delta
        while self.clock.now() < end:
            due = await self.runtime.store.next_due()
            target = min(due, end) if due is not None and due > self.clock.now() else end
            await self.clock.advance_to(target)
            await self.settle()

    def said(self) -> str:
        return "\n".join(self.printed)
