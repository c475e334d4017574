"""Engine invariants under random event sequences (hypothesis): whatever people click,
type and however timers and the clock behave, a run stays sound."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import engine
from bot.core.effects import CancelTimer, Edit, Effect, ScheduleTimer, Send
from bot.core.events import (
    Answered,
    AnswerKind,
    BellCommand,
    Command,
    Event,
    Member,
    MemberAbsent,
    MemberJoined,
    MemberLeft,
    RegisteredEvent,
    StartContext,
    Team,
    TimerFired,
)
from bot.core.model import Flow
from bot.core.run import Run, RunStatus

T0 = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)  # the weekend the clocks go forward
SECRET = "GEHEIM"  # every private answer contains it; no team message ever may

TEAM = Team(
    members=(
        Member("anna", "Anna", frozenset({"chair"})),
        Member("bram", "Bram"),
        Member("cor", "Cor"),
        Member("dirk", "Dirk", absent=True),
    )
)


def _q(qid: str, qtype: str = "text", **extra: Any) -> dict[str, Any]:
    return {"id": qid, "type": qtype, "text": {"nl": f"{qid}?", "en": f"{qid}?"}, **extra}


OPTIONS = [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]

MEETING = Flow.model_validate(
    {
        "id": "meeting",
        "title": "Overleg",
        "roles": ["chair"],
        "steps": [
            {
                "id": "fase-1",
                "phase": {
                    "title": "Een",
                    "duration": "25m",
                    "warnings": ["5m", "1m"],
                    "questions": [_q("idee", optional=True), _q("geheim", visibility="private")],
                },
            },
            {"id": "fase-2", "phase": {"title": "Twee", "duration": "10m", "advance": "chair"}},
            {"id": "samen", "summary": {"show": ["answers", "process_bells"]}},
            {"id": "klaar", "end": {"text": "Dank"}},
        ],
    }
)

COLLECT = Flow.model_validate(
    {
        "id": "collect",
        "title": "Voorbereiding",
        "roles": ["chair"],
        "permissions": {"see_missing": ["member"]},
        "steps": [
            {
                "id": "prep",
                "collect": {
                    "deadline": "1d before event",
                    "reminders": ["12h", "2h", "30m"],
                    "questions": [
                        _q("geheim", visibility="private"),
                        _q("rol", "choice", options=OPTIONS),
                        _q("cijfer", "scale", min=1, max=5, optional=True, anonymous=True),
                        _q("voor-chair", visibility="chair", optional=True),
                    ],
                },
            },
            {"id": "team", "summary": {"to": "thread"}},
            {"id": "chair", "summary": {"to": "chair"}},
            {"id": "tot-het-bezoek", "wait": {"until": "0m before event"}},
        ],
    }
)

ROUND = Flow.model_validate(
    {
        "id": "round",
        "title": "Rondje",
        "roles": ["chair"],
        "steps": [
            {"id": "rond", "round": {"question": _q("r", "scale", min=1, max=5), "turn": "3m"}},
            {
                "id": "keuze",
                "branch": [
                    {"when": {"answer": "rond.r", "at_least": 4}, "goto": "vraag"},
                    {"otherwise": "anoniem"},
                ],
            },
            {
                "id": "vraag",
                "ask": {"to": "chair", "question": _q("ok", "yesno"), "timeout": "10m"},
            },
            {
                "id": "terug",
                "branch": [{"when": {"answer": "vraag", "equals": "no"}, "goto": "rond"}],
            },
            {"id": "anoniem", "round": {"question": _q("a", anonymous=True)}},
            {"id": "even", "wait": {"for": "10m"}},
            {"id": "klaar", "end": {}},
        ],
    }
)

FLOWS = {"meeting": MEETING, "collect": COLLECT, "round": ROUND}
PEOPLE = ("anna", "bram", "cor", "dirk", "zorro")
VALUES: tuple[str | tuple[str, ...], ...] = (
    "",
    "   ",
    "ja",
    "nee",
    "3",
    "9",
    "a",
    "b",
    "A",
    ("a",),
    ("a", "b"),
    "x" * 4100,
    "1-12-2026",
    f"{SECRET} 1",
    f"{SECRET} 2",
    "anna",
    ("bram",),
)


@dataclass
class Shell:
    """A strict shell: it checks the engine's timer bookkeeping at every step."""

    flow: Flow
    run: Run
    now: datetime
    pending: dict[str, datetime] = field(default_factory=dict)
    ever_scheduled: set[str] = field(default_factory=set)
    effects: list[Effect] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    def apply(self, effects: tuple[Effect, ...]) -> None:
        for e in effects:
            self.effects.append(e)
            if isinstance(e, ScheduleTimer):
                assert e.timer_id not in self.pending, f"{e.timer_id} scheduled while pending"
                assert e.timer_id not in self.ever_scheduled, f"{e.timer_id} reused"
                self.ever_scheduled.add(e.timer_id)
                self.pending[e.timer_id] = e.due
            elif isinstance(e, CancelTimer):
                assert e.timer_id in self.pending, f"cancelled {e.timer_id}, not pending"
                del self.pending[e.timer_id]
            elif isinstance(e, Send):
                assert e.key not in self.keys, f"message key {e.key} used twice"
                self.keys[e.key] = e.to.kind
            elif isinstance(e, Edit):
                assert e.key in self.keys, f"edit of unknown message {e.key}"

    def feed(self, event: Event, now: datetime) -> None:
        before = self.run
        out = engine.advance(self.flow, before, event, now)
        after = out.run
        assert after.status in set(RunStatus)
        assert after.clock >= before.clock
        assert after.version in (before.version, before.version + 1)
        if after.version == before.version:
            assert after is before, "an event that was not accepted must change nothing"
            assert not any(
                isinstance(e, Send | Edit | ScheduleTimer | CancelTimer) for e in out.effects
            )
        if isinstance(event, TimerFired) and event.timer_id in before.timers:
            del self.pending[event.timer_id]
        self.run = after
        self.apply(out.effects)
        assert set(self.pending) == set(after.timers)
        if after.status != RunStatus.active:
            assert not self.pending
        self.now = max(self.now, now)


