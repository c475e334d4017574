"""What can happen to a run: the events the engine's `advance` accepts.

Adapters turn platform payloads into these; the scheduler turns a due timer into
`TimerFired`. Every event names the member who caused it (platform-neutral member id),
except timer events. Events are plain values with no behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Member:
    """A person in the team as a run sees them (a snapshot taken when the run starts)."""

    id: str
    name: str
    roles: frozenset[str] = frozenset()
    absent: bool = False


@dataclass(frozen=True, slots=True)
class Team:
    """The team a run belongs to: its people and its settings."""

    members: tuple[Member, ...]
    language: str = "nl"
    address: str = "je"  # form of address in Dutch: "je" or "u"
    timezone: str = "Europe/Amsterdam"


@dataclass(frozen=True, slots=True)
class RegisteredEvent:
    """A visit, MDO or meeting a run is attached to (its deadlines may hang off it)."""

    kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StartContext:
    run_id: str
    team: Team
    started_by: str | None = None  # None when a schedule or cadence started it
    event: RegisteredEvent | None = None
    parent_run: str | None = None
    participants: tuple[str, ...] | None = None  # chained flows keep the same people
    # Agenda name -> its lines, filled in by the shell for phases with `agenda:`.
    agenda: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class AnswerKind(StrEnum):
    value = "value"
    skip = "skip"  # "sla over" on an optional question
    not_applicable = "not_applicable"  # "n.v.t."
    done = "done"  # "klaar": the member's part of a collection is done (no question)


@dataclass(frozen=True, slots=True)
class Answered:
    """A member answered (or changed an answer to) one question of a step.

    `value` is what the platform gave: the text, an option id, a list of option ids
    (multi), member ids (people), "ja"/"nee"/"yes"/"no", a number or date as typed.
    The engine validates and parses it by the question's type.
    """

    member: str
    step: str
    question: str
    value: str | tuple[str, ...] = ""
    kind: AnswerKind = AnswerKind.value


class BellCommand(StrEnum):
    ring = "ring"  # the chair rings the bell by hand
    pause = "pause"
    resume = "resume"
    extend = "extend"  # by `minutes`
    next = "next"  # end this phase (or close this step) now and go on
    stop = "stop"  # end the meeting / run
    process = "process"  # the process bell, open to every member
    time_out = "time_out"  # a time-out, open to every member: pauses the meeting (F11)


@dataclass(frozen=True, slots=True)
class Command:
    member: str
    command: BellCommand
    minutes: int | None = None


@dataclass(frozen=True, slots=True)
class TimeOutEnded:
    """The time-out flow a meeting started (`Flow.time_out`) has ended: its clock may
    run again. Sent by the shell to the meeting's run; no member causes it."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    timer_id: str
    late: bool = False  # the shell fired it after its due time (catch-up)


@dataclass(frozen=True, slots=True)
class MemberJoined:
    member: Member


@dataclass(frozen=True, slots=True)
class MemberLeft:
    member: str


@dataclass(frozen=True, slots=True)
class MemberAbsent:
    member: str
    absent: bool = True
    extra: dict[str, str] = field(default_factory=dict)


Event = Answered | Command | TimerFired | MemberJoined | MemberLeft | MemberAbsent | TimeOutEnded
