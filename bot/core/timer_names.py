"""The names of the timers the shell plans itself, written and read in one place.

A timer row without a run carries one of these names, and the shell reads it back when
the timer falls due to know what to do; the first part of the name is also the row's
kind:

- `schedule:<flow>:<team>`: a scheduled flow is due for a team;
- `start:<flow>:<event>:<by>`: the flow of a planned event is due to start (`by` is who
  planned the event);
- `evaluation:<evaluation>:<what>`: an evaluation moment, `what` being due, overdue or
  escalate;
- `retention:<what>`: the daily purge, `retention:daily`.

Reading is as tolerant as the shell has always been: a missing part reads as "", and the
last part takes the rest of the name, colons and all. A run's timers carry the engine's
own ids instead (`{tag}:bell`, ... see `bot.core.engine`), which are told apart by their
run id, never by their name: a step called `start` has timers called `start:...` too.
(`ScheduledFlowTimer` is a name; `bot.core.effects.ScheduleTimer` is the engine asking
for a timer.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "EvaluationTimer",
    "EventStartTimer",
    "RetentionTimer",
    "ScheduledFlowTimer",
    "TimerName",
    "parse_timer_name",
]


@dataclass(frozen=True, slots=True)
class ScheduledFlowTimer:
    """A scheduled flow (a cron trigger) is due for a team."""

    KIND: ClassVar[str] = "schedule"

    flow: str
    team: str

    def name(self) -> str:
        return f"{self.KIND}:{self.flow}:{self.team}"


@dataclass(frozen=True, slots=True)
class EventStartTimer:
    """The flow of a planned event is due to start; `by` planned the event ("" if nobody)."""

    KIND: ClassVar[str] = "start"

    flow: str
    event: str
    by: str

    def name(self) -> str:
        return f"{self.KIND}:{self.flow}:{self.event}:{self.by}"


@dataclass(frozen=True, slots=True)
class EvaluationTimer:
    """An evaluation moment of a trajectory: `what` is due, overdue or escalate."""

    KIND: ClassVar[str] = "evaluation"

    evaluation: str
    what: str

    def name(self) -> str:
        return f"{self.KIND}:{self.evaluation}:{self.what}"

    @classmethod
    def prefix(cls, evaluation: str) -> str:
        """What the names of all of one evaluation's timers, and no other's, begin with."""
        return f"{cls.KIND}:{evaluation}:"


@dataclass(frozen=True, slots=True)
class RetentionTimer:
    """The purge of what is past its retention period."""

    KIND: ClassVar[str] = "retention"

    what: str = "daily"

    def name(self) -> str:
        return f"{self.KIND}:{self.what}"


TimerName = ScheduledFlowTimer | EventStartTimer | EvaluationTimer | RetentionTimer


def parse_timer_name(text: str) -> TimerName | None:
    """The timer a run-less timer's name stands for; None for a name of no known kind."""
    kind, colon, rest = text.partition(":")
    if not colon:
        return None
    if kind == ScheduledFlowTimer.KIND:
        flow, team = _parts(rest, 2)
        return ScheduledFlowTimer(flow, team)
    if kind == EventStartTimer.KIND:
        flow, event, by = _parts(rest, 3)
        return EventStartTimer(flow, event, by)
    if kind == EvaluationTimer.KIND:
        evaluation, what = _parts(rest, 2)
        return EvaluationTimer(evaluation, what)
    if kind == RetentionTimer.KIND:
        return RetentionTimer(rest)
    return None


def _parts(rest: str, count: int) -> list[str]:
    """`rest` cut at its first `count - 1` colons, padded with "" to `count` parts."""
    parts = rest.split(":", count - 1)
    return parts + [""] * (count - len(parts))
