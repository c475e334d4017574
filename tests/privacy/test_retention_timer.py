"""The daily retention purge is a durable timer: it runs, reschedules itself, survives a
restart and is never doubled; retention_days defaults to 90 in the flow model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from adapters.console import ConsoleAdapter
from bot.config import Settings
from bot.core.loader import load_flow
from bot.core.timer_names import RetentionTimer
from bot.privacy.retention import next_purge
from bot.runtime.clock import FakeClock
from bot.store.tables import AccessLogRow, TimerRow
from bot.wiring import Runtime, build_runtime
from tests.harness.console import Team
from tests.harness.world import ROOT

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def _runtime(tmp_path: Path, clock: FakeClock) -> Runtime:
    settings = Settings(data_dir=tmp_path, flows_dir=ROOT / "flows")
    console = ConsoleAdapter(out=lambda _line: None)
    return await build_runtime(settings, clock=clock, adapters=[console], use_apscheduler=False)


async def _retention_timers(runtime: Runtime) -> list[tuple[str, datetime]]:
    async with runtime.store.sessionmaker() as s, s.begin():
        rows = await s.scalars(
            select(TimerRow).where(TimerRow.kind == RetentionTimer.KIND).order_by(TimerRow.due_at)
        )
        return [(r.status, r.due_at) for r in rows]


async def test_the_purge_runs_daily_survives_a_restart_and_is_never_doubled(
    tmp_path: Path,
) -> None:
    clock = FakeClock(START)
    runtime = await _runtime(tmp_path, clock)
    first_due = next_purge(START)
    assert await _retention_timers(runtime) == [("pending", first_due)]
    await runtime.store.close()

    runtime = await _runtime(tmp_path, clock)  # a restart: the same row, no second one
    assert await _retention_timers(runtime) == [("pending", first_due)]
    team = Team(runtime, ConsoleAdapter(out=lambda _line: None), clock, [])
    await team.wait(timedelta(days=1))
    assert await _retention_timers(runtime) == [
        ("sent", first_due),
        ("pending", first_due + timedelta(days=1)),
    ]
    async with runtime.store.sessionmaker() as s, s.begin():
        purges = list(await s.scalars(select(AccessLogRow.what)))
    assert len(purges) == 1 and purges[0].startswith("retention purge: answers=")
    await runtime.store.close()

    # Down while the next purge fell due: the startup sweep hands it over.
    clock = FakeClock(first_due + timedelta(days=1, hours=2))
    runtime = await _runtime(tmp_path, clock)
    await runtime.scheduler.fire_due()
    await runtime.inbox.drain()
    timers = await _retention_timers(runtime)
    assert timers[-1] == ("pending", first_due + timedelta(days=2))
    assert [status for status, _ in timers] == ["sent", "sent", "pending"]
    await runtime.store.close()


def test_retention_days_defaults_to_90_and_a_flow_may_set_it() -> None:
    flow = """\
id: kort
title: {nl: Kort, en: Short}
steps:
  - id: hallo
    say: {text: {nl: Hallo, en: Hello}}
"""
    assert load_flow(flow, "kort.yaml").retention_days == 90
    assert load_flow(flow + "retention_days: 30\n", "kort.yaml").retention_days == 30
