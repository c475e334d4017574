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
from typing import Any, cast

import pytest
from sqlalchemy import delete

from bot.core.effects import (
    Destination,
    Edit,
    Message,
    MessageKind,
    ScheduleTimer,
    Send,
    TimerKind,
)
from bot.runtime import inbox
from bot.runtime.outgoing import Outgoing
from bot.store.inbox import TIMER_PLATFORM
from bot.store.repo import Store
from bot.store.tables import InboxRow, OutboxRow, RunRow, TeamRow
from bot.wiring import Runtime
from tests.harness.console import SHORT_MEETING, console_world

MEETINGS = 4
T_FAR = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "kort-overleg.yaml").write_text(SHORT_MEETING, encoding="utf-8")
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    async with console_world(tmp_path, start=start, flows=flows, data=tmp_path / "data") as world:
        yield world.runtime


async def start_in_teams(runtime: Runtime, flow: str, teams: range) -> list[str]:
    """Anna, chair of each of `teams`, starts `flow` there, all at the same moment."""
    store, live = runtime.store, runtime.runs
    now = runtime.clock.now()
    runs = []
    for n in teams:
        team = await store.team_for_channel("console", f"#team-{n}", now=now)
        await store.upsert_member(team.id, "anna", "Anna", now=now)
        await store.set_roles(team.id, "anna", ["chair"])
        run = await live.start_flow(team, live.flows[flow], by="anna")
        runs.append(run.id)
    return runs


async def meetings(runtime: Runtime) -> list[str]:
    """Four teams each start the short meeting at the same moment: their first bells fall
    due together."""
    return await start_in_teams(runtime, "kort-overleg", range(MEETINGS))


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


# --------------------------------------------------------------------------- the clock first

SHORT_COLLECTION = """\
id: korte-terugblik
title: {nl: "Korte terugblik", en: "Short look back"}
languages: [nl, en]
permissions:
  start: [member]
steps:
  - id: vragen
    collect:
      deadline: 1m
      questions:
        - id: hoe
          text: {nl: "Hoe ging het?", en: "How did it go?"}
          type: text
  - id: klaar
    end: {}
"""
COLLECTIONS = 2 * inbox.TIMER_GROUP + 1


