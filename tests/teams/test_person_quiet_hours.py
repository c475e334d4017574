"""Quiet hours per person (bot/timezones.py): a nudge for one person uses their own zone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from bot.teams.timezones import quiet_hours_for, remember_timezones
from bot.wiring import Runtime
from tests.harness.console import console_world


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[Runtime, ConsoleAdapter]]:
    async with console_world(tmp_path) as world:
        yield world.runtime, world.console


async def type_(runtime: Runtime, console: ConsoleAdapter, *lines: str) -> None:
    for line in lines:
        inbound = console.parse(line)
        if inbound is not None:
            await runtime.inbound(inbound)
        await runtime.inbox.drain()
        await runtime.outbox.pump()  # the console learns its forms from what it printed
        await runtime.outbox.flush()


async def test_a_reminder_for_one_person_left_uses_their_zone(
    runtime: tuple[Runtime, ConsoleAdapter],
) -> None:
    rt, console = runtime
    store = rt.store
    await type_(rt, console, "/als anna", "/samen", "/als bram", "/samen")
    learnt = [("bram", "Pacific/Auckland"), ("nobody", "Europe/Brussels")]
    assert await remember_timezones(store, "console", learnt) == [True, False]
    await type_(rt, console, "/als anna", "/samen start voorbereiding")
    (reminder, *_) = [t for t in await store.pending_timers() if t.kind == "reminder"]
    quiet = await quiet_hours_for(store, reminder)
    assert quiet is not None and quiet.zone == "Europe/Amsterdam"  # two people wait
    await type_(rt, console, "/a 1 Rustig", "/a 2 leiden", "/a 3 -", "/a 4 -")
    quiet = await quiet_hours_for(store, reminder)
    assert quiet is not None and quiet.zone == "Pacific/Auckland"  # only Bram waits
    assert (quiet.start.isoformat(), quiet.end.isoformat()) == ("08:30:00", "17:30:00")


async def test_an_unknown_zone_is_not_stored_and_not_asked_again(
    runtime: tuple[Runtime, ConsoleAdapter],
) -> None:
    rt, console = runtime
    await type_(rt, console, "/als anna", "/samen")
    assert await remember_timezones(rt.store, "console", [("anna", "Nowhere/Land")]) == [True]
    team = await rt.store.team_for_channel("console", "team", now=rt.clock.now())
    member = await rt.store.get_member(team.id, "anna")
    assert member is not None and member.timezone is None
