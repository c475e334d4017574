"""`/bel time-out` (F11): anyone may call it; a running phase stands still until the
meeting's time-out flow ends, then runs on with its end moved by exactly the pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core import engine
from bot.core.effects import CancelTimer, MessageKind, Reply, ScheduleTimer, Send, StartFlow
from bot.core.events import (
    BellCommand,
    Command,
    Member,
    StartContext,
    Team,
    TimeOutEnded,
    TimerFired,
)
from bot.core.model import Flow
from bot.core.run import Run

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TEAM = Team(
    members=(
        Member("anna", "Anna", frozenset({"chair"})),
        Member("bram", "Bram", frozenset()),
        Member("cor", "Cor", frozenset({"guest"})),
    )
)


def meeting(**extra: Any) -> Flow:
    data: dict[str, Any] = {
        "id": "overleg",
        "title": {"nl": "Overleg", "en": "Meeting"},
        "languages": ["nl", "en"],
        "roles": ["chair", "guest"],
        "permissions": {"process_bell": ["member"]},
        "time_out": "time-out",
        "steps": [
            {
                "id": "vraag",
                "collect": {
                    "deadline": "10m",
                    "questions": [{"id": "x", "type": "text", "text": {"nl": "X?", "en": "X?"}}],
                },
            },
            {"id": "stap", "phase": {"title": {"nl": "Stap", "en": "Step"}, "duration": "20m"}},
        ],
    }
    data.update(extra)
    return Flow.model_validate(data)


def in_phase(flow: Flow) -> tuple[Run, datetime]:
    """A run of `flow` at the start of its phase, and the moment it started."""
    run = engine.start(flow, StartContext(run_id="r1", team=TEAM, started_by="anna"), T0).run
    at = T0 + timedelta(minutes=10)
    run = engine.advance(flow, run, TimerFired("vraag:deadline"), at).run
    assert run.step == "stap"
    return run, at


def bell_at(run: Run) -> datetime:
    return next(t.due for i, t in run.timers.items() if i.startswith("stap:bell"))


def test_a_time_out_pauses_the_phase_and_starts_the_time_out_flow_with_everyone() -> None:
    flow = meeting()
    run, at = in_phase(flow)
    out = engine.advance(
        flow, run, Command("bram", BellCommand.time_out), at + timedelta(minutes=5)
    )
    assert out.run.state is not None and out.run.state.time_out
    assert out.run.state.paused_at == at + timedelta(minutes=5)
    assert out.run.timers == {}
    assert any(isinstance(e, CancelTimer) for e in out.effects)
    assert [e for e in out.effects if isinstance(e, StartFlow)] == [
        StartFlow("time-out", ("anna", "bram", "cor"))
    ]
    said = [e for e in out.effects if isinstance(e, Send)]
    assert [s.message.kind for s in said] == [MessageKind.process_bell]
    assert "Bram" not in said[0].message.text
    assert out.run.process_bells == 1


def test_when_the_time_out_ends_the_clock_runs_on_with_the_end_moved_by_the_pause() -> None:
    flow = meeting()
    run, at = in_phase(flow)
    assert bell_at(run) == at + timedelta(minutes=20)
    run = engine.advance(
        flow, run, Command("cor", BellCommand.time_out), at + timedelta(minutes=5)
    ).run
    out = engine.advance(flow, run, TimeOutEnded(), at + timedelta(minutes=12))
    assert out.run.state is not None
    assert out.run.state.paused_at is None and not out.run.state.time_out
    assert bell_at(out.run) == at + timedelta(minutes=27)
    assert any(isinstance(e, ScheduleTimer) for e in out.effects)


def test_a_phase_the_chair_paused_stays_paused_after_a_time_out() -> None:
    flow = meeting()
    run, at = in_phase(flow)
    run = engine.advance(flow, run, Command("anna", BellCommand.pause), at).run
    out = engine.advance(flow, run, Command("bram", BellCommand.time_out), at)
    assert any(isinstance(e, StartFlow) for e in out.effects)
    assert out.run.state is not None and not out.run.state.time_out
    after = engine.advance(flow, out.run, TimeOutEnded(), at + timedelta(minutes=5))
    assert after.effects == ()
    assert after.run.state is not None and after.run.state.paused_at == at


def test_a_time_out_outside_a_phase_still_starts_the_check() -> None:
    flow = meeting()
    run = engine.start(flow, StartContext(run_id="r1", team=TEAM, started_by="anna"), T0).run
    out = engine.advance(flow, run, Command("bram", BellCommand.time_out), T0)
    assert any(isinstance(e, StartFlow) for e in out.effects)
    assert engine.advance(flow, out.run, TimeOutEnded(), T0).effects == ()


def test_without_a_time_out_flow_it_is_the_process_bell() -> None:
    flow = meeting(time_out=None)
    run, at = in_phase(flow)
    out = engine.advance(flow, run, Command("bram", BellCommand.time_out), at)
    assert not any(isinstance(e, StartFlow) for e in out.effects)
    assert out.run.state is not None and out.run.state.paused_at is None
    assert out.run.process_bells == 1


@pytest.mark.parametrize("who", ["cor"])
def test_only_those_who_may_ring_the_process_bell_may_call_a_time_out(who: str) -> None:
    flow = meeting(permissions={"process_bell": ["chair"]})
    run, at = in_phase(flow)
    out = engine.advance(flow, run, Command(who, BellCommand.time_out), at)
    assert out.run is run
    assert [type(e) for e in out.effects] == [Reply]
