"""P6: pure engine steps per second, on one core, against a baseline from the same run.

A "step" is one call of `engine.advance` that the engine accepts: an answer, a bell
command or a timer firing. Only the time spent inside `engine.start` and `engine.advance`
is counted, not the harness that plays the meeting around them. The baseline is the
simplest possible immutable state transition in pure Python (a frozen dataclass replaced
once per event), measured in the same process, so that the ratio says how much work an
engine step costs on any machine.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

from bot.core import engine
from bot.core.effects import CancelTimer, Effect, ScheduleTimer
from bot.core.events import (
    Answered,
    BellCommand,
    Command,
    Event,
    Member,
    StartContext,
    Team,
    TimerFired,
)
from bot.core.model import Flow

TARGET = 20_000  # steps/s, RELIABILITY.md P6

MEETING = Flow.model_validate(
    {
        "id": "bench-meeting",
        "title": {"nl": "Bench"},
        "roles": ["chair"],
        "steps": [
            {
                "id": "prep",
                "collect": {
                    "deadline": "1d",
                    "reminders": ["2h"],
                    "questions": [
                        {
                            "id": "rol",
                            "type": "choice",
                            "text": {"nl": "Rol?"},
                            "options": [
                                {"id": "leiden", "text": {"nl": "Leiden"}},
                                {"id": "steunen", "text": {"nl": "Steunen"}},
                            ],
                        },
                        {"id": "hoe", "type": "text", "text": {"nl": "Hoe?"}},
                    ],
                },
            },
            *[
                {
                    "id": f"fase-{i}",
                    "phase": {
                        "title": {"nl": f"Fase {i}"},
                        "duration": "25m",
                        "warnings": ["5m", "1m"],
                    },
                }
                for i in range(1, 6)
            ],
            {"id": "klaar", "end": {}},
        ],
    }
)

MEMBERS = tuple(
    Member(f"m{i}", f"Lid {i}", frozenset({"chair"} if i == 0 else ())) for i in range(6)
)


class _Meeting:
    """Plays one meeting against the engine, timing only the engine's own calls.

    The bookkeeping a shell does between events (which timers are pending, which fires
    next) is not engine work, so it is kept out of the figure: `spent` adds up the time
    inside `engine.start` and `engine.advance` only.
    """

    def __init__(self, t0: datetime) -> None:
        self.now = t0
        self.steps = 0  # accepted advance() calls
        self.spent = 0.0  # seconds inside the engine
        self.pending: dict[str, datetime] = {}
        ctx = StartContext(run_id="r", team=Team(members=MEMBERS), started_by="m0")
        began = time.perf_counter()
        outcome = engine.start(MEETING, ctx, t0)
        self.spent += time.perf_counter() - began
        self.run = outcome.run
        self._track(outcome.effects)

    def advance(self, event: Event) -> None:
        run = self.run
        began = time.perf_counter()
        outcome = engine.advance(MEETING, run, event, self.now)
        self.spent += time.perf_counter() - began
        if outcome.run.version != run.version + 1:
            raise AssertionError(f"the engine did not accept {event}")  # not a step
        self.run, self.steps = outcome.run, self.steps + 1
        self._track(outcome.effects)

    def _track(self, effects: tuple[Effect, ...]) -> None:
        for e in effects:
            if isinstance(e, ScheduleTimer):
                self.pending[e.timer_id] = e.due
            elif isinstance(e, CancelTimer):
                del self.pending[e.timer_id]

    def play(self) -> None:
        """Everyone answers the collect; then the phases run on their timers, with a
        pause and a resume now and then, until the meeting ends."""
        for m in MEMBERS:
            # Free text differs from person to person and meeting to meeting.
            said = f"Goed voorbereid, zegt {m.name} op {self.now:%d-%m om %H:%M}"
            for q, v in (("rol", "leiden"), ("hoe", said)):
                self.advance(Answered(m.id, "prep", q, v))
        for _ in range(200):  # a meeting that never ends must not hang the benchmark
            if self.run.status != "active" or not self.pending:
                break
            step = self.run.step
            if step is not None and step.startswith("fase") and self.steps % 7 == 0:
                self.advance(Command("m0", BellCommand.pause))
                self.advance(Command("m0", BellCommand.resume))
            timer_id, due = min(self.pending.items(), key=lambda kv: kv[1])
            del self.pending[timer_id]
            self.now = max(self.now, due)
            self.advance(TimerFired(timer_id))
        if self.run.status != "done":
            raise AssertionError(f"the meeting did not end: {self.run.status}")


def _one_meeting(t0: datetime) -> tuple[int, float]:
    """Play one full meeting; return the accepted advance() calls and the engine's time."""
    meeting = _Meeting(t0)
    meeting.play()
    return meeting.steps, meeting.spent


@dataclasses.dataclass(frozen=True, slots=True)
class _Bare:
    step: int
    version: int
    clock: datetime


def _baseline(n: int, t0: datetime) -> float:
    state = _Bare(0, 0, t0)
    start = time.perf_counter()
    for i in range(n):
        state = dataclasses.replace(
            state,
            step=i % 7,
            version=state.version + 1,
            clock=max(state.clock, t0 + timedelta(seconds=i)),
        )
    return n / (time.perf_counter() - start)


def main() -> None:
    t0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
    _one_meeting(t0)  # warm caches
    meetings, steps, spent, start = 0, 0, 0.0, time.perf_counter()
    while time.perf_counter() - start < 3.0:
        # Every meeting at its own time, as in life: caches keyed on a moment (a clock
        # time in a message) must not make a replayed meeting look cheaper than a new one.
        meetings += 1
        meeting_steps, meeting_spent = _one_meeting(t0 + timedelta(minutes=17 * meetings))
        steps, spent = steps + meeting_steps, spent + meeting_spent
    rate = steps / spent
    base = _baseline(200_000, t0)
    print(
        f"P6 pure engine: {rate:,.0f} steps/s = {rate / TARGET:.2f} x target "
        f"({TARGET:,}/s); {rate / base:.3f} x bare immutable transition ({base:,.0f}/s)"
    )


if __name__ == "__main__":
    main()
