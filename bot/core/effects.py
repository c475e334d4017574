"""What a run asks the shell to do: the effects the engine returns.

The engine never performs these. The shell (`bot/runtime/outgoing.py`) stores them in one
transaction with the new run and then delivers them: messages through the outbox and an
adapter, timers through the scheduler. Message texts are already rendered in the team's
language; adapters decide only the platform's form (Block Kit, inline keyboards, plain).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Destination:
    """`channel`: the team channel; `thread`: the run's thread; `person`: a direct message."""

    kind: str  # "channel" | "thread" | "person"
    member: str | None = None

    @staticmethod
    def channel() -> Destination:
        return Destination("channel")

    @staticmethod
    def thread() -> Destination:
        return Destination("thread")

    @staticmethod
    def person(member: str) -> Destination:
        return Destination("person", member)


class MessageKind(StrEnum):
    say = "say"
    form = "form"  # one or more questions to answer
    reminder = "reminder"
    phase = "phase"  # a phase starts: its header, time box and prompts
    warning = "warning"  # time is almost up
    bell = "bell"  # a phase ends, or the chair rang by hand
    process_bell = "process_bell"
    status = "status"  # paused, resumed, extended, skipped
    summary = "summary"
    reply = "reply"  # an answer to the person who acted: refusal, re-prompt, confirmation
    closing = "closing"


@dataclass(frozen=True, slots=True)
class OptionView:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class QuestionView:
    """A question as an adapter needs it to draw buttons, selects or a text field."""

    step: str
    id: str
    type: str  # an AnswerType value
    text: str
    help: str | None = None
    options: tuple[OptionView, ...] = ()
    min: int | None = None
    max: int | None = None
    labels: tuple[tuple[int, str], ...] = ()
    optional: bool = False
    not_applicable: bool = False
    current: str | tuple[str, ...] | None = None  # the answer given so far (editable)
    hint: str = ""  # how to answer it by typing, in the team's language (bot/core/hints.py)


@dataclass(frozen=True, slots=True)
class Message:
    kind: MessageKind
    text: str
    questions: tuple[QuestionView, ...] = ()
    controls: tuple[str, ...] = ()  # BellCommand values offered as buttons
    # (label, the words after /samen) offered as buttons that type that command, e.g.
    # ("Wijkteam Noord", "afwezig tot 2026-12-04 in Wijkteam Noord")
    choices: tuple[tuple[str, str], ...] = ()
    closed: bool = False  # a form that no longer takes answers
    finish: bool = False  # a form with optional questions one may leave by saying "klaar"
    late: bool = False  # delivered after its time (catch-up)


@dataclass(frozen=True, slots=True)
class Send:
    """Post a new message. `key` is stable per run, so a later Edit can find it."""

    key: str
    to: Destination
    message: Message


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the message sent earlier under `key` (answers stay editable in place)."""

    key: str
    message: Message


@dataclass(frozen=True, slots=True)
class Reply:
    """A direct answer to the member who acted (often ephemeral): refusals, re-prompts."""

    member: str
    message: Message


class TimerKind(StrEnum):
    bell = "bell"  # a phase ends
    warning = "warning"
    reminder = "reminder"
    deadline = "deadline"  # a collection closes
    turn = "turn"  # a round moves on to the next person
    timeout = "timeout"  # an ask stops waiting
    wait = "wait"


# The timers of a meeting's clock: a phase's warnings and its bell.
CLOCK_TIMERS = frozenset({TimerKind.bell, TimerKind.warning})


def clock_first(
    timers: Iterable[T], kind: Callable[[T], str], run: Callable[[T], str | None]
) -> list[T]:
    """`timers` (in due order) with the meeting's clock (`CLOCK_TIMERS`) first, each part
    in its order: a bell does not wait behind fifty collections closing or a batch of
    evaluation nudges. A clock timer goes ahead only if no earlier timer of its run
    stays behind, so that every run still sees its own timers in order."""
    clock: list[T] = []
    other: list[T] = []
    behind: set[str] = set()  # runs with a timer in `other`
    for timer in timers:
        run_id = run(timer)
        if kind(timer) in CLOCK_TIMERS and (run_id is None or run_id not in behind):
            clock.append(timer)
        else:
            if run_id is not None:
                behind.add(run_id)
            other.append(timer)
    return clock + other


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    timer_id: str  # unique within the run; the idempotency key is (run, timer_id)
    kind: TimerKind
    due: datetime


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True, slots=True)
class StartFlow:
    flow: str
    participants: tuple[str, ...] | None  # None: the whole team


@dataclass(frozen=True, slots=True)
class Finish:
    status: str  # "done" | "stopped"


Effect = Send | Edit | Reply | ScheduleTimer | CancelTimer | StartFlow | Finish