actions = st.one_of(
    st.tuples(
        st.just("answer"),
        st.sampled_from(PEOPLE),
        st.sampled_from(("fase-1", "prep", "rond", "vraag", "anoniem", "elders")),
        st.sampled_from(("idee", "geheim", "rol", "cijfer", "voor-chair", "r", "ok", "a", "?")),
        st.sampled_from(VALUES),
        st.sampled_from(tuple(AnswerKind)),
    ),
    st.tuples(
        st.just("bell"),
        st.sampled_from(PEOPLE),
        st.sampled_from(tuple(BellCommand)),
        st.one_of(st.none(), st.integers(-5, 200)),
    ),
    st.tuples(st.just("fire"), st.integers(0, 20), st.booleans()),
    st.tuples(
        st.just("fire-unknown"),
        st.sampled_from(("fase-1:bell", "prep:deadline", "nope", "rond:turn:0")),
    ),
    st.tuples(st.just("clock"), st.integers(-120, 24 * 60)),
    st.tuples(
        st.just("member"),
        st.sampled_from(("join", "leave", "absent", "back")),
        st.sampled_from(PEOPLE),
    ),
)


def _event(action: tuple[Any, ...], shell: Shell) -> tuple[Event | None, datetime]:
    kind = action[0]
    now = shell.now
    if kind == "answer":
        _, who, step, question, value, answer_kind = action
        return Answered(who, step, question, value, answer_kind), now
    if kind == "bell":
        _, who, command, minutes = action
        return Command(who, command, minutes), now
    if kind == "fire":
        _, i, on_time = action
        if not shell.pending:
            return None, now
        timer_id, due = sorted(shell.pending.items(), key=lambda kv: (kv[1], kv[0]))[
            i % len(shell.pending)
        ]
        return TimerFired(timer_id, late=not on_time), max(now, due) if on_time else now
    if kind == "fire-unknown":
        return TimerFired(action[1]), now
    if kind == "clock":
        # Time may be reported backwards; the engine must never follow it.
        return None, now + timedelta(minutes=action[1])
    _, what, who = action
    if what == "join":
        return MemberJoined(Member(who, who.title(), frozenset())), now
    if what == "leave":
        return MemberLeft(who), now
    return MemberAbsent(who, absent=what == "absent"), now


def _drive_to_the_end(shell: Shell) -> None:
    """Fire every pending timer (and say `next` when a phase waits for the chair)."""
    for _ in range(500):
        if shell.run.status != RunStatus.active:
            break
        if shell.pending:
            timer_id, due = min(shell.pending.items(), key=lambda kv: (kv[1], kv[0]))
            shell.feed(TimerFired(timer_id), max(shell.now, due))
        else:
            # Waiting for people: the chair moves on (or stops, if they cannot).
            for member in ("anna", "bram", "cor"):
                shell.feed(
                    MemberJoined(Member(member, member.title(), frozenset({"chair"}))), shell.now
                )
            shell.feed(Command("anna", BellCommand.next), shell.now)
    if shell.run.status == RunStatus.active:
        shell.feed(Command("anna", BellCommand.stop), shell.now)


@pytest.mark.parametrize("flow_id", sorted(FLOWS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(actions, max_size=40))
def test_random_events_never_break_a_run(flow_id: str, script: list[tuple[Any, ...]]) -> None:
    flow = FLOWS[flow_id]
    ctx = StartContext(
        run_id="r",
        team=TEAM,
        started_by="anna",
        event=RegisteredEvent("visit", T0 + timedelta(days=2)),
    )
    out = engine.start(flow, ctx, T0)
    shell = Shell(flow, out.run, T0)
    shell.apply(out.effects)
    for action in script:
        event, now = _event(action, shell)
        if event is None:
            shell.now = max(shell.now, now) if action[0] == "clock" and action[1] > 0 else shell.now
            if action[0] == "clock" and action[1] < 0:
                # Deliver a harmless event with a time in the past.
                shell.feed(Command("zorro", BellCommand.ring), now)
            continue
        shell.feed(event, now)
    _drive_to_the_end(shell)
    assert shell.run.status in (RunStatus.done, RunStatus.stopped)
    # Every ScheduleTimer was matched by a firing or a cancellation.
    assert shell.pending == {} and shell.run.timers == {}
    for e in shell.effects:
        if isinstance(e, Send) and e.to.kind in ("thread", "channel"):
            assert SECRET not in e.message.text
        if isinstance(e, Edit) and shell.keys.get(e.key) in ("thread", "channel"):
            assert SECRET not in e.message.text
    # The run survives the store at the end, too.
    assert Run.model_validate(shell.run.model_dump(mode="json")) == shell.run
