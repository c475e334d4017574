"""A whole team's conversation with Samen on a simulated clock, without any I/O.

The simulation plays the shell's part in memory: it starts runs, feeds them events, keeps
their timers and fires them in due order when the clock is moved on, chains flows
(`start_flow`, `after_flow` triggers) and writes every message into a transcript. Flow
tests, the property tests and the pre-runtime demo use it; the real shell
(`bot/runtime/`) does the same with a database, a scheduler and an outbox.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core import engine
from bot.core.effects import (
    CancelTimer,
    Destination,
    Edit,
    Effect,
    Finish,
    Message,
    MessageKind,
    Reply,
    ScheduleTimer,
    Send,
    StartFlow,
)
from bot.core.events import (
    Event,
    RegisteredEvent,
    StartContext,
    Team,
    TimeOutEnded,
    TimerFired,
)
from bot.core.model import AfterFlowTrigger, Flow
from bot.core.run import Run, RunStatus


@dataclass(frozen=True, slots=True)
class Line:
    """One thing Samen said (or edited), as a person in the team would see it."""

    at: datetime
    run: str
    flow: str
    to: str  # "thread", "channel", "@anna" (a direct message), "reply @anna"
    kind: MessageKind
    text: str
    key: str | None = None
    edit: bool = False
    message: Message | None = None


@dataclass
class Simulation:
    flows: Mapping[str, Flow]
    team: Team
    now: datetime
    runs: dict[str, Run] = field(default_factory=dict)
    transcript: list[Line] = field(default_factory=list)
    scheduled: int = 0
    fired: int = 0
    cancelled: int = 0
    _timers: list[tuple[datetime, int, str, str]] = field(default_factory=list)
    _pending: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _seq: int = 0
    _keys: dict[tuple[str, str], str] = field(default_factory=dict)

    # ------------------------------------------------------------------ driving

    def start(
        self,
        flow_id: str,
        by: str | None = None,
        event: RegisteredEvent | None = None,
        participants: tuple[str, ...] | None = None,
        parent: str | None = None,
    ) -> Run:
        flow = self.flows[flow_id]
        self._seq += 1
        run_id = f"{flow_id}#{self._seq}"
        ctx = StartContext(
            run_id=run_id,
            team=self.team,
            started_by=by,
            event=event,
            parent_run=parent,
            participants=participants,
        )
        outcome = engine.start(flow, ctx, self.now)
        if outcome.run.status != RunStatus.refused:
            self.runs[run_id] = outcome.run
        self._apply(flow, outcome.run, outcome.effects)
        return outcome.run

    def send(self, run_id: str, event: Event) -> Run:
        run = self.runs[run_id]
        flow = self.flows[run.flow_id]
        outcome = engine.advance(flow, run, event, self.now)
        self.runs[run_id] = outcome.run
        self._apply(flow, outcome.run, outcome.effects)
        return outcome.run

    def advance(self, by: timedelta) -> None:
        """Move the clock on by `by`, firing every timer that falls due, in due order."""
        self.advance_to(self.now + by)

    def advance_to(self, until: datetime) -> None:
        while self._timers and self._timers[0][0] <= until:
            due, _, run_id, timer_id = heapq.heappop(self._timers)
            if self._pending.get((run_id, timer_id)) != due:
                continue  # cancelled, or rescheduled under the same id
            del self._pending[(run_id, timer_id)]
            self.now = max(self.now, due)
            self.fired += 1
            self.send(run_id, TimerFired(timer_id))
        self.now = max(self.now, until)

    # ------------------------------------------------------------------ reading

    def pending_timers(self, run_id: str | None = None) -> dict[tuple[str, str], datetime]:
        return {k: v for k, v in self._pending.items() if run_id is None or k[0] == run_id}

    def active_run(self, flow_id: str | None = None) -> Run | None:
        for run in reversed(list(self.runs.values())):
            if run.status == RunStatus.active and (flow_id is None or run.flow_id == flow_id):
                return run
        return None

    # ------------------------------------------------------------------ effects

    def _apply(self, flow: Flow, run: Run, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                to = _describe(effect.to)
                self._keys[(run.id, effect.key)] = to
                self._say(run, to, effect.message, effect.key)
            elif isinstance(effect, Edit):
                to = self._keys.get((run.id, effect.key), "?")
                self._say(run, to, effect.message, effect.key, edit=True)
            elif isinstance(effect, Reply):
                self._say(run, f"reply @{effect.member}", effect.message)
            elif isinstance(effect, ScheduleTimer):
                self.scheduled += 1
                self._pending[(run.id, effect.timer_id)] = effect.due
                self._seq += 1
                heapq.heappush(self._timers, (effect.due, self._seq, run.id, effect.timer_id))
            elif isinstance(effect, CancelTimer):
                if self._pending.pop((run.id, effect.timer_id), None) is not None:
                    self.cancelled += 1
            elif isinstance(effect, StartFlow):
                event = (
                    RegisteredEvent(run.event_kind, run.event_at)
                    if run.event_kind and run.event_at
                    else None
                )
                self.start(
                    effect.flow,
                    by=run.started_by,
                    event=event,
                    participants=effect.participants,
                    parent=run.id,
                )
            elif isinstance(effect, Finish):
                self._after(flow, run)
                self._time_out_over(flow, run)

    def _after(self, finished: Flow, run: Run) -> None:
        """Start every flow whose `after_flow` trigger names the flow that just ended."""
        for flow in self.flows.values():
            if any(
                isinstance(t, AfterFlowTrigger) and t.after_flow == finished.id
                for t in flow.triggers
            ):
                event = (
                    RegisteredEvent(run.event_kind, run.event_at)
                    if run.event_kind and run.event_at
                    else None
                )
                self.start(flow.id, by=run.started_by, event=event, parent=run.id)

    def _time_out_over(self, finished: Flow, run: Run) -> None:
        """A meeting's time-out flow ended: tell the meeting, whose clock may run again."""
        parent = self.runs.get(run.parent_run) if run.parent_run else None
        if parent is not None and self.flows[parent.flow_id].time_out == finished.id:
            self.send(parent.id, TimeOutEnded())

    def _say(
        self, run: Run, to: str, message: Message, key: str | None = None, edit: bool = False
    ) -> None:
        self.transcript.append(
            Line(self.now, run.id, run.flow_id, to, message.kind, message.text, key, edit, message)
        )


def _describe(to: Destination) -> str:
    return f"@{to.member}" if to.kind == "person" else to.kind
