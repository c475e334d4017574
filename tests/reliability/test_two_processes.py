"""Two `samen run` processes on one PostgreSQL (R-SCH-6, issue #9 "More than one process").

Each test gets a database of its own (`database` in conftest.py): PostgreSQL advisory
locks are per database, so the two processes compete for the timer and outbox leases
with each other only, never with another Samen or test run on the same server. Both
processes run the real Telegram adapter against the fake Bot API, which counts what
arrives.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store.sealed import new_key_text
from tests.harness.fake_telegram import TOKEN, FakeTelegram
from tests.harness.settle import settle_process
from tests.reliability.world import (
    NUDGE_TEXT,
    TelegramSamen,
    nudges_per_group,
    outbox_statuses,
    plant_nudges,
    timer_statuses,
    until,
)

TAKEN = "timer lease taken"
RUNNING = "Samen draait"


async def test_two_processes_deliver_1000_timers_once_and_one_takes_over_the_timers(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTelegram()
    api = await fake.start()
    # Several processes on one PostgreSQL share one data key and one audit key (the
    # environment, as docs/privacy.md says); so does this test, which plants the timers.
    env = {"SAMEN_DATABASE_URL": database}
    env.update({name: new_key_text() for name in ("SAMEN_DATA_KEY", "SAMEN_AUDIT_KEY")})
    for name in ("SAMEN_DATA_KEY", "SAMEN_AUDIT_KEY"):
        monkeypatch.setenv(name, env[name])
    processes: list[TelegramSamen] = []
    try:
        ids = await plant_nudges(database, 1000, due=datetime.now(UTC) + timedelta(seconds=3))
        first = TelegramSamen(tmp_path, api, TOKEN, **env)
        processes.append(first)
        await until(lambda: TAKEN in first.output() or not first.alive(), 30, "first takes lease")
        second = TelegramSamen(tmp_path, api, TOKEN, **env)
        processes.append(second)
        await until(lambda: RUNNING in second.output() or not second.alive(), 30, "second runs")

        # 1000 timers, two processes: exactly 1000 deliveries (the fake allows 30/s).
        # At Telegram's 30 messages a second the floor is 34 s; the bound leaves room for a
        # loaded 2-core machine.
        await until(
            lambda: len(nudges_per_group(fake.messages)) >= 1000 or not first.alive(),
            180,
            "1000 nudges delivered",
            also=lambda: _tails(processes, fake),
        )
        await settle_process(database, fake, alive=first.alive)
        assert await _settled(database, ids)
        per_group = nudges_per_group(fake.messages)
        assert len(per_group) == 1000 and set(per_group.values()) == {1}
        assert TAKEN not in second.output()  # the second process fired nothing
        assert first.alive() and second.alive()

        # kill -9 the holder of the timer lease while it is idle; new timers fall due
        # just after: the other process takes over within 10 s, and each goes out once.
        more = await plant_nudges(
            database, 100, first=1000, due=datetime.now(UTC) + timedelta(seconds=2)
        )
        first.kill()
        killed = asyncio.get_running_loop().time()
        await until(lambda: TAKEN in second.output(), 10, "the second process takes over")
        took = asyncio.get_running_loop().time() - killed
        assert took <= 10
        await until(
            lambda: len(nudges_per_group(fake.messages)) >= 1100 or not second.alive(),
            30,
            "the next 100 nudges delivered",
        )
        await settle_process(database, fake, alive=second.alive)
        assert await _settled(database, more)
        per_group = nudges_per_group(fake.messages)
        assert len(per_group) == 1100 and set(per_group.values()) == {1}  # none lost or doubled
        code = await second.stop()
        assert code == 0, second.output()[-2000:]
        for samen in processes:
            assert NUDGE_TEXT not in samen.output()
    finally:
        for samen in processes:
            samen.kill() if samen.alive() else None
        await fake.stop()


def _tails(processes: list[TelegramSamen], fake: FakeTelegram) -> str:
    """What the processes last logged, and what the fake counted, for a failure message."""
    lines = [f"delivered: {len(nudges_per_group(fake.messages))}, 429s: {fake.limited}"]
    for samen in processes:
        lines.append(f"--- pid {samen.proc.pid} alive={samen.alive()}")
        lines.extend(samen.output().splitlines()[-15:])
    return "\n".join(lines)


async def _settled(url: str, ids: list[int]) -> bool:
    timers = await timer_statuses(url, ids)
    outbox = await outbox_statuses(url)
    return timers == {"sent": len(ids)} and set(outbox) <= {"sent"}
