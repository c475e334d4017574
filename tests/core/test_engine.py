"""The engine, step by step and command by command, on a fake clock (plain datetimes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.core import engine, i18n
from bot.core.effects import (
    CancelTimer,
    Destination,
    Edit,
    Effect,
    Finish,
    MessageKind,
    Reply,
    ScheduleTimer,
    Send,
    StartFlow,
    TimerKind,
)
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
from bot.core.model import CatalogueRef, Flow, SummaryBody
from bot.core.render import Audience, render_summary, text
from bot.core.run import Run, RunStatus, evolve

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam


def person(member_id: str, *roles: str, absent: bool = False) -> Member:
    return Member(member_id, member_id.title(), frozenset(roles), absent)


TEAM = Team(members=(person("anna", "chair"), person("bram"), person("cor")))


def make_flow(*steps: dict[str, Any], **extra: Any) -> Flow:
    data: dict[str, Any] = {
        "id": "test",
        "title": {"nl": "Overleg", "en": "Meeting"},
        "languages": ["nl", "en"],
        "roles": ["chair"],
        "steps": list(steps),
    }
    data.update(extra)
    return Flow.model_validate(data)


def q(qid: str, qtype: str = "text", **extra: Any) -> dict[str, Any]:
    question: dict[str, Any] = {
        "id": qid,
        "type": qtype,
        "text": {"nl": f"Vraag {qid}?", "en": f"Question {qid}?"},
    }
    question.update(extra)
    return question


ROLE_OPTIONS = [
    {"id": "leiden", "text": {"nl": "Leiden", "en": "Lead"}},
    {"id": "steunen", "text": {"nl": "Steunen", "en": "Support"}},
]


@dataclass
class Driver:
    """Plays the shell: applies effects, keeps pending timers, fires them in due order."""

    flow: Flow
    run: Run
    now: datetime
    pending: dict[str, datetime] = field(default_factory=dict)
    log: list[tuple[datetime, Effect]] = field(default_factory=list)
    last: tuple[Effect, ...] = ()

    @classmethod
    def start(
        cls,
        flow: Flow,
        team: Team = TEAM,
        by: str | None = "anna",
        now: datetime = T0,
        event: RegisteredEvent | None = None,
        participants: tuple[str, ...] | None = None,
    ) -> Driver:
        ctx = StartContext(
            run_id="r1", team=team, started_by=by, event=event, participants=participants
        )
        out = engine.start(flow, ctx, now)
        driver = cls(flow, out.run, now)
        driver._apply(out.effects)
        return driver

    def _apply(self, effects: tuple[Effect, ...]) -> None:
        self.last = effects
        for effect in effects:
            self.log.append((self.now, effect))
            if isinstance(effect, ScheduleTimer):
                assert effect.timer_id not in self.pending, f"{effect.timer_id} scheduled twice"
                self.pending[effect.timer_id] = effect.due
            elif isinstance(effect, CancelTimer):
                assert effect.timer_id in self.pending, f"{effect.timer_id} is not pending"
                del self.pending[effect.timer_id]
        assert set(self.pending) == set(self.run.timers)

    def do(self, event: Event) -> tuple[Effect, ...]:
        out = engine.advance(self.flow, self.run, event, self.now)
        if isinstance(event, TimerFired) and event.timer_id in self.run.timers:
            del self.pending[event.timer_id]
        self.run = out.run
        self._apply(out.effects)
        return out.effects

    def answer(
        self,
        who: str,
        step: str,
        question: str,
        value: str | tuple[str, ...] = "",
        kind: AnswerKind = AnswerKind.value,
    ) -> tuple[Effect, ...]:
        return self.do(Answered(who, step, question, value, kind))

    def bell(
        self, who: str, command: BellCommand, minutes: int | None = None
    ) -> tuple[Effect, ...]:
        return self.do(Command(who, command, minutes))

    def wait(self, delta: timedelta) -> None:
        """Move the clock on, firing every timer that falls due on the way."""
        until = self.now + delta
        while self.pending:
            timer_id, due = min(self.pending.items(), key=lambda kv: (kv[1], kv[0]))
            if due > until:
                break
            self.now = max(self.now, due)
            self.do(TimerFired(timer_id))
        self.now = until

    def minutes(self, n: float) -> None:
        self.wait(timedelta(minutes=n))

    # ------------------------------------------------------------------ reading

    def sent(
        self,
        kind: MessageKind | None = None,
        to: Destination | None = None,
        effects: Sequence[Effect] | None = None,
    ) -> list[Send]:
        pool = [e for _, e in self.log] if effects is None else list(effects)
        return [
            e
            for e in pool
            if isinstance(e, Send)
            and (kind is None or e.message.kind == kind)
            and (to is None or e.to == to)
        ]

    def times(self, kind: MessageKind) -> list[timedelta]:
        return [at - T0 for at, e in self.log if isinstance(e, Send) and e.message.kind == kind]


def replies(effects: Sequence[Effect]) -> list[Reply]:
    return [e for e in effects if isinstance(e, Reply)]


THREAD = Destination.thread()


def to(member: str) -> Destination:
    return Destination.person(member)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# =========================================================================== step kinds


def _say_case(d: Driver) -> None:
    assert [s.message.text for s in d.sent(MessageKind.say, THREAD)] == ["Hallo team"]
    assert d.run.status == RunStatus.done


def _say_to_role_case(d: Driver) -> None:
    assert [s.to for s in d.sent(MessageKind.say)] == [to("anna")]


def _ask_case(d: Driver) -> None:
    forms = d.sent(MessageKind.form)
    assert [f.to for f in forms] == [to("anna")]
    assert forms[0].key == "form:vraag:anna"
    assert d.run.step == "vraag"
    d.answer("anna", "vraag", "v", "ja")
    assert d.run.status == RunStatus.done
    assert d.run.answers["vraag"]["v"]["anna"].value == "yes"


def _ask_timeout_case(d: Driver) -> None:
    assert d.pending == {"vraag:timeout": T0 + timedelta(hours=2)}
    d.wait(timedelta(hours=2))
    assert d.run.status == RunStatus.done
    assert "vraag" not in d.run.answers


def _collect_case(d: Driver) -> None:
    assert sorted(f.key for f in d.sent(MessageKind.form)) == [
        "form:lijst:anna",
        "form:lijst:bram",
        "form:lijst:cor",
    ]
    for who in ("anna", "bram", "cor"):
        d.answer(who, "lijst", "hoe", "goed")
    assert d.run.status == RunStatus.done


def _phase_case(d: Driver) -> None:
    header = d.sent(MessageKind.phase, THREAD)[0]
    assert "Fase een" in header.message.text and "10:25" in header.message.text
    assert header.message.controls == ("pause", "extend", "next", "stop", "process")
    assert d.pending == {
        "fase:warn:5m": T0 + minutes(20),
        "fase:warn:1m": T0 + minutes(24),
        "fase:bell": T0 + minutes(25),
    }
    d.minutes(25)
    assert d.times(MessageKind.warning) == [minutes(20), minutes(24)]
    assert d.times(MessageKind.bell) == [minutes(25)]
    assert d.run.status == RunStatus.done


def _round_case(d: Driver) -> None:
    assert [f.to for f in d.sent(MessageKind.form)] == [to("anna")]
    d.answer("anna", "rondje", "r", "Ik begin")
    assert [f.to for f in d.sent(MessageKind.form)] == [to("anna"), to("bram")]
    assert [s.message.text for s in d.sent(MessageKind.say, THREAD)] == ["Anna: Ik begin"]
    d.minutes(5)  # bram's turn runs out
    assert [f.to for f in d.sent(MessageKind.form)][-1] == to("cor")
    d.answer("cor", "rondje", "r", "Ik sluit af")
    assert d.run.status == RunStatus.done


def _summary_case(d: Driver) -> None:
    d.answer("anna", "lijst", "hoe", "goed")
    d.answer("bram", "lijst", "hoe", "moe")
    d.minutes(60 * 24)
    summary = d.sent(MessageKind.summary, THREAD)[0].message.text
    assert "Anna: goed" in summary and "Bram: moe" in summary
    assert "1 persoon heeft nog niet" in summary and "Cor" not in summary  # see_missing: chair


def _branch_case(d: Driver) -> None:
    d.answer("anna", "vraag", "v", "5")
    assert [s.message.text for s in d.sent(MessageKind.say)] == ["hoog"]


def _start_flow_case(d: Driver) -> None:
    assert [e for _, e in d.log if isinstance(e, StartFlow)] == [
        StartFlow("vervolg", ("anna", "bram", "cor"))
    ]
    assert d.run.status == RunStatus.done


def _wait_case(d: Driver) -> None:
    assert d.pending == {"pauze:wait": T0 + minutes(30)}
    d.minutes(30)
    assert d.run.status == RunStatus.done


def _end_case(d: Driver) -> None:
    closing = d.sent(MessageKind.closing, THREAD)
    assert [c.message.text for c in closing] == ["Tot de volgende keer"]
    finishes = [e for _, e in d.log if isinstance(e, Finish)]
    assert finishes == [Finish("done")]
    assert d.run.status == RunStatus.done
    assert d.sent(MessageKind.say) == []  # nothing after the end step runs


STEP_KINDS: list[tuple[str, list[dict[str, Any]], Callable[[Driver], None]]] = [
    ("say", [{"id": "hallo", "say": {"text": {"nl": "Hallo team"}}}], _say_case),
    (
        "say to a role",
        [{"id": "hallo", "say": {"to": "chair", "text": "Alleen jij"}}],
        _say_to_role_case,
    ),
    ("ask", [{"id": "vraag", "ask": {"question": q("v", "yesno")}}], _ask_case),
    (
        "ask with a timeout",
        [{"id": "vraag", "ask": {"question": q("v"), "timeout": "2h"}}],
        _ask_timeout_case,
    ),
    (
        "collect",
        [{"id": "lijst", "collect": {"deadline": "1d", "questions": [q("hoe")]}}],
        _collect_case,
    ),
    ("phase", [{"id": "fase", "phase": {"title": "Fase een", "duration": "25m"}}], _phase_case),
    ("round", [{"id": "rondje", "round": {"question": q("r"), "turn": "5m"}}], _round_case),
    (
        "summary",
        [
            {"id": "lijst", "collect": {"deadline": "1d", "questions": [q("hoe")]}},
            {"id": "samen", "summary": {"to": "thread"}},
        ],
        _summary_case,
    ),
    (
        "branch",
        [
            {"id": "vraag", "ask": {"question": q("v", "scale")}},
            {
                "id": "kies",
                "branch": [
                    {"when": {"answer": "vraag", "at_least": 4}, "goto": "hoog"},
                    {"otherwise": "laag"},
                ],
            },
            {"id": "laag", "say": {"text": "laag"}, "next": "klaar"},
            {"id": "hoog", "say": {"text": "hoog"}},
            {"id": "klaar", "end": {}},
        ],
        _branch_case,
    ),
    ("start_flow", [{"id": "door", "start_flow": "vervolg"}], _start_flow_case),
    ("wait", [{"id": "pauze", "wait": {"for": "30m"}}], _wait_case),
    (
        "end",
        [
            {"id": "einde", "end": {"text": "Tot de volgende keer"}},
            {"id": "nooit", "say": {"text": "nooit"}},
        ],
        _end_case,
    ),
]


@pytest.mark.parametrize(("name", "steps", "check"), STEP_KINDS, ids=[c[0] for c in STEP_KINDS])
def test_each_step_kind_does_what_the_flow_language_says(
    name: str, steps: list[dict[str, Any]], check: Callable[[Driver], None]
) -> None:
    d = Driver.start(make_flow(*steps))
    check(d)
    if d.run.status != RunStatus.active:
        assert d.pending == {} and d.run.timers == {}


def test_a_run_that_goes_past_its_last_step_is_done_and_cancels_nothing_twice() -> None:
    d = Driver.start(make_flow({"id": "a", "say": {"text": "a"}}))
    assert d.run.status == RunStatus.done
    assert [e for e in d.last if isinstance(e, Finish)] == [Finish("done")]


# =========================================================================== the intervision

INTERVISION = make_flow(
    *[
        {
            "id": f"stap-{i}",
            "phase": {
                "title": {"nl": f"Stap {i}", "en": f"Step {i}"},
                "duration": f"{length}m",
                "warnings": ["5m", "1m"],
            },
        }
        for i, length in enumerate((25, 20, 15, 25, 10), 1)
    ],
    {"id": "samen", "summary": {"show": ["process_bells"]}},
    {"id": "klaar", "end": {}},
)


def test_the_intervision_rings_five_bells_at_25_45_60_85_and_95_minutes() -> None:
    d = Driver.start(INTERVISION)
    d.minutes(200)
    assert d.times(MessageKind.bell) == [minutes(m) for m in (25, 45, 60, 85, 95)]
    assert d.times(MessageKind.phase) == [minutes(m) for m in (0, 25, 45, 60, 85)]
    assert d.times(MessageKind.warning) == [
        minutes(m) for m in (20, 24, 40, 44, 55, 59, 80, 84, 90, 94)
    ]
    assert d.run.status == RunStatus.done
    assert d.pending == {}


def test_pausing_seven_minutes_moves_the_bell_by_exactly_seven_minutes() -> None:
    d = Driver.start(INTERVISION)
    d.minutes(10)
    d.bell("anna", BellCommand.pause)
    assert d.pending == {}
    d.minutes(7)
    d.bell("anna", BellCommand.resume)
    assert d.pending["stap-1:bell.1"] == T0 + minutes(32)
    d.minutes(40)
    assert d.times(MessageKind.bell)[0] == minutes(32)
    assert d.times(MessageKind.warning)[:2] == [minutes(27), minutes(31)]


def test_extending_by_five_once_moves_the_bell_by_five_minutes() -> None:
    d = Driver.start(INTERVISION)
    d.minutes(10)
    effects = d.bell("anna", BellCommand.extend, 5)
    assert "10:30" in d.sent(MessageKind.status, effects=effects)[0].message.text
    d.minutes(25)
    assert d.times(MessageKind.bell)[0] == minutes(30)


def test_a_warning_already_given_comes_again_when_an_extension_puts_it_ahead() -> None:
    d = Driver.start(INTERVISION)
    d.minutes(22)  # the 5-minute warning rang at 20
    d.bell("anna", BellCommand.extend, 5)  # the end moves to 30: 5 minutes before is 25
    d.minutes(10)
    assert d.times(MessageKind.warning)[:3] == [minutes(20), minutes(25), minutes(29)]


def test_next_ends_the_phase_now_and_starts_the_next_one() -> None:
    d = Driver.start(INTERVISION)
    d.minutes(3)
    effects = d.bell("anna", BellCommand.next)
    assert [s.message.kind for s in d.sent(effects=effects)] == [
        MessageKind.bell,
        MessageKind.phase,
    ]
    assert d.run.step == "stap-2"
    assert d.pending["stap-2:bell"] == T0 + minutes(23)
    assert not any(k.startswith("stap-1") for k in d.pending)


def test_two_hours_of_pauses_and_extensions_end_at_exactly_the_computed_time() -> None:
    flow = make_flow({"id": "lang", "phase": {"title": "Lang", "duration": "120m"}})
    d = Driver.start(flow)
    expected_end = T0 + minutes(120)
    # Odd, sub-second moments on purpose: a drifting implementation would show.
    script: list[tuple[timedelta, BellCommand, int | None]] = [
        (timedelta(minutes=7, seconds=13, microseconds=1), BellCommand.pause, None),
        (timedelta(minutes=2, seconds=59, microseconds=999), BellCommand.resume, None),
        (timedelta(minutes=11, seconds=1), BellCommand.extend, 5),
        (timedelta(minutes=3, microseconds=7), BellCommand.pause, None),
        (timedelta(seconds=1), BellCommand.extend, 3),
        (timedelta(minutes=9, seconds=30), BellCommand.resume, None),
        (timedelta(minutes=30), BellCommand.extend, 1),
        (timedelta(minutes=1), BellCommand.pause, None),
        (timedelta(minutes=4, seconds=4), BellCommand.resume, None),
        (timedelta(minutes=20), BellCommand.extend, 10),
    ]
    paused_at: datetime | None = None
    for delta, command, extra in script:
        d.wait(delta)
        d.bell("anna", command, extra)
        if command == BellCommand.pause:
            paused_at = d.now
        elif command == BellCommand.resume:
            assert paused_at is not None
            expected_end += d.now - paused_at
            paused_at = None
        else:
            expected_end += minutes(extra or 0)
    assert d.run.state is not None and d.run.state.ends_at == expected_end
    d.wait(timedelta(hours=4))
    bell_at = next(
        at for at, e in d.log if isinstance(e, Send) and e.message.kind == MessageKind.bell
    )
    assert bell_at == expected_end
    assert d.run.status == RunStatus.done


def test_advance_chair_waits_after_the_bell_until_the_chair_says_next() -> None:
    flow = make_flow(
        {"id": "fase", "phase": {"title": "Fase", "duration": "10m", "advance": "chair"}},
        {"id": "daarna", "say": {"text": "daarna"}},
    )
    d = Driver.start(flow)
    d.minutes(30)
    assert d.run.step == "fase" and d.run.status == RunStatus.active
    assert d.times(MessageKind.bell) == [minutes(10)]
    assert [s.to for s in d.sent(MessageKind.status)] == [to("anna")]
    effects = d.bell("anna", BellCommand.next)
    assert [s.message.text for s in d.sent(MessageKind.say, effects=effects)] == ["daarna"]
    assert Finish("done") in effects


def test_extra_time_after_the_bell_counts_from_now() -> None:
    flow = make_flow(
        {"id": "fase", "phase": {"title": "Fase", "duration": "10m", "advance": "chair"}}
    )
    d = Driver.start(flow)
    d.minutes(15)
    d.bell("anna", BellCommand.extend, 5)
    assert d.run.state is not None and d.run.state.ends_at == T0 + minutes(20)
    d.minutes(5)
    assert d.times(MessageKind.bell) == [minutes(10), minutes(20)]


def test_a_bell_far_too_late_is_not_rung_but_the_chair_is_told() -> None:
    d = Driver.start(INTERVISION)
    d.now = T0 + minutes(40)  # the shell was down from 19 to 40 minutes
    for timer_id in sorted(d.pending, key=lambda k: d.pending[k]):
        if timer_id in d.run.timers:
            d.do(TimerFired(timer_id, late=True))
    assert d.sent(MessageKind.bell) == [] and d.sent(MessageKind.warning) == []
    assert [s.to for s in d.sent(MessageKind.status)] == [to("anna")]
    assert d.run.step == "stap-2"


def test_a_manual_ring_sends_a_bell_and_changes_nothing_else() -> None:
    d = Driver.start(INTERVISION)
    before = d.run
    effects = d.bell("anna", BellCommand.ring)
    assert [s.message.kind for s in d.sent(effects=effects)] == [MessageKind.bell]
    assert d.run.version == before.version + 1
    assert d.run.state == before.state and d.run.timers == before.timers


# =========================================================================== permissions

REFUSALS = [
    ("bram", BellCommand.pause, "voorzitter"),
    ("bram", BellCommand.extend, "voorzitter"),
    ("bram", BellCommand.next, "voorzitter"),
    ("bram", BellCommand.stop, "voorzitter"),
    ("cor", BellCommand.ring, "voorzitter"),
]


@pytest.mark.parametrize(("who", "command", "role"), REFUSALS)
def test_only_the_chair_works_the_bell_and_others_get_a_refusal_naming_the_role(
    who: str, command: BellCommand, role: str
) -> None:
    d = Driver.start(INTERVISION)
    before = d.run
    effects = d.bell(who, command, 5 if command == BellCommand.extend else None)
    assert d.run is before
    [reply] = replies(effects)
    assert reply.member == who and role in reply.message.text
    assert len(effects) == 1


def test_a_refusal_is_in_the_teams_language() -> None:
    team = Team(members=TEAM.members, language="en")
    d = Driver.start(INTERVISION, team=team)
    [reply] = replies(d.bell("bram", BellCommand.pause))
    assert reply.message.text == "Only someone with the role chair can work the bell."


def test_anyone_may_ring_the_process_bell_and_it_never_names_them() -> None:
    d = Driver.start(INTERVISION)
    for who in ("bram", "cor", "anna"):
        effects = d.bell(who, BellCommand.process)
        [send] = d.sent(effects=effects)
        assert send.to == THREAD and send.message.kind == MessageKind.process_bell
        assert who.title() not in send.message.text and who not in send.key
    assert d.run.process_bells == 3
    d.minutes(200)
    summary = d.sent(MessageKind.summary)[0].message.text
    assert "3 keer" in summary


def test_a_flow_may_keep_the_process_bell_to_some_roles() -> None:
    flow = INTERVISION.model_copy(
        update={
            "permissions": INTERVISION.permissions.model_copy(update={"process_bell": ("chair",)})
        }
    )
    d = Driver.start(flow)
    [reply] = replies(d.bell("bram", BellCommand.process))
    assert "procesbel" in reply.message.text and d.run.process_bells == 0


def test_someone_without_a_start_role_cannot_start_the_flow() -> None:
    flow = INTERVISION.model_copy(
        update={"permissions": INTERVISION.permissions.model_copy(update={"start": ("chair",)})}
    )
    assert engine.may_start(flow, person("anna", "chair"))
    assert not engine.may_start(flow, person("bram"))
    assert engine.may_start(flow, None)  # a schedule
    d = Driver.start(flow, by="bram")
    assert d.run.status == RunStatus.refused
    [reply] = replies(d.last)
    assert reply.member == "bram" and "voorzitter" in reply.message.text
    assert d.pending == {} and d.sent() == []
    assert Driver.start(flow, by=None).run.status == RunStatus.active


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (BellCommand.pause, "geen tijdvak"),
        (BellCommand.resume, "geen tijdvak"),
        (BellCommand.extend, "geen tijdvak"),
    ],
)
def test_time_box_commands_outside_a_phase_get_a_polite_reply(
    command: BellCommand, expected: str
) -> None:
    d = Driver.start(
        make_flow({"id": "lijst", "collect": {"deadline": "1d", "questions": [q("hoe")]}})
    )
    before = d.run
    [reply] = replies(d.bell("anna", command, 5))
    assert expected in reply.message.text and d.run is before


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (BellCommand.pause, BellCommand.pause, "staat al stil"),
        (None, BellCommand.resume, "loopt al"),
    ],
)
def test_pausing_twice_or_resuming_a_running_clock_changes_nothing(
    first: BellCommand | None, second: BellCommand, expected: str
) -> None:
    d = Driver.start(INTERVISION)
    if first is not None:
        d.bell("anna", first)
    before = d.run
    [reply] = replies(d.bell("anna", second))
    assert expected in reply.message.text and d.run is before


@pytest.mark.parametrize("step", ["fase", "lijst", "vraag", "wacht"])
def test_stop_ends_the_run_at_any_step_and_cancels_every_timer(step: str) -> None:
    steps = {
        "fase": {"id": "fase", "phase": {"title": "F", "duration": "25m"}},
        "lijst": {
            "id": "lijst",
            "collect": {"deadline": "1d", "reminders": ["2h"], "questions": [q("hoe")]},
        },
        "vraag": {"id": "vraag", "ask": {"question": q("v"), "timeout": "1h"}},
        "wacht": {"id": "wacht", "wait": {"for": "1h"}},
    }
    d = Driver.start(make_flow(steps[step], {"id": "daarna", "say": {"text": "niet"}}))
    assert d.pending
    effects = d.bell("anna", BellCommand.stop)
    assert d.run.status == RunStatus.stopped and d.pending == {} and d.run.timers == {}
    assert Finish("stopped") in effects
    assert d.sent(MessageKind.say) == []
    [reply] = replies(d.bell("anna", BellCommand.next))
    assert "afgelopen" in reply.message.text


def test_next_during_a_collection_closes_it_early() -> None:
    d = Driver.start(
        make_flow(
            {"id": "lijst", "collect": {"deadline": "1d", "questions": [q("hoe")]}},
            {"id": "daarna", "say": {"text": "daarna"}},
        )
    )
    effects = d.bell("anna", BellCommand.next)
    closed = [e for e in effects if isinstance(e, Edit)]
    assert len(closed) == 3 and all(e.message.closed for e in closed)
    assert d.run.status == RunStatus.done


def test_an_extension_must_be_between_one_and_120_minutes() -> None:
    d = Driver.start(INTERVISION)
    before = d.run
    [reply] = replies(d.bell("anna", BellCommand.extend, 500))
    assert "120" in reply.message.text and d.run is before


# =========================================================================== collect

PREP = make_flow(
    {
        "id": "prep",
        "collect": {
            "deadline": "1d",
            "reminders": ["12h", "2h"],
            "questions": [
                q("hoe"),
                q("rol", "choice", options=ROLE_OPTIONS),
                q("extra", optional=True),
            ],
        },
    },
    {"id": "samen", "summary": {"to": "thread"}},
)


def test_reminders_go_only_to_those_who_have_not_answered_every_required_question() -> None:
    d = Driver.start(PREP)
    d.answer("bram", "prep", "hoe", "goed")
    d.answer("bram", "prep", "rol", "leiden")  # bram is complete without the optional one
    d.answer("cor", "prep", "hoe", "goed")  # cor is not
    d.wait(timedelta(hours=12))
    assert [s.to for s in d.sent(MessageKind.reminder)] == [to("anna"), to("cor")]
    d.answer("cor", "prep", "rol", "steunen")
    d.wait(timedelta(hours=10))
    assert [s.to for s in d.sent(MessageKind.reminder)][2:] == [to("anna")]


def test_a_reminder_whose_moment_has_passed_is_not_scheduled() -> None:
    flow = make_flow(
        {
            "id": "prep",
            "collect": {"deadline": "3h", "reminders": ["1d", "1h"], "questions": [q("hoe")]},
        }
    )
    d = Driver.start(flow)
    assert sorted(d.pending) == ["prep:deadline", "prep:remind:1"]


def test_a_collection_closes_as_soon_as_everyone_has_answered() -> None:
    d = Driver.start(PREP)
    for who in ("anna", "bram", "cor"):
        d.answer(who, "prep", "hoe", "goed")
        d.answer(who, "prep", "rol", "leiden")
    # The optional question is still open to each of them: nobody's part is done yet.
    assert d.run.status == RunStatus.active
    d.answer("anna", "prep", "extra", "nog iets")  # every question answered
    d.answer("bram", "prep", "extra", "-")  # the optional one skipped
    d.answer("cor", "prep", "", "", AnswerKind.done)  # "klaar" with the optional one left
    assert d.run.status == RunStatus.done
    assert d.sent(MessageKind.summary)
    closed = [e for _, e in d.log if isinstance(e, Edit) and e.message.closed]
    assert sorted(e.key for e in closed) == ["form:prep:anna", "form:prep:bram", "form:prep:cor"]


def test_klaar_with_a_required_question_open_names_its_number_and_changes_nothing() -> None:
    d = Driver.start(PREP)
    d.answer("anna", "prep", "rol", "leiden")
    before = d.run
    [reply] = replies(d.answer("anna", "prep", "", "", AnswerKind.done))
    assert reply.message.text == "Er staan nog vragen open die je niet kunt overslaan: 1."
    assert d.run is before


def test_klaar_ends_ones_own_part_only_and_is_confirmed() -> None:
    d = Driver.start(PREP)
    d.answer("anna", "prep", "hoe", "goed")
    d.answer("anna", "prep", "rol", "leiden")
    [reply] = replies(d.answer("anna", "prep", "", "", AnswerKind.done))
    assert reply.member == "anna" and "klaar" in reply.message.text
    assert d.run.status == RunStatus.active and d.run.state is not None
    assert d.run.state.done == ("anna",)


def test_a_form_of_optional_questions_stays_open_for_the_others_after_one_answer() -> None:
    flow = make_flow(
        {
            "id": "kijk",
            "collect": {
                "deadline": "1h",
                "questions": [q("a", optional=True), q("b", optional=True)],
            },
        },
        {"id": "samen", "summary": {"to": "thread"}},
    )
    d = Driver.start(flow)
    d.answer("anna", "kijk", "a", "iets")
    d.answer("anna", "kijk", "b", "meer")
    assert d.run.status == RunStatus.active  # bram and cor have not answered
    closed = [e for _, e in d.log if isinstance(e, Edit) and e.message.closed]
    assert closed == []
    d.wait(timedelta(hours=1))  # the deadline closes it for everyone
    assert d.run.status == RunStatus.done


def test_an_answer_can_be_changed_while_the_collection_is_open_and_the_form_shows_it() -> None:
    d = Driver.start(PREP)
    d.answer("anna", "prep", "rol", "leiden")
    effects = d.answer("anna", "prep", "rol", "Steunen")  # a label works too
    [edit] = [e for e in effects if isinstance(e, Edit)]
    assert edit.key == "form:prep:anna"
    rol = next(v for v in edit.message.questions if v.id == "rol")
    assert rol.current == "steunen"
    assert d.run.answers["prep"]["rol"]["anna"].value == "steunen"


def test_an_answer_after_the_collection_closed_is_refused_politely_and_not_stored() -> None:
    flow = make_flow(
        *PREP.model_dump(by_alias=True, exclude_none=True)["steps"][:1],
        {"id": "fase", "phase": {"title": "F", "duration": "1h"}},
    )
    d = Driver.start(flow)
    d.wait(timedelta(days=1))
    assert d.run.step == "fase"
    before = d.run
    [reply] = replies(d.answer("anna", "prep", "hoe", "te laat"))
    assert "gesloten" in reply.message.text
    assert d.run is before
    assert "anna" not in d.run.answers.get("prep", {}).get("hoe", {})


def test_absent_members_are_not_asked_and_are_named_as_absent_not_missing() -> None:
    team = Team(members=(person("anna", "chair"), person("bram", absent=True), person("cor")))
    flow = PREP.model_copy(
        update={"permissions": PREP.permissions.model_copy(update={"see_missing": ("member",)})}
    )
    d = Driver.start(flow, team=team)
    assert [f.to for f in d.sent(MessageKind.form)] == [to("anna"), to("cor")]
    d.answer("anna", "prep", "hoe", "goed")
    d.answer("anna", "prep", "rol", "leiden")
    d.wait(timedelta(days=1))
    summary = d.sent(MessageKind.summary)[0].message.text
    missing = next(line for line in summary.splitlines() if line.startswith("Nog niet"))
    absent = next(line for line in summary.splitlines() if line.startswith("Afwezig"))
    assert "Cor" in missing and "Bram" not in missing and "Bram" in absent


def test_someone_who_joins_during_a_collection_gets_the_form_too() -> None:
    d = Driver.start(PREP)
    effects = d.do(MemberJoined(person("dirk")))
    assert [(s.key, s.to) for s in d.sent(MessageKind.form, effects=effects)] == [
        ("form:prep:dirk", to("dirk"))
    ]
    for who in ("anna", "bram", "cor"):
        d.answer(who, "prep", "hoe", "x")
        d.answer(who, "prep", "rol", "leiden")
    assert d.run.status == RunStatus.active  # dirk still holds it open


def test_someone_who_leaves_or_is_absent_no_longer_holds_a_collection_open() -> None:
    d = Driver.start(PREP)
    for who in ("anna", "bram"):
        d.answer(who, "prep", "hoe", "x")
        d.answer(who, "prep", "rol", "leiden")
        d.answer(who, "prep", "", "", AnswerKind.done)
    d.do(MemberAbsent("cor"))
    assert d.run.status == RunStatus.done
    d2 = Driver.start(PREP)
    for who in ("anna", "bram"):
        d2.answer(who, "prep", "hoe", "x")
        d2.answer(who, "prep", "rol", "leiden")
        d2.answer(who, "prep", "", "", AnswerKind.done)
    d2.do(MemberLeft("cor"))
    assert d2.run.status == RunStatus.done
    # The summary says once that Cor left (issue 19), and never lists him as missing.
    summary = d2.sent(MessageKind.summary)[0].message.text
    assert summary.count("Cor") == 1 and "Niet meer in het team: Cor" in summary


def test_someone_back_from_absence_gets_the_open_form() -> None:
    team = Team(members=(person("anna", "chair"), person("bram", absent=True)))
    d = Driver.start(PREP, team=team)
    effects = d.do(MemberAbsent("bram", absent=False))
    assert [s.key for s in d.sent(MessageKind.form, effects=effects)] == ["form:prep:bram"]


def test_member_events_that_change_nothing_leave_the_run_as_it_was() -> None:
    d = Driver.start(PREP)
    before = d.run
    assert d.do(MemberAbsent("nobody")) == () and d.run is before
    assert d.do(MemberLeft("nobody")) == () and d.run is before
    assert d.do(MemberAbsent("anna", absent=False)) == () and d.run is before


# =========================================================================== answers by type

TYPED = make_flow(
    {
        "id": "v",
        "collect": {
            "deadline": "1d",
            "questions": [
                q("tekst"),
                q("keuze", "choice", options=ROLE_OPTIONS),
                q("meer", "multi", options=ROLE_OPTIONS),
                q("schaal", "scale", min=1, max=5),
                q("janee", "yesno"),
                q("datum", "date"),
                q("getal", "number", min=0, max=10),
                q("wie", "people"),
                q("mag", optional=True, not_applicable=True),
            ],
        },
    }
)


INVALID = [
    ("tekst", "   ", "leeg"),
    ("tekst", "x" * 4001, "te lang"),
    ("keuze", "voorzitten", "Kies één: 1 = Leiden, 2 = Steunen (het nummer, of het begin"),
    ("keuze", ("leiden", "steunen"), "Kies één"),
    ("keuze", "3", "Kies één: 1 = Leiden"),
    ("meer", ("leiden", "zingen"), "Kies een of meer: 1 = Leiden, 2 = Steunen (nummers"),
    ("meer", (), "Kies een of meer"),
    ("schaal", "6", "Antwoord met een getal van 1 tot 5."),
    ("schaal", "drie", "Antwoord met een getal van 1 tot 5."),
    ("schaal", "2.5", "Antwoord met een getal van 1 tot 5."),
    ("schaal", "", "Antwoord met een getal van 1 tot 5."),
    ("janee", "misschien", "Antwoord met ja of nee."),
    ("datum", "31-02-2026", "31-02-2026 bestaat niet"),
    ("datum", "morgen", "Antwoord met een datum"),
    ("getal", "11", "Antwoord met een getal van 0 tot 10."),
    ("getal", "veel", "Antwoord met een getal van 0 tot 10."),
    ("wie", ("anna", "zorro"), "Kies een of meer collega's: 1 = Anna, 2 = Bram, 3 = Cor (nummer"),
    ("mag", "", "Overslaan: typ - (of overslaan)."),
]


@pytest.mark.parametrize(("question", "value", "expected"), INVALID)
def test_an_invalid_answer_gets_a_re_prompt_and_changes_nothing(
    question: str, value: str | tuple[str, ...], expected: str
) -> None:
    d = Driver.start(TYPED)
    before = d.run
    effects = d.answer("bram", "v", question, value)
    [reply] = replies(effects)
    assert len(effects) == 1
    assert reply.member == "bram" and expected in reply.message.text
    assert f"Vraag {question}?" in reply.message.text  # says which question
    assert d.run is before


@pytest.mark.parametrize(
    ("question", "kind", "expected"),
    [
        ("tekst", AnswerKind.skip, "niet overslaan"),
        ("tekst", AnswerKind.not_applicable, "n.v.t."),
    ],
)
def test_skipping_a_required_question_or_saying_na_where_not_offered_is_refused(
    question: str, kind: AnswerKind, expected: str
) -> None:
    d = Driver.start(TYPED)
    before = d.run
    [reply] = replies(d.answer("bram", "v", question, "", kind))
    assert expected in reply.message.text and d.run is before


VALID: list[tuple[str, str | tuple[str, ...], object]] = [
    ("tekst", "  Rustig  ", "Rustig"),
    ("keuze", "leiden", "leiden"),
    ("keuze", "STEUNEN", "steunen"),
    ("keuze", ("leiden",), "leiden"),
    ("meer", ("steunen", "leiden", "leiden"), ("leiden", "steunen")),
    ("meer", "leiden, steunen", ("leiden", "steunen")),
    ("schaal", " 4 ", 4),
    ("janee", "Ja", "yes"),
    ("janee", "n", "no"),
    ("janee", "yes", "yes"),
    ("datum", "2026-12-01", "2026-12-01"),
    ("datum", "1-12-2026", "2026-12-01"),
    ("getal", "7", 7),
    ("getal", "2,5", 2.5),
    ("wie", ("cor", "anna"), ("anna", "cor")),
    ("wie", "Bram", ("bram",)),
    # Forms that say what to type: choices by number or the start of the label, several
    # with a comma, ; or "en"/"and", people by number, name or @mention.
    ("keuze", "2", "steunen"),
    ("keuze", "2.", "steunen"),
    ("keuze", "lei", "leiden"),
    ("keuze", "St", "steunen"),
    ("meer", "1;2", ("leiden", "steunen")),
    ("meer", "steunen en leiden", ("leiden", "steunen")),
    ("meer", "2 and 1", ("leiden", "steunen")),
    ("wie", "@bram", ("bram",)),
    ("wie", "1 en @cor", ("anna", "cor")),
    ("wie", "3; Anna", ("anna", "cor")),
    ("wie", "br", ("bram",)),
]


@pytest.mark.parametrize(("question", "value", "stored"), VALID)
def test_a_valid_answer_is_stored_in_its_canonical_form(
    question: str, value: str | tuple[str, ...], stored: object
) -> None:
    d = Driver.start(TYPED)
    effects = d.answer("bram", "v", question, value)
    assert replies(effects) == []
    assert d.run.answers["v"][question]["bram"].value == stored


@pytest.mark.parametrize("kind", [AnswerKind.skip, AnswerKind.not_applicable])
def test_an_optional_question_may_be_skipped_or_answered_na(kind: AnswerKind) -> None:
    d = Driver.start(TYPED)
    d.answer("bram", "v", "mag", "", kind)
    answer = d.run.answers["v"]["mag"]["bram"]
    assert answer.kind == kind and answer.value is None


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("-", AnswerKind.skip),
        ("overslaan", AnswerKind.skip),
        ("Skip", AnswerKind.skip),
        ("nvt", AnswerKind.not_applicable),
        ("N.v.t.", AnswerKind.not_applicable),
    ],
)
def test_an_optional_question_is_skipped_by_its_typed_words(typed: str, kind: AnswerKind) -> None:
    d = Driver.start(TYPED)
    assert replies(d.answer("bram", "v", "mag", typed)) == []
    answer = d.run.answers["v"]["mag"]["bram"]
    assert answer.kind == kind and answer.value is None


def test_a_skip_word_on_a_required_question_says_it_cannot_be_skipped() -> None:
    d = Driver.start(TYPED)
    [reply] = replies(d.answer("bram", "v", "schaal", "overslaan"))
    assert "niet overslaan" in reply.message.text


def test_re_prompts_come_in_english_for_an_english_team() -> None:
    d = Driver.start(TYPED, team=Team(members=TEAM.members, language="en"))
    [reply] = replies(d.answer("bram", "v", "schaal", "9"))
    assert reply.message.text == "Question schaal?\nAnswer with a number from 1 to 5."


# =========================================================================== stale and double input


def test_a_stale_click_after_the_flow_moved_on_is_already_handled() -> None:
    flow = make_flow(
        {"id": "vraag", "ask": {"question": q("v", "yesno")}},
        {"id": "fase", "phase": {"title": "F", "duration": "5m"}},
    )
    d = Driver.start(flow)
    d.answer("anna", "vraag", "v", "ja")
    before = d.run
    [reply] = replies(d.answer("anna", "vraag", "v", "nee"))
    assert "al afgehandeld" in reply.message.text and d.run is before


def test_a_double_click_gives_one_transition_and_no_second_message() -> None:
    d = Driver.start(PREP)
    first = d.answer("anna", "prep", "rol", "leiden")
    after_first = d.run
    second = d.answer("anna", "prep", "rol", "leiden")
    assert [e for e in first if isinstance(e, Edit)]
    assert second == () and d.run is after_first


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Answered("anna", "nergens", "x", "ja"), "staat nu niet open"),
        (Answered("anna", "prep", "bestaat-niet", "ja"), "staat nu niet open"),
        (Answered("zorro", "prep", "hoe", "ja"), "doet niet mee"),
        (Command("zorro", BellCommand.process), "doet niet mee"),
    ],
)
def test_answers_for_unknown_steps_questions_or_people_change_nothing(
    event: Event, expected: str
) -> None:
    d = Driver.start(PREP)
    before = d.run
    [reply] = replies(d.do(event))
    assert expected in reply.message.text and d.run is before


def test_an_ask_for_the_chair_refuses_answers_from_others() -> None:
    flow = make_flow({"id": "kies", "ask": {"to": "chair", "question": q("wie", "people")}})
    d = Driver.start(flow)
    before = d.run
    [reply] = replies(d.answer("bram", "kies", "wie", "cor"))
    assert "niet aan jou gesteld" in reply.message.text and d.run is before


def test_in_a_round_only_the_person_whose_turn_it_is_may_answer() -> None:
    d = Driver.start(make_flow({"id": "rondje", "round": {"question": q("r")}}))
    assert "nog niet aan de beurt" in replies(d.answer("cor", "rondje", "r", "x"))[0].message.text
    d.answer("anna", "rondje", "r", "eerst")
    assert "al afgehandeld" in replies(d.answer("anna", "rondje", "r", "nog eens"))[0].message.text


def test_a_timer_that_is_not_pending_is_ignored() -> None:
    d = Driver.start(INTERVISION)
    before = d.run
    out = engine.advance(INTERVISION, d.run, TimerFired("stap-3:bell"), T0 + minutes(1))
    assert out.run is before and out.effects == ()
    d.minutes(10)
    d.bell("anna", BellCommand.pause)
    d.bell("anna", BellCommand.resume)
    stale = engine.advance(INTERVISION, d.run, TimerFired("stap-1:bell"), d.now)
    assert stale.run is d.run and stale.effects == ()


def test_a_finished_run_tells_members_it_has_ended_and_ignores_timers() -> None:
    d = Driver.start(make_flow({"id": "a", "say": {"text": "a"}}))
    run = d.run
    [reply] = replies(d.answer("bram", "a", "x", "y"))
    assert "afgelopen" in reply.message.text and d.run is run
    out = engine.advance(d.flow, run, TimerFired("a:wait"), T0)
    assert out.run is run and out.effects == ()
    assert engine.advance(d.flow, run, MemberJoined(person("dirk")), T0).effects == ()


def test_time_never_runs_backwards_for_a_run() -> None:
    d = Driver.start(INTERVISION)
    d.minutes(10)
    d.bell("cor", BellCommand.process)
    assert d.run.clock == T0 + minutes(10)
    out = engine.advance(INTERVISION, d.run, Command("anna", BellCommand.pause), T0)
    assert out.run.clock == T0 + minutes(10)
    assert out.run.state is not None and out.run.state.paused_at == T0 + minutes(10)


# =========================================================================== visibility

SECRET = "GEHEIM-zelfzorg"
CHAIR_ONLY = "ALLEEN-VOORZITTER-casus"

VISIBLE = make_flow(
    {
        "id": "terug",
        "collect": {
            "deadline": "1d",
            "questions": [
                q("prive", visibility="private"),
                q("voorzitter", visibility="chair"),
                q("team"),
                q("anoniem", anonymous=True),
                q("cijfer", "scale", anonymous=True, min=1, max=5),
            ],
        },
    },
    {"id": "team-overzicht", "summary": {"to": "thread"}},
    {"id": "voor-de-voorzitter", "summary": {"to": "chair"}},
    {"id": "voor-de-starter", "summary": {"to": "starter"}},
)


def _fill_visible(d: Driver) -> None:
    for who, word, score in (("anna", "zon", "2"), ("bram", "appel", "5"), ("cor", "maan", "4")):
        d.answer(who, "terug", "prive", f"{SECRET} {who}")
        d.answer(who, "terug", "voorzitter", f"{CHAIR_ONLY} {who}")
        d.answer(who, "terug", "team", f"team-{who}")
        d.answer(who, "terug", "anoniem", word)
        d.answer(who, "terug", "cijfer", score)


def _texts(effects: list[Effect], where: Callable[[Send | Edit], bool]) -> list[str]:
    return [e.message.text for e in effects if isinstance(e, Send | Edit) and where(e)]


def test_a_private_answer_never_appears_in_any_message_but_the_persons_own_form() -> None:
    d = Driver.start(VISIBLE, by="bram")
    _fill_visible(d)
    effects = [e for _, e in d.log]
    keys_to = {e.key: e.to for e in effects if isinstance(e, Send)}
    for effect in effects:
        if not isinstance(effect, Send | Edit):
            continue
        words = effect.message.text + repr(effect.message.questions)
        if SECRET in words:
            owner = words.split(SECRET)[1].split("'")[0].strip()
            assert isinstance(effect, Edit) and effect.key == f"form:terug:{owner}"
            assert keys_to[effect.key] == to(owner)
    summaries = d.sent(MessageKind.summary)
    assert len(summaries) == 3
    assert all(SECRET not in s.message.text for s in summaries)
    assert "Anna: beantwoord" in summaries[0].message.text


def test_a_chair_answer_goes_only_to_the_chair() -> None:
    d = Driver.start(VISIBLE, by="bram")
    _fill_visible(d)
    by_audience = {s.key: s.message.text for s in d.sent(MessageKind.summary)}
    assert CHAIR_ONLY not in by_audience["summary:team-overzicht"]
    assert f"{CHAIR_ONLY} bram" in by_audience["summary:voor-de-voorzitter:anna"]
    assert CHAIR_ONLY not in by_audience["summary:voor-de-starter:bram"]
    for text_ in _texts([e for _, e in d.log], lambda e: not e.key.startswith("form:")):
        if CHAIR_ONLY in text_:
            assert text_ == by_audience["summary:voor-de-voorzitter:anna"]


def test_anonymous_answers_carry_no_name_and_are_listed_by_value() -> None:
    d = Driver.start(VISIBLE, by="bram")
    _fill_visible(d)
    summary = d.sent(MessageKind.summary, THREAD)[0].message.text
    block = summary.split("Vraag anoniem?\n")[1].split("\n\n")[0].splitlines()
    assert block == ["• appel", "• maan", "• zon"]  # alphabetical, not anna-bram-cor
    scores = summary.split("Vraag cijfer?\n")[1].split("\n\n")[0].splitlines()
    assert scores[:3] == ["• 2", "• 4", "• 5"]
    assert scores[3].startswith("Verschillend")
    assert "Anna: team-anna" in summary


def test_an_anonymous_round_posts_its_answers_together_at_the_end_sorted() -> None:
    flow = make_flow({"id": "rondje", "round": {"question": q("r", anonymous=True)}})
    d = Driver.start(flow)
    for who, word in (("anna", "zon"), ("bram", "appel")):
        assert d.sent(MessageKind.say, effects=d.answer(who, "rondje", "r", word)) == []
    effects = d.answer("cor", "rondje", "r", "maan")
    [post] = d.sent(MessageKind.say, effects=effects)
    assert post.message.text.splitlines()[1:] == ["• appel", "• maan", "• zon"]
    assert not any(name in post.message.text for name in ("Anna", "Bram", "Cor"))


def test_divergent_choices_are_listed_with_counts_and_equal_ones_are_not() -> None:
    d = Driver.start(PREP)
    for who, role in (("anna", "leiden"), ("bram", "leiden"), ("cor", "steunen")):
        d.answer(who, "prep", "hoe", "x")
        d.answer(who, "prep", "rol", role)
        d.answer(who, "prep", "extra", "-")
    summary = d.sent(MessageKind.summary)[0].message.text
    assert "Verschillend: Leiden (2), Steunen (1)" in summary
    d2 = Driver.start(PREP)
    for who in ("anna", "bram", "cor"):
        d2.answer(who, "prep", "hoe", "x")
        d2.answer(who, "prep", "rol", "leiden")
        d2.answer(who, "prep", "extra", "-")
    assert "Verschillend" not in d2.sent(MessageKind.summary)[0].message.text


def test_missing_names_are_shown_only_to_those_who_may_see_them() -> None:
    d = Driver.start(PREP)
    d.wait(timedelta(days=1))
    # Default permissions: see_missing is the chair's; the thread only hears how many.
    summary = d.sent(MessageKind.summary)[0].message.text
    assert "3 mensen hebben nog niet" in summary and "Anna" not in summary


def test_a_summary_template_is_rendered_sandboxed_and_a_broken_one_falls_back() -> None:
    good = make_flow(
        {"id": "prep", "collect": {"deadline": "1d", "questions": [q("hoe")]}},
        {
            "id": "s",
            "summary": {
                "template": {
                    "nl": "{{ questions[0].text }}: {% for a in questions[0].answers %}"
                    "{{ a.name }}={{ a.value }};{% endfor %} bel={{ process_bells }}"
                }
            },
        },
    )
    d = Driver.start(good)
    for who in ("anna", "bram", "cor"):
        d.answer(who, "prep", "hoe", who)
    assert d.sent(MessageKind.summary)[0].message.text == (
        "Vraag hoe?: Anna=anna;Bram=bram;Cor=cor; bel=0"
    )
    broken = make_flow(
        {"id": "prep", "collect": {"deadline": "1d", "questions": [q("hoe")]}},
        {"id": "s", "summary": {"template": "{{ questions.__class__.__mro__ }} {{ 1 / 0 }}"}},
    )
    d2 = Driver.start(broken)
    for who in ("anna", "bram", "cor"):
        d2.answer(who, "prep", "hoe", who)
    text_ = d2.sent(MessageKind.summary)[0].message.text
    assert "Anna: anna" in text_ and "sjabloon" in text_
    assert d2.run.status == RunStatus.done


def test_render_summary_can_be_called_for_any_audience() -> None:
    d = Driver.start(VISIBLE, by="bram")
    _fill_visible(d)
    body = SummaryBody(to="thread")
    from bot.core.model import Visibility

    everyone = Audience(frozenset(Visibility), True)
    team = Audience(frozenset({Visibility.team}), False)
    assert CHAIR_ONLY in render_summary(VISIBLE, d.run, body, everyone)
    assert CHAIR_ONLY not in render_summary(VISIBLE, d.run, body, team)


# =========================================================================== branches


@pytest.mark.parametrize(
    ("condition", "answers", "goes_to"),
    [
        ({"answer": "p.rol", "equals": "leiden"}, ["leiden", "steunen"], "ja"),
        ({"answer": "p.rol", "equals": "leiden", "who": "all"}, ["leiden", "steunen"], "nee"),
        ({"answer": "p.rol", "equals": "leiden", "who": "all"}, ["leiden", "leiden"], "ja"),
        ({"answer": "p.rol", "in": ["steunen", "x"]}, ["leiden", "steunen"], "ja"),
        ({"answer": "p.cijfer", "at_least": 4}, ["3", "4"], "ja"),
        ({"answer": "p.cijfer", "at_least": 4, "who": "all"}, ["3", "4"], "nee"),
        ({"answer": "p.cijfer", "at_most": 2}, ["3", "4"], "nee"),
        ({"answer": "p.cijfer", "equals": 3}, ["3", "4"], "ja"),
        ({"answer": "p.ok", "equals": True}, ["ja", "nee"], "ja"),
        ({"answer": "p.ok", "equals": "yes", "who": "all"}, ["ja", "nee"], "nee"),
        ({"answer": "p.ok", "equals": "nee"}, ["ja", "ja"], "nee"),
        ({"answer": "p.rol", "answered": True, "who": "all"}, ["leiden", None], "nee"),
        ({"answer": "p.rol", "answered": False}, ["leiden", None], "ja"),
        ({"answer": "p.rol", "answered": True, "who": "all"}, ["leiden", "leiden"], "ja"),
    ],
)
def test_branch_conditions_are_evaluated_against_stored_answers(
    condition: dict[str, Any], answers: list[str | None], goes_to: str
) -> None:
    flow = make_flow(
        {
            "id": "p",
            "collect": {
                "deadline": "1d",
                "questions": [
                    q("rol", "choice", options=ROLE_OPTIONS, optional=True),
                    q("cijfer", "scale", optional=True),
                    q("ok", "yesno", optional=True),
                    q("klaar", "yesno"),
                ],
            },
        },
        {"id": "keuze", "branch": [{"when": condition, "goto": "ja"}, {"otherwise": "nee"}]},
        {"id": "ja", "say": {"text": "ja"}, "next": "klaar"},
        {"id": "nee", "say": {"text": "nee"}},
        {"id": "klaar", "end": {}},
        participants=["member"],
    )
    team = Team(members=(person("anna", "chair"), person("bram")))
    d = Driver.start(flow, team=team)
    question = str(condition["answer"]).split(".")[1]
    for who, value in zip(("anna", "bram"), answers, strict=True):
        if value is not None:
            d.answer(who, "p", question, value)
    for who in ("anna", "bram"):
        d.answer(who, "p", "klaar", "ja")
        d.answer(who, "p", "", "", AnswerKind.done)  # "klaar": both parts done, it closes
    assert [s.message.text for s in d.sent(MessageKind.say)] == [goes_to]


def test_a_branch_without_a_match_or_otherwise_takes_the_next_step() -> None:
    flow = make_flow(
        {"id": "vraag", "ask": {"question": q("v", "scale")}},
        {
            "id": "keuze",
            "branch": [
                {
                    "all": [{"answer": "vraag", "at_least": 5}, {"answer": "vraag", "at_most": 5}],
                    "goto": "vijf",
                }
            ],
        },
        {"id": "gewoon", "say": {"text": "gewoon"}, "next": "klaar"},
        {"id": "vijf", "say": {"text": "vijf"}},
        {"id": "klaar", "end": {}},
    )
    d = Driver.start(flow)
    d.answer("anna", "vraag", "v", "2")
    assert [s.message.text for s in d.sent(MessageKind.say)] == ["gewoon"]


def test_a_flow_that_loops_without_waiting_is_stopped_with_a_clear_reason() -> None:
    flow = make_flow(
        {"id": "a", "say": {"text": "rond"}, "next": "b"},
        {"id": "b", "branch": [{"otherwise": "a"}]},
    )
    d = Driver.start(flow)
    assert d.run.status == RunStatus.stopped
    assert d.run.reason is not None and "without waiting" in d.run.reason
    assert "rondgaan" in d.sent(MessageKind.status)[0].message.text
    keys = [s.key for s in d.sent()]
    assert len(keys) == len(set(keys))


def test_a_goto_to_a_missing_step_stops_the_run() -> None:
    flow = make_flow({"id": "a", "say": {"text": "a"}, "next": "bestaat-niet"})
    d = Driver.start(flow)
    assert d.run.status == RunStatus.stopped and "bestaat-niet" in (d.run.reason or "")


def test_coming_back_to_a_step_uses_new_timer_ids_and_message_keys() -> None:
    flow = make_flow(
        {"id": "vraag", "ask": {"question": q("v", "yesno"), "timeout": "1h"}},
        {
            "id": "nog-eens",
            "branch": [{"when": {"answer": "vraag", "equals": "no"}, "goto": "vraag"}],
        },
    )
    d = Driver.start(flow)
    d.answer("anna", "vraag", "v", "nee")
    assert d.pending == {"vraag~2:timeout": T0 + timedelta(hours=1)}
    assert [f.key for f in d.sent(MessageKind.form)] == ["form:vraag:anna", "form:vraag~2:anna"]
    assert "vraag" not in d.run.answers  # asked afresh
    [form] = d.sent(MessageKind.form)[1:]
    assert form.message.questions[0].step == "vraag~2"  # what the adapter sends back
    d.answer("anna", "vraag~2", "v", "nee")
    assert d.run.state is not None and d.run.state.tag == "vraag~3"
    before = d.run
    [reply] = replies(d.answer("anna", "vraag~2", "v", "nee"))  # a late double click
    assert "al afgehandeld" in reply.message.text and d.run is before
    d.answer("anna", "vraag", "v", "ja")  # a plain step id means the current visit
    assert d.run.status == RunStatus.done


# =========================================================================== time and storage


@pytest.mark.parametrize(
    ("start_local", "hours_later"),
    [
        (datetime(2026, 3, 28, 10, 0, tzinfo=AMS), 23),  # the clocks go forward that night
        (datetime(2026, 10, 24, 10, 0, tzinfo=AMS), 25),  # and back
    ],
)
def test_a_one_day_deadline_across_dst_lands_on_the_same_wall_time(
    start_local: datetime, hours_later: int
) -> None:
    flow = make_flow(
        {"id": "prep", "collect": {"deadline": "1d", "reminders": ["2h"], "questions": [q("hoe")]}}
    )
    d = Driver.start(flow, now=start_local)
    deadline = d.pending["prep:deadline"]
    assert deadline.astimezone(AMS).replace(tzinfo=None) == (
        start_local + timedelta(days=1)
    ).replace(tzinfo=None)
    assert deadline - start_local == timedelta(hours=hours_later)
    assert d.pending["prep:remind:0"] == deadline - timedelta(hours=2)
    form = d.sent(MessageKind.form)[0].message.text
    assert "om 10:00" in form


def test_a_deadline_before_the_event_hangs_off_the_event() -> None:
    flow = make_flow(
        {"id": "prep", "collect": {"deadline": "2h before event", "questions": [q("hoe")]}}
    )
    event = RegisteredEvent("visit", T0 + timedelta(days=1))
    d = Driver.start(flow, event=event)
    assert d.pending["prep:deadline"] == T0 + timedelta(days=1) - timedelta(hours=2)
    without = Driver.start(flow)
    assert without.pending["prep:deadline"] == T0 + timedelta(hours=2)
    assert without.run.notes and "no event" in without.run.notes[0]


@pytest.mark.parametrize(
    ("notice", "deadline_after", "says"),
    [
        # 40 minutes before the visit: half of it to answer, the overview before leaving.
        (timedelta(minutes=40), timedelta(minutes=20), "de vragen sluiten daarom om"),
        # 20 minutes: too little to gather first; open until the visit, said plainly.
        (timedelta(minutes=20), timedelta(minutes=20), "te weinig tijd"),
    ],
)
def test_a_deadline_before_the_event_never_falls_after_it(
    notice: timedelta, deadline_after: timedelta, says: str
) -> None:
    """Issue 20: a visit planned 40 minutes ahead asked for answers an hour after it."""
    flow = make_flow(
        {"id": "prep", "collect": {"deadline": "2h before event", "questions": [q("hoe")]}}
    )
    d = Driver.start(flow, event=RegisteredEvent("visit", T0 + notice))
    deadline = d.pending["prep:deadline"]
    assert deadline == T0 + deadline_after and deadline <= T0 + notice
    [status] = d.sent(MessageKind.status)
    assert status.to == Destination.thread() and says in status.message.text
    assert "Graag beantwoorden vóór" in d.sent(MessageKind.form)[0].message.text


def test_questions_for_before_an_event_that_has_begun_are_skipped_and_said() -> None:
    """The check-in before leaving, reached after the visit began: no form that closes at
    once, but a plain word in the thread."""
    flow = make_flow(
        {"id": "check", "collect": {"deadline": "0m before event", "questions": [q("hoe")]}},
        {"id": "daarna", "say": {"text": "daarna"}},
    )
    d = Driver.start(flow, event=RegisteredEvent("visit", T0 - minutes(5)))
    assert d.sent(MessageKind.form) == []
    [status] = d.sent(MessageKind.status)
    assert "al begonnen" in status.message.text
    assert d.run.status == RunStatus.done and d.sent(MessageKind.say)


def test_a_wait_until_a_moment_already_past_goes_on_at_once() -> None:
    flow = make_flow(
        {"id": "w", "wait": {"until": "1h before event"}},
        {"id": "daarna", "say": {"text": "daarna"}},
    )
    d = Driver.start(flow, event=RegisteredEvent("mdo", T0 + minutes(30)))
    assert d.run.status == RunStatus.done and d.sent(MessageKind.say)


def test_a_run_round_trips_through_json_exactly() -> None:
    d = Driver.start(VISIBLE, by="bram", event=RegisteredEvent("visit", T0 + timedelta(days=2)))
    _fill_visible(d)
    d2 = Driver.start(INTERVISION)
    d2.minutes(10)
    d2.bell("anna", BellCommand.pause)
    d2.bell("bram", BellCommand.process)
    d3 = Driver.start(TYPED)
    for question, value, _ in VALID:
        d3.answer("bram", "v", question, value)
    d3.answer("cor", "v", "mag", "", AnswerKind.not_applicable)
    for run in (d.run, d2.run, d3.run):
        data = run.model_dump(mode="json")
        back = Run.model_validate(data)
        assert back == run
        assert back.model_dump(mode="json") == data
    # A stored run goes on exactly as the one in memory would.
    restored = Run.model_validate(d2.run.model_dump(mode="json"))
    later = d2.now + minutes(3)
    a = engine.advance(INTERVISION, d2.run, Command("anna", BellCommand.resume), later)
    b = engine.advance(INTERVISION, restored, Command("anna", BellCommand.resume), later)
    assert a.effects == b.effects and a.run == b.run


def test_start_and_advance_do_not_change_the_run_they_were_given() -> None:
    d = Driver.start(PREP)
    snapshot = d.run.model_dump(mode="json")
    run = d.run
    d.answer("anna", "prep", "hoe", "goed")
    d.do(MemberJoined(person("dirk")))
    assert run.model_dump(mode="json") == snapshot


def test_every_send_key_is_unique_and_every_timer_id_is_used_once() -> None:
    d = Driver.start(INTERVISION)
    d.minutes(5)
    for command, extra in (
        (BellCommand.pause, None),
        (BellCommand.resume, None),
        (BellCommand.extend, 3),
        (BellCommand.process, None),
        (BellCommand.ring, None),
        (BellCommand.process, None),
    ):
        d.bell("anna", command, extra)
    d.minutes(300)
    keys = [s.key for s in d.sent()]
    assert len(keys) == len(set(keys))
    scheduled = [e.timer_id for _, e in d.log if isinstance(e, ScheduleTimer)]
    assert len(scheduled) == len(set(scheduled))
    assert {e.kind for _, e in d.log if isinstance(e, ScheduleTimer)} == {
        TimerKind.warning,
        TimerKind.bell,
    }


def test_versions_count_accepted_events_only() -> None:
    d = Driver.start(INTERVISION)
    assert d.run.version == 1
    d.bell("bram", BellCommand.pause)  # refused
    assert d.run.version == 1
    d.bell("anna", BellCommand.pause)
    d.bell("anna", BellCommand.resume)
    assert d.run.version == 3


# =========================================================================== texts


@pytest.mark.parametrize(
    ("language", "address", "expected"),
    [
        ("nl", "je", "Deze vraag is gesloten; je antwoord is niet opgeslagen."),
        ("nl", "u", "Deze vraag is gesloten; uw antwoord is niet opgeslagen."),
        ("nl-BE", "u", "Deze vraag is gesloten; uw antwoord is niet opgeslagen."),
        ("en", "je", "This question is closed; your answer was not stored."),
        ("en-GB", "u", "This question is closed; your answer was not stored."),
        ("fy", "je", "Deze vraag is gesloten; je antwoord is niet opgeslagen."),
    ],
)
def test_the_catalogue_falls_back_exact_then_base_then_dutch(
    language: str, address: str, expected: str
) -> None:
    assert i18n.t("reply.closed", language, address) == expected


def test_every_catalogue_entry_has_dutch_and_english_with_the_same_placeholders() -> None:
    import string

    for key, entry in i18n.CATALOGUE.items():
        assert "nl" in entry and "en" in entry, key
        names = {
            lang: {f[1] for f in string.Formatter().parse(s) if f[1]} for lang, s in entry.items()
        }
        assert all(n == names["nl"] for n in names.values()), key


def test_every_dutch_sentence_that_says_je_has_a_u_form() -> None:
    import re

    je = re.compile(r"\b(je|jij|jou|jouw|Je|Jij|Jouw)\b|\bTyp\b")
    missing = [
        key
        for key, entry in i18n.CATALOGUE.items()
        if je.search(entry["nl"]) and "nl@u" not in entry
    ]
    assert missing == []


def test_flow_texts_fall_back_and_a_catalogue_ref_shows_its_key() -> None:
    value = {"nl": "Hallo", "nl-BE": "Dag", "en": "Hello"}
    assert text(value, "nl-BE") == "Dag"
    assert text(value, "en-GB") == "Hello"
    assert text({"nl": "Hallo"}, "en") == "Hallo"
    assert text("Gewoon", "en") == "Gewoon"
    assert text(CatalogueRef(catalogue="geen-oplossingen"), "nl") == "geen-oplossingen"


def test_an_english_team_hears_english_around_the_flows_texts() -> None:
    team = Team(members=TEAM.members, language="en")
    d = Driver.start(INTERVISION, team=team)
    d.minutes(25)
    texts = [s.message.text for s in d.sent()]
    assert texts[0].startswith("⏱ Step 1 — 25 minutes, until 10:25")
    assert "⏳ 5 minutes left." in texts and "⏳ 1 minute left." in texts
    assert "🔔 Time is up: Step 1." in texts


# =========================================================================== more paths


def test_a_phases_questions_are_asked_at_its_start_and_close_at_its_bell() -> None:
    flow = make_flow(
        {
            "id": "fase",
            "phase": {
                "title": "Werkblad",
                "duration": "10m",
                "questions": [q("factor", "multi", options=ROLE_OPTIONS)],
            },
        },
        {"id": "daarna", "phase": {"title": "Daarna", "duration": "10m"}},
    )
    d = Driver.start(flow)
    forms = d.sent(MessageKind.form)
    assert [f.key for f in forms] == ["form:fase:anna", "form:fase:bram", "form:fase:cor"]
    assert forms[0].message.text.startswith("Werkblad")
    [edit] = [e for e in d.answer("bram", "fase", "factor", ("steunen",)) if isinstance(e, Edit)]
    assert edit.key == "form:fase:bram" and edit.message.questions[0].current == ("steunen",)
    d.minutes(10)
    closed = [e.key for _, e in d.log if isinstance(e, Edit) and e.message.closed]
    assert sorted(closed) == ["form:fase:anna", "form:fase:bram", "form:fase:cor"]
    before = d.run
    [reply] = replies(d.answer("cor", "fase", "factor", ("leiden",)))
    assert "gesloten" in reply.message.text and d.run is before


def test_pausing_after_the_bell_of_a_chair_led_phase_is_refused() -> None:
    flow = make_flow({"id": "fase", "phase": {"title": "F", "duration": "5m", "advance": "chair"}})
    d = Driver.start(flow)
    d.minutes(5)
    before = d.run
    [reply] = replies(d.bell("anna", BellCommand.pause))
    assert "al om" in reply.message.text and d.run is before


def test_a_summary_shows_answers_as_people_read_them() -> None:
    flow = make_flow(
        {
            "id": "v",
            "collect": {
                "deadline": "1d",
                "questions": [
                    q("datum", "date"),
                    q("wie", "people"),
                    q("janee", "yesno"),
                    q("meer", "multi", options=ROLE_OPTIONS),
                    q("getal", "number"),
                    q("schaal", "scale", labels={5: {"nl": "Heel goed", "en": "Very good"}}),
                ],
            },
        },
        {"id": "s", "summary": {"of": ["v"]}},
    )
    team = Team(members=(person("anna", "chair"), person("cor")))
    d = Driver.start(flow, team=team)
    for who in ("anna", "cor"):
        for question, value in (
            ("datum", "2026-12-01"),
            ("wie", ("anna", "cor")),
            ("janee", "ja"),
            ("meer", ("leiden", "steunen")),
            ("getal", "2,5"),
            ("schaal", "5"),
        ):
            d.answer(who, "v", question, value)
    summary = d.sent(MessageKind.summary)[0].message.text
    for shown in (
        "Anna: 1-12-2026",
        "Cor: Anna en Cor",
        "Anna: ja",
        "Cor: Leiden, Steunen",
        "Anna: 2,5",
        "Cor: 5 (Heel goed)",
    ):
        assert shown in summary
    assert "Verschillend" not in summary


def test_a_summary_of_names_only_the_steps_it_is_about() -> None:
    flow = make_flow(
        {"id": "een", "ask": {"question": q("a")}},
        {"id": "twee", "ask": {"question": q("b")}},
        {"id": "s", "summary": {"of": ["twee"]}},
    )
    d = Driver.start(flow)
    d.answer("anna", "een", "a", "eerste")
    d.answer("anna", "twee", "b", "tweede")
    summary = d.sent(MessageKind.summary)[0].message.text
    assert "tweede" in summary and "eerste" not in summary


def test_a_round_skips_absent_people_and_moves_on_when_someone_leaves_on_their_turn() -> None:
    team = Team(
        members=(
            person("anna", "chair"),
            person("bram", absent=True),
            person("cor"),
            person("dirk"),
        )
    )
    d = Driver.start(make_flow({"id": "r", "round": {"question": q("x")}}), team=team)
    assert d.run.state is not None and d.run.state.order == ("anna", "cor", "dirk")
    d.answer("anna", "r", "x", "een")
    effects = d.do(MemberLeft("cor"))
    assert [f.to for f in d.sent(MessageKind.form, effects=effects)] == [to("dirk")]
    d.do(MemberAbsent("dirk"))
    assert d.run.status == RunStatus.done


def test_an_ask_with_nobody_to_ask_goes_on_and_says_why_in_the_notes() -> None:
    flow = make_flow(
        {"id": "kies", "ask": {"to": "coordinator", "question": q("v")}},
        {"id": "daarna", "say": {"text": "daarna"}},
    )
    d = Driver.start(flow)
    assert d.run.status == RunStatus.done and "kies: nobody to ask" in d.run.notes


def test_a_scheduled_run_sends_what_was_meant_for_the_starter_to_the_chair() -> None:
    flow = make_flow(
        {"id": "hallo", "say": {"to": "starter", "text": "Voor de starter"}},
        {"id": "vraag", "ask": {"question": q("v")}},
    )
    d = Driver.start(flow, by=None)
    assert [s.to for s in d.sent(MessageKind.say)] == [to("anna")]
    assert [f.to for f in d.sent(MessageKind.form)] == [to("anna")]


def test_a_member_who_is_not_asked_cannot_answer_a_collection() -> None:
    team = Team(members=(person("anna", "chair"), person("bram", absent=True)))
    d = Driver.start(PREP, team=team)
    before = d.run
    [reply] = replies(d.answer("bram", "prep", "hoe", "toch"))
    assert "niet aan jou gesteld" in reply.message.text and d.run is before


def test_a_member_who_joins_again_keeps_their_place_with_their_new_roles() -> None:
    d = Driver.start(INTERVISION)
    d.do(MemberJoined(person("bram", "chair")))
    assert [m.id for m in d.run.members] == ["anna", "bram", "cor"]
    effects = d.bell("bram", BellCommand.pause)
    assert d.sent(MessageKind.status, effects=effects)


def test_a_chained_run_asks_only_the_people_it_was_given() -> None:
    d = Driver.start(PREP, participants=("anna", "cor"))
    assert [f.to for f in d.sent(MessageKind.form)] == [to("anna"), to("cor")]


def test_evolve_makes_the_same_value_as_pydantics_model_copy() -> None:
    """`evolve` relies on pydantic's instance layout: this fails if an upgrade changes it."""
    d = Driver.start(INTERVISION)
    d.minutes(3)
    d.bell("anna", BellCommand.pause)
    run = d.run
    changes: dict[str, Any] = {"version": 99, "step": "stap-2", "process_bells": 4}
    fast, slow = evolve(run, changes), run.model_copy(update=changes)
    assert fast == slow and type(fast) is Run
    assert fast.model_dump(mode="json") == slow.model_dump(mode="json")
    assert fast.model_fields_set == slow.model_fields_set
    assert Run.model_validate(fast.model_dump(mode="json")) == fast
    assert run.version != 99  # the original is untouched
    with pytest.raises(ValidationError):
        fast.version = 3  # still frozen