@pytest.fixture
async def busy(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A meeting's short rounds and a look back whose collection closes after a minute."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "kort-overleg.yaml").write_text(SHORT_MEETING, encoding="utf-8")
    (flows / "korte-terugblik.yaml").write_text(SHORT_COLLECTION, encoding="utf-8")
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    async with console_world(tmp_path, start=start, flows=flows, data=tmp_path / "data") as world:
        yield world.runtime


def committed(groups: list[Any]) -> list[set[str]]:
    return [{w.run_id for w in writes} for writes in groups]


async def test_bells_due_with_many_collections_closing_are_committed_first(
    busy: Runtime,
) -> None:
    # Collections closing and bells ringing on the same minute: the look backs of the
    # visits of 10:00 close at 10:01, as the meetings' first rounds end.
    looks = await start_in_teams(busy, "korte-terugblik", range(COLLECTIONS))
    bells = await start_in_teams(busy, "kort-overleg", range(COLLECTIONS, COLLECTIONS + 3))
    groups: list[Any] = []
    spy(busy.store, "commit_steps", groups)
    await busy.clock.advance(61)  # type: ignore[attr-defined]
    assert await busy.scheduler.fire_due() == COLLECTIONS + 3
    assert await busy.inbox.drain() == COLLECTIONS + 3

    assert (
        committed(groups)
        == [
            set(bells),  # the clock's timers in one group, before the rest
            set(looks[: inbox.TIMER_GROUP]),
            set(looks[inbox.TIMER_GROUP : 2 * inbox.TIMER_GROUP]),
            {looks[-1]},  # the last one on its own
        ]
    )
    stored = await busy.store.load_runs(looks + bells)
    assert all(stored[r].version == 2 for r in looks + bells)


async def test_a_bell_due_while_collections_close_waits_for_one_group_only(
    busy: Runtime,
) -> None:
    looks = await start_in_teams(busy, "korte-terugblik", range(COLLECTIONS))
    await busy.clock.advance(2)  # type: ignore[attr-defined]
    bells = await start_in_teams(busy, "kort-overleg", range(COLLECTIONS, COLLECTIONS + 1))
    await busy.clock.advance(59)  # type: ignore[attr-defined]
    assert await busy.scheduler.fire_due() == COLLECTIONS  # the collections close

    # The bell falls due, and is handed over, while the first group is in hand.
    groups: list[Any] = []
    real = busy.store.commit_steps

    async def commit_then_the_bell(writes: Any) -> Any:
        groups.append(writes)
        result = await real(writes)
        if len(groups) == 1:
            await busy.clock.advance(2)  # type: ignore[attr-defined]
            assert await busy.scheduler.fire_due() == 1
        return result

    busy.store.commit_steps = commit_then_the_bell  # type: ignore[method-assign]
    assert await busy.inbox.drain() == COLLECTIONS + 1

    assert committed(groups)[:2] == [set(looks[: inbox.TIMER_GROUP]), set(bells)]
    stored = await busy.store.load_runs(looks + bells)
    assert all(stored[r].version == 2 for r in looks + bells)


def timer_row(id: int, run: str | None, kind: str) -> InboxRow:
    payload = {"timer_row": id, "timer": f"{kind}:{id}", "kind": kind, "catch_up": "fire"}
    if run is not None:
        payload["run_id"] = run
    return InboxRow(id=id, platform=TIMER_PLATFORM, event_key=f"timer:{id}", payload=payload)


def test_the_clock_goes_first_but_never_ahead_of_its_own_runs_earlier_timer() -> None:
    rows = [
        timer_row(1, None, "evaluation"),
        timer_row(2, "a", "deadline"),
        timer_row(3, "b", "bell"),
        timer_row(4, "a", "bell"),  # its run's deadline came first: it stays behind it
        timer_row(5, "c", "warning"),
        timer_row(6, "c", "bell"),
    ]
    ordered = inbox.run_timers_first(rows)
    assert [r.id for r in ordered] == [3, 5, 6, 2, 4, 1]
    # Groups hold the clock's timers or none, each run once.
    assert [r.id for r in inbox.run_timers(ordered)] == [3, 5]
    assert [r.id for r in inbox.run_timers(ordered[2:])] == [6]
    assert [r.id for r in inbox.run_timers(ordered[3:])] == [2]
    assert [r.id for r in inbox.run_timers(ordered[4:])] == [4]
    assert inbox.run_timers(ordered[5:]) == []  # a timer of no run: not a group


async def test_the_clocks_messages_tell_the_outbox_when_it_rings_next(runtime: Runtime) -> None:
    """The outbox keeps the meeting's channel free for the moment its bell rings
    (bot/runtime/outbox.py, "The meeting's clock"): the phase header and the bell carry
    the moments of the clock's next timers; the other messages carry none."""
    runs = await meetings(runtime)

    async def rings_of(run_id: str) -> dict[str, list[datetime]]:
        queued = await runtime.store.outbox_due(runtime.clock.now())
        return {
            o.kind: [datetime.fromisoformat(m) for m in o.message.get("rings", [])]
            for o in queued
            if o.run_id == run_id
        }

    async def next_bell(run_id: str) -> datetime:
        (due,) = [t.due_at for t in await runtime.store.pending_timers() if t.run_id == run_id]
        return due if due.tzinfo else due.replace(tzinfo=UTC)

    assert await rings_of(runs[0]) == {"phase": [await next_bell(runs[0])]}
    await runtime.store.outbox_sent_many(
        [(o.id, runtime.clock.now(), None) for o in await runtime.store.outbox_due(T_FAR)]
    )
    await bells_due(runtime)
    assert await runtime.inbox.drain() == MEETINGS
    assert await rings_of(runs[0]) == {
        "bell": [await next_bell(runs[0])],
        "phase": [await next_bell(runs[0])],
    }


def test_only_the_clocks_sends_to_the_channel_carry_its_next_moments() -> None:
    """Not a DM, not an edit (whose destination is resolved later and may be a DM), not
    the step's other messages."""
    outgoing = Outgoing(cast(Any, None), cast(Any, None))
    team = TeamRow(id="t1", platform="slack", channel="C1", language="nl")
    due = datetime(2026, 11, 23, 10, 1, tzinfo=UTC)
    rows, _, _ = outgoing.effects_to_rows(
        team,
        cast(Any, _Run()),
        [
            Send("bell:1", Destination.thread(), Message(MessageKind.bell, "De tijd is om")),
            Send("phase:2", Destination.thread(), Message(MessageKind.phase, "Ronde 2")),
            Send("warn:anna", Destination.person("anna"), Message(MessageKind.warning, "Nog 1")),
            Edit("status", Message(MessageKind.status, "Ronde 2 loopt")),
            Send("say:x", Destination.thread(), Message(MessageKind.say, "Welkom")),
            ScheduleTimer("bell:2", TimerKind.bell, due),
            ScheduleTimer("deadline:2", TimerKind.deadline, due),
        ],
    )
    carried = {r["msg_key"]: r["message"].get("rings") for r in rows}
    assert carried == {
        "bell:1": [due.isoformat()],
        "phase:2": [due.isoformat()],
        "warn:anna": None,
        "status": None,
        "say:x": None,
    }


class _Run:
    id = "r1"
    version = 3
