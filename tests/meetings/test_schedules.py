"""Flows with a `schedule` trigger start by themselves, in each team's own time zone."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from adapters.console import ConsoleAdapter
from bot.config import Settings
from bot.runtime.clock import FakeClock
from bot.store.tables import TimerRow
from bot.wiring import build_runtime
from tests.harness.console import Team

ROOT = Path(__file__).resolve().parent.parent.parent

WEEKLY = """\
id: weekstart
title: {nl: "Weekstart", en: "Start of the week"}
languages: [nl, en]
triggers:
  - schedule: "0 9 * * mon"
steps:
  - id: groet
    say:
      to: thread
      text:
        nl: "Wat staat er deze week op de agenda van het team?"
        en: "What is on the team's agenda this week?"
"""

MONDAY_NINE = "Wat staat er deze week op de agenda van het team?"


async def start(tmp_path: Path, clock: FakeClock) -> Team:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    for path in (ROOT / "flows").glob("*.yaml"):
        shutil.copy(path, flows / path.name)
    (flows / "weekstart.yaml").write_text(WEEKLY, encoding="utf-8")
    printed: list[str] = []
    console = ConsoleAdapter(out=printed.append)
    settings = Settings(data_dir=tmp_path / "data", flows_dir=flows)
    runtime = await build_runtime(settings, clock=clock, adapters=[console], use_apscheduler=False)
    await runtime.scheduler.start()
    await runtime.schedules.plan()
    return Team(runtime, console, clock, printed)


async def test_a_scheduled_flow_starts_every_monday_at_nine_local_time(tmp_path: Path) -> None:
    # Friday 20 Nov 2026, 10:00 in Amsterdam (UTC+1).
    clock = FakeClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    team = await start(tmp_path, clock)
    try:
        await team.type("/als anna", "/samen")  # the team comes into being
        await team.wait(timedelta(days=2, hours=22, minutes=59))  # Monday 08:59 local
        assert team.said().count(MONDAY_NINE) == 0
        await team.wait(timedelta(minutes=1))  # 09:00 local = 08:00 UTC
        assert team.said().count(MONDAY_NINE) == 1
        await team.wait(timedelta(days=7))
        assert team.said().count(MONDAY_NINE) == 2
        async with team.runtime.store.sessionmaker() as s:
            rows = (await s.scalars(select(TimerRow))).all()
        scheduled = sorted(
            (r.due_at, r.status) for r in rows if r.timer.startswith("schedule:weekstart:")
        )
        # Fired on 23 and 30 November at 08:00 UTC; the next one planned for 7 December.
        assert [(d.astimezone(UTC).day, d.astimezone(UTC).hour, st) for d, st in scheduled] == [
            (23, 8, "sent"),
            (30, 8, "sent"),
            (7, 8, "pending"),
        ]
    finally:
        await team.runtime.stop()


async def test_a_restart_plans_each_moment_once(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    first = await start(tmp_path, clock)
    await first.type("/als anna", "/samen")
    await first.runtime.stop()
    second = await start(tmp_path, clock)  # plans again on the same database
    try:
        await second.wait(timedelta(days=3))
        assert second.said().count(MONDAY_NINE) == 1
    finally:
        await second.runtime.stop()