# --------------------------------------------------------------------------- agenda

AGENDA_PHASE = {
    "id": "evaluaties",
    "phase": {
        "title": {"nl": "Evaluaties", "en": "Evaluations"},
        "duration": "20m",
        "agenda": "evaluations",
    },
}


def test_a_phase_shows_the_agenda_the_shell_filled_in_at_the_start() -> None:
    lines = ("T-0412 — vervolgvraag, Anna, te laat sinds 25 nov", "K-7 — planevaluatie, Bram")
    ctx = StartContext(run_id="r1", team=TEAM, started_by="anna", agenda={"evaluations": lines})
    out = engine.start(make_flow(AGENDA_PHASE), ctx, T0)
    [header] = [
        e for e in out.effects if isinstance(e, Send) and e.message.kind == MessageKind.phase
    ]
    assert "Aan de beurt (per code):\n   – T-0412 — vervolgvraag" in header.message.text
    assert header.message.text.endswith("   – K-7 — planevaluatie, Bram")
    assert out.run.agenda == {"evaluations": lines}  # kept in the run until the phase comes


def test_a_phase_with_an_empty_agenda_says_so() -> None:
    d = Driver.start(make_flow(AGENDA_PHASE))
    header = d.sent(MessageKind.phase, THREAD)[0]
    assert "Er zijn vandaag geen evaluaties aan de beurt." in header.message.text


def test_an_unknown_agenda_is_refused_by_the_language() -> None:
    with pytest.raises(ValidationError, match="evaluations"):
        make_flow({**AGENDA_PHASE, "phase": {**AGENDA_PHASE["phase"], "agenda": "clients"}})
