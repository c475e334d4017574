"""Flow tests for flow authors: YAML scripts of a conversation, checked on a simulated clock.

A test file (`flows/tests/<flow>.test.yaml`) names a flow, a team and a start moment, and
holds cases. Each case starts the flow and runs a script of steps:

    - advance: 20m                           # move the clock; timers fire in order
    - {as: anna, bel: "+5"}                  # a member types /bel +5
    - {as: bram, answer: afstemming.rol, value: leiden}
    - {as: bram, skip: afstemming.tegenop}   # or not_applicable: step.question
    - {as: bram, done: afstemming}           # "klaar": optional questions left
    - expect:                                # what Samen said since the last expect
        - {to: thread, kind: warning, says: "nog 5 minuten"}
        - {to: "@cor", kind: reminder}
    - expect_nothing: "@bram"                # nothing was sent to bram since the last expect
    - expect_not_said: "geheim"              # no message anywhere ever contained this
    - expect_run: {step: stap-2, status: active}
    - expect_started: reflectie-na-intervisie   # a run of that flow was started
    - {as: anna, answer: wie.inbrenger, value: [cor]}   # a people answer: member ids
    - {in: time-out, as: bram, answer: check.nodig, value: verder}   # in another run

The whole format, every key with an example, is in docs/flow-tests.md; the constants
below (SCRIPT_STEPS, EXPECT_KEYS, ...) are what it is checked against, and every other
key is refused with the nearest right one.

`expect` matches its lines in order against the messages sent since the previous
`expect`; lines it does not mention are allowed. A failure prints the expected lines
beside the actual conversation, like a diff. Nothing here does I/O: the caller reads
the files and prints the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from difflib import get_close_matches
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.commands import UnknownBellCommand, parse_bell
from bot.core.events import (
    Answered,
    AnswerKind,
    Member,
    MemberAbsent,
    RegisteredEvent,
    Team,
)
from bot.core.model import Flow
from bot.core.run import Run
from bot.core.simulation import Line, Simulation
from bot.core.timing import TimingError, parse_duration


class FlowTestError(ValueError):
    """The test file itself is wrong (not the flow): says where and what to do."""


@dataclass
class CaseResult:
    name: str
    passed: bool
    report: str = ""
    transcript: list[Line] = field(default_factory=list)


@dataclass
class FileResult:
    path: str
    flow: str
    cases: list[CaseResult]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)


class _Failure(Exception):
    pass


def run_test_file(data: Mapping[str, Any], path: str, flows: Mapping[str, Flow]) -> FileResult:
    """Run every case of one parsed test file against the loaded `flows`."""
    _known(data, FILE_KEYS, path)
    flow_id = _require(data, "flow", path)
    if flow_id not in flows:
        raise FlowTestError(
            f"{path}: flow '{flow_id}' is not among the loaded flows; "
            f"check its name or run `samen flows check`"
        )
    team_data = data.get("team") or {}
    team = _team(team_data, path)
    start_at = _moment(data.get("start_at", "2026-11-23T09:00:00+01:00"), path)
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise FlowTestError(f"{path}: add a list of `cases:` with at least one case")
    results = [
        _run_case(case, i, path, flow_id, flows, team, start_at) for i, case in enumerate(cases, 1)
    ]
    return FileResult(path, flow_id, results)


def _run_case(
    case: Any,
    number: int,
    path: str,
    flow_id: str,
    flows: Mapping[str, Flow],
    team: Team,
    start_at: datetime,
) -> CaseResult:
    """One case, never raising: a mistake in the case itself, or anything the engine
    raises while it is played, is a failed case that says its file, case and step."""
    if not isinstance(case, Mapping):
        return CaseResult(
            f"case {number}",
            False,
            f"{path}: case {number}: a case is a mapping with `name:` and `script:`",
        )
    name = str(case.get("name", f"case {number}"))
    sim = Simulation(flows=flows, team=team, now=start_at)
    where = f"{path}: case '{name}'"
    here = f"{where}, start"
    try:
        _known(case, CASE_KEYS, where)
        run = sim.start(
            flow_id, by=_starter(case, where, team), event=_event(case, where, start_at)
        )
        cursor = 0
        for n, step in enumerate(_script(case, where), 1):
            here = f"{where}, script step {n}"
            cursor = _play(sim, run, step, here, cursor, team)
    except _Failure as failure:
        return CaseResult(name, False, str(failure), sim.transcript)
    except FlowTestError as error:
        return CaseResult(name, False, str(error), sim.transcript)
    except Exception as error:  # an author's test must end in a report, never a traceback
        report = f"{here}: Samen could not play this step ({type(error).__name__}: {error})"
        return CaseResult(name, False, report, sim.transcript)
    return CaseResult(name, True, "", sim.transcript)


def _starter(case: Mapping[str, Any], where: str, team: Team) -> str | None:
    start = case.get("start") or {}
    if not isinstance(start, Mapping):
        raise FlowTestError(f"{where}: `start` is a mapping, e.g. `start: {{by: anna}}`")
    _known(start, START_KEYS, f"{where}, start")
    by = start.get("by")
    if by is not None and str(by) not in {m.id for m in team.members}:
        raise FlowTestError(f"{where}: start: '{by}' is not in the test team")
    return None if by is None else str(by)


def _event(case: Mapping[str, Any], where: str, start_at: datetime) -> RegisteredEvent | None:
    start = case.get("start") or {}
    ev = start.get("event")
    if ev is None:
        return None
    if not isinstance(ev, Mapping) or ("in" not in ev and "at" not in ev):
        raise FlowTestError(
            f"{where}: start: event needs `in:` (e.g. 2d) or `at:` (a moment), "
            "e.g. `event: {kind: visit, in: 2d}`"
        )
    _known(ev, EVENT_KEYS, f"{where}, start: event")
    at = (start_at + _duration(ev["in"], where)) if "in" in ev else _moment(ev["at"], where)
    return RegisteredEvent(str(ev.get("kind", "visit")), at)


def _script(case: Mapping[str, Any], where: str) -> list[Any]:
    script = case.get("script") or []
    if not isinstance(script, list):
        raise FlowTestError(f"{where}: `script` is a list of steps, e.g. `- advance: 5m`")
    return script


# Every kind of script step, in the order docs/flow-tests.md explains them.
SCRIPT_STEPS: tuple[str, ...] = (
    "advance",
    "bel",
    "answer",
    "skip",
    "not_applicable",
    "done",
    "absent",
    "expect",
    "expect_nothing",
    "expect_not_said",
    "expect_run",
    "expect_started",
)
# What one line of `expect` may test.
EXPECT_KEYS: tuple[str, ...] = ("to", "kind", "says", "lacks", "edit")
# What else a test file, its team, a case and a script step may say.
FILE_KEYS: tuple[str, ...] = ("flow", "start_at", "team", "cases")
TEAM_KEYS: tuple[str, ...] = ("members", "language", "address", "timezone")
MEMBER_KEYS: tuple[str, ...] = ("id", "name", "roles", "absent")
CASE_KEYS: tuple[str, ...] = ("name", "start", "script")
START_KEYS: tuple[str, ...] = ("by", "event")
EVENT_KEYS: tuple[str, ...] = ("kind", "in", "at")
STEP_KEYS: tuple[str, ...] = ("as", "in", "value")  # beside one of SCRIPT_STEPS


def _known(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """A key the test format does not have is a mistake (a typo would silently test
    nothing): say which, with the nearest right one."""
    for key in data:
        if key not in allowed:
            close = get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; use {', '.join(allowed)}"
            raise FlowTestError(f"{where}: unknown key '{key}'{hint}")


# The script steps that act on a run (the others look at what happened).
_ACTS = frozenset({"bel", "answer", "skip", "not_applicable", "absent"})


def _play(sim: Simulation, started: Run, step: Any, here: str, cursor: int, team: Team) -> int:
    if not isinstance(step, Mapping):
        raise FlowTestError(f"{here}: each script step is a mapping, e.g. `- advance: 5m`")
    _known(step, (*SCRIPT_STEPS, *STEP_KEYS), here)
    if not set(step) & set(SCRIPT_STEPS):
        raise FlowTestError(f"{here}: a script step needs one of {', '.join(SCRIPT_STEPS)}")
    target = _target_run(sim, started.id, step)
    if _ACTS & set(step) and target not in sim.runs:
        conversation = _conversation(sim.transcript, team) or "    (nothing was said)"
        raise _Failure(
            f"{here}: the run was not started (status {started.status.value}), so this step "
            f"cannot be played; Samen said:\n{conversation}"
        )
    if "advance" in step:
        sim.advance(_duration(step["advance"], here))
    elif "bel" in step:
        member = _member(step, here, team)
        try:
            command = parse_bell(member, str(step["bel"] or ""))
        except UnknownBellCommand as e:
            raise FlowTestError(f"{here}: '/bel {e.typed}' is not a bell command") from None
        sim.send(target, command)
    elif "answer" in step:
        stp, question = _question_ref(step["answer"], here)
        value = step.get("value", "")
        if isinstance(value, list):
            value = tuple(str(v) for v in value)
        elif not isinstance(value, str):
            value = str(value)
        sim.send(target, Answered(_member(step, here, team), stp, question, value))
    elif "skip" in step or "not_applicable" in step:
        kind = AnswerKind.skip if "skip" in step else AnswerKind.not_applicable
        stp, question = _question_ref(step.get("skip") or step.get("not_applicable"), here)
        sim.send(target, Answered(_member(step, here, team), stp, question, "", kind))
    elif "done" in step:  # "klaar": the member's part of a collection is done
        stp, _ = _question_ref(step["done"], here)
        sim.send(target, Answered(_member(step, here, team), stp, "", "", AnswerKind.done))
    elif "absent" in step:
        sim.send(target, MemberAbsent(str(step["absent"])))
    elif "expect" in step:
        return _expect(sim, step["expect"], here, cursor)
    elif "expect_nothing" in step:
        to = str(step["expect_nothing"])
        said = [ln for ln in sim.transcript[cursor:] if ln.to == to or to == "*"]
        if said:
            raise _Failure(
                f"{here}: expected nothing to {to}, but Samen said:\n" + _conversation(said, team)
            )
        return len(sim.transcript)
    elif "expect_not_said" in step:
        needle = str(step["expect_not_said"]).lower()
        for ln in sim.transcript:
            if needle in ln.text.lower() and ln.to in ("thread", "channel"):
                raise _Failure(
                    f"{here}: '{step['expect_not_said']}' must never appear in the "
                    f"team's chat, but it did:\n" + _conversation([ln], team)
                )
    elif "expect_run" in step:
        want = step["expect_run"]
        if not isinstance(want, Mapping):
            raise FlowTestError(f"{here}: `expect_run` takes e.g. {{step: stap-2, status: active}}")
        run = sim.runs.get(target, started if target == started.id else None)
        if run is None:
            raise _Failure(f"{here}: there is no run to look at")
        for key, expected in want.items():
            actual = getattr(run, key, None)
            actual = getattr(actual, "value", actual)
            if str(actual) != str(expected):
                raise _Failure(
                    f"{here}: expected the run's {key} to be '{expected}', but it is '{actual}'"
                )
    elif "expect_started" in step:
        flow = str(step["expect_started"])
        if not any(r.flow_id == flow for r in sim.runs.values()):
            raise _Failure(
                f"{here}: expected flow '{flow}' to have started; runs: "
                + ", ".join(sorted(r.flow_id for r in sim.runs.values()))
            )
    else:
        raise FlowTestError(
            f"{here}: unknown script step {sorted(map(str, step))}; use " + ", ".join(SCRIPT_STEPS)
        )
    return cursor


def _expect(sim: Simulation, wanted: Any, here: str, cursor: int) -> int:
    if isinstance(wanted, Mapping):
        wanted = [wanted]
    if not isinstance(wanted, list):
        raise FlowTestError(
            f"{here}: `expect` takes a list of lines like {{to: thread, kind: bell, says: ...}}"
        )
    actual = sim.transcript[cursor:]
    position = 0
    for want in wanted:
        if not isinstance(want, Mapping):
            raise FlowTestError(f"{here}: each `expect` line is a mapping like {{to: thread}}")
        _known(want, EXPECT_KEYS, f"{here}, expect")
    for i, want in enumerate(wanted):
        found = None
        for j in range(position, len(actual)):
            if _matches(actual[j], want):
                found = j
                break
        if found is None:
            raise _Failure(_diff(here, wanted, i, actual, sim.team))
        position = found + 1
    return cursor + position


def _matches(line: Line, want: Mapping[str, Any]) -> bool:
    if "to" in want and line.to != str(want["to"]):
        return False
    if "kind" in want and line.kind.value != str(want["kind"]):
        return False
    if "edit" in want and line.edit != bool(want["edit"]):
        return False
    says = want.get("says")
    if says is not None:
        needles = says if isinstance(says, list) else [says]
        if not all(str(n).lower() in line.text.lower() for n in needles):
            return False
    lacks = want.get("lacks")
    if lacks is not None:
        needles = lacks if isinstance(lacks, list) else [lacks]
        if any(str(n).lower() in line.text.lower() for n in needles):
            return False
    return True


def _diff(
    here: str, wanted: list[Mapping[str, Any]], failed_at: int, actual: list[Line], team: Team
) -> str:
    lines = [f"{here}: the conversation did not go as expected", "  expected:"]
    for i, want in enumerate(wanted):
        mark = "✗" if i == failed_at else ("✓" if i < failed_at else " ")
        desc = " ".join(
            f"{k}={want[k]!r}" for k in ("to", "kind", "says", "lacks", "edit") if k in want
        )
        lines.append(f"    {mark} {desc}")
    lines.append("  actual (since the previous expect):")
    lines.append(_conversation(actual, team) if actual else "    (nothing was said)")
    return "\n".join(lines)


def format_line(line: Line, tz: str = "Europe/Amsterdam", width: int = 0) -> str:
    """One transcript line: `09:25  [thread] bell  De tijd is om ...`."""
    clock = line.at.astimezone(ZoneInfo(tz)).strftime("%H:%M")
    edit = " (bewerkt)" if line.edit else ""
    text = line.text.replace("\n", "\n" + " " * 8)
    return f"{clock}  [{line.to}] {line.kind.value}{edit}: {text}"


def _conversation(lines: list[Line], team: Team) -> str:
    return "\n".join("    " + format_line(ln, team.timezone) for ln in lines)


# ---------------------------------------------------------------------- small readers


def _require(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not value:
        raise FlowTestError(f"{path}: missing `{key}:` at the top of the test file")
    return str(value)


def _team(data: Mapping[str, Any], path: str) -> Team:
    if not isinstance(data, Mapping):
        raise FlowTestError(f"{path}: `team` is a mapping with `members:`")
    _known(data, TEAM_KEYS, f"{path}: team")
    members = []
    for m in data.get("members") or []:
        if not isinstance(m, Mapping):
            raise FlowTestError(f"{path}: each team member is a mapping, e.g. {{id: anna}}")
        _known(m, MEMBER_KEYS, f"{path}: team member")
        if "id" not in m:
            raise FlowTestError(f"{path}: every team member needs an `id`")
        members.append(
            Member(
                id=str(m["id"]),
                name=str(m.get("name", m["id"]).title()),
                roles=frozenset(m.get("roles") or ()),
                absent=bool(m.get("absent", False)),
            )
        )
    if not members:
        raise FlowTestError(f"{path}: add `team: members:` with at least one member")
    return Team(
        members=tuple(members),
        language=str(data.get("language", "nl")),
        address=str(data.get("address", "je")),
        timezone=str(data.get("timezone", "Europe/Amsterdam")),
    )


def _member(step: Mapping[str, Any], here: str, team: Team) -> str:
    who = step.get("as")
    if who is None:
        raise FlowTestError(f"{here}: say who acts, e.g. `as: anna`")
    if who not in {m.id for m in team.members}:
        raise FlowTestError(f"{here}: '{who}' is not in the test team")
    return str(who)


def _question_ref(ref: Any, here: str) -> tuple[str, str]:
    text = str(ref)
    step, _, question = text.partition(".")
    if not step:
        raise FlowTestError(f"{here}: name the question as `step.question`, e.g. afstemming.rol")
    return step, question or step


def _target_run(sim: Simulation, default: str, step: Mapping[str, Any]) -> str:
    flow = step.get("in")
    if flow:
        run = sim.active_run(str(flow))
        if run is None:
            raise _Failure(f"no active run of flow '{flow}'")
        return run.id
    return default


def _duration(text: Any, here: str) -> timedelta:
    try:
        return parse_duration(str(text)).approx()
    except TimingError as e:
        raise FlowTestError(f"{here}: {e}") from None


def _moment(value: Any, here: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise FlowTestError(
                f"{here}: '{value}' is not a moment; write e.g. 2026-11-23T09:00:00+01:00"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
