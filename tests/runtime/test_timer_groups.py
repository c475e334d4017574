"""Timers of several runs that fall due together are handled as one group (P3/P4).

The scheduler hands them over in one transaction and the runtime advances every run in
memory and commits all the steps in one transaction (`Store.commit_steps`); a group with
anything out of the ordinary goes the one-at-a-time way. The real store, runtime and
scheduler (its firing path) on a fake clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from bot.store.repo import Store
from bot.store.tables import InboxRow, OutboxRow, RunRow
from bot.wiring import Runtime
from tests.harness.console import SHORT_MEETING, console_world

MEETINGS = 4


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "kort-overleg.yaml").write_text(SHORT_MEETING, encoding="utf-8")
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    async with console_world(tmp_path, start=start, flows=flows, data=tmp_path / "data") as world:
        yield world.runtime


async def meetings(runtime: Runtime) -> list[str]:
    """Four teams each start the short meeting at the same moment: their first bells fall
    due together."""
    store, live = runtime.store, runtime.runs
    now = runtime.clock.now()
    runs = []
    for n in range(MEETINGS):
        team = await store.team_for_channel("console", f"#team-{n}", now=now)
        await store.upsert_member(team.id, "anna", "Anna", now=now)
        await store.set_roles(team.id, "anna", ["chair"])
        run = await live.start_flow(team, live.flows["kort-overleg"], by="anna")
        runs.append(run.id)
    return runs


def spy(store: Store, name: str, calls: list[Any]) -> None:
    real = getattr(store, name)

    async def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return await real(*args, **kwargs)

    setattr(store, name, recording)


async def bells_due(runtime: Runtime) -> None:
    await runtime.clock.advance(61)  # type: ignore[attr-defined]
    assert await runtime.scheduler.fire_due() == MEETINGS


async def test_the_bells_of_several_meetings_are_one_step_commit(runtime: Runtime) -> None:
    runs = await meetings(runtime)
    store = runtime.store
    groups: list[Any] = []
    singles: list[Any] = []
    spy(store, "commit_steps", groups)
    spy(store, "commit_step", singles)
    await bells_due(runtime)
    assert await runtime.inbox.drain() == MEETINGS

    assert [sorted(w.run_id for w in writes) for writes in groups] == [sorted(runs)]
    assert singles == []
    stored = await store.load_runs(runs)
    assert all(stored[r].version == 2 for r in runs)
    assert {str(stored[r].state["step"]).split("~")[0] for r in runs} == {"ronde-2"}
    assert await store.inbox_pending() == []
    # Each meeting's bell and next round are queued, and its next bell is set.
    queued = await store.outbox_due(runtime.clock.now())
    assert {o.run_id for o in queued if o.kind == "bell"} == set(runs)
    next_bells = await store.pending_timers()
    assert sorted(t.run_id for t in next_bells if t.kind == "bell") == sorted(runs)


async def test_a_group_with_a_run_gone_goes_one_by_one(runtime: Runtime) -> None:
    runs = await meetings(runtime)
    store = runtime.store
    gone = runs[1]
    await bells_due(runtime)
    async with store.sessionmaker() as s, s.begin():  # e.g. erased meanwhile
        await s.execute(delete(OutboxRow).where(OutboxRow.run_id == gone))
        await s.execute(delete(RunRow).where(RunRow.id == gone))
    groups: list[Any] = []
    spy(store, "commit_steps", groups)
    assert await runtime.inbox.drain() == MEETINGS

    # Found out before anything was written: then each run's step on its own (a commit
    # of one step is a group of one).
    assert [len(writes) for writes in groups] == [1] * (MEETINGS - 1)
    stored = await store.load_runs(runs)
    assert sorted(stored) == sorted(r for r in runs if r != gone)
    assert all(run.version == 2 for run in stored.values())
    async with store.sessionmaker() as s:
        rows = (await s.execute(InboxRow.__table__.select())).all()
    assert sorted((row.status, row.error) for row in rows) == [
        ("done", ""),
        ("done", ""),
        ("done", ""),
        ("failed", "no run"),
    ]
