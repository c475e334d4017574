"""The timed steps and the bell: phases with their warnings and bell, and the `/bel`
commands (pause, resume, extend, next, stop, ring, the process bell and the time-out).

A command is first checked (`check_command`: a refusal changes nothing), then carried out
by the draft (`PhaseSteps.obey`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Final

from bot.core import i18n
from bot.core.commands import MAX_EXTEND_MINUTES
from bot.core.draft import (
    THREAD,
    WAITING,
    Draft,
    Outcome,
    Waiting,
    after,
    duration,
    flow_index,
    reply,
    role_names,
    whole_minutes,
)
from bot.core.effects import Destination, MessageKind, StartFlow, TimerKind
from bot.core.events import BellCommand, Command
from bot.core.model import Advance, Flow, PhaseStep, RoundStep, Step
from bot.core.render import clock, member_roles, text
from bot.core.run import PendingTimer, Run, RunStatus, evolve

# R-SCH-1: a bell or warning more than this late is not rung (the chair is told instead).
BELL_GRACE: Final = timedelta(minutes=2)

DEFAULT_EXTEND_MINUTES: Final = 5

# The buttons a phase header offers (BellCommand values).
PHASE_CONTROLS: Final = (
    BellCommand.pause.value,
    BellCommand.extend.value,
    BellCommand.next.value,
    BellCommand.stop.value,
    BellCommand.process.value,
)

# The buttons the "clock is paused" message offers.
PAUSED_CONTROLS: Final = (BellCommand.resume.value, BellCommand.extend.value)

_TIME_BOX_COMMANDS: Final = frozenset({BellCommand.pause, BellCommand.resume, BellCommand.extend})

# Enum members used on every event, looked up once: on Python 3.11 reading
# `SomeEnum.member` goes through the enum metaclass's `__getattr__` and costs as much as
# six plain lookups.
_WARNING: Final = TimerKind.warning
_BELL: Final = TimerKind.bell
_PHASE_HEADER: Final = MessageKind.phase
_WARNING_MESSAGE: Final = MessageKind.warning
_BELL_MESSAGE: Final = MessageKind.bell
_STATUS: Final = MessageKind.status
_CHAIR_ADVANCES: Final = Advance.chair
_PROCESS: Final = BellCommand.process
_TIME_OUT: Final = BellCommand.time_out
_PAUSE: Final = BellCommand.pause
_RESUME: Final = BellCommand.resume
_EXTEND: Final = BellCommand.extend


@lru_cache(maxsize=1024)
def _warnings(written: tuple[str, ...]) -> tuple[tuple[int, timedelta], ...]:
    """A phase's warnings as (whole minutes, span before the end), one per minute count."""
    found: dict[int, timedelta] = {}
    for text_ in written:
        before = duration(text_).approx()
        found.setdefault(int(before.total_seconds() // 60), before)
    return tuple(found.items())


def check_command(flow: Flow, run: Run, event: Command) -> Outcome | None:
    """The reply to a `/bel` command the member may not give or that does not fit the
    moment (the run unchanged); None when the draft may carry it out."""
    member = run.member(event.member)
    if member is None or member.left:
        return reply(run, event.member, "reply.not_member", title=text(flow.title, run.language))
    perms = flow.permissions
    roles = member_roles(member)
    command = event.command
    if command in (_PROCESS, _TIME_OUT):
        if roles.isdisjoint(perms.process_bell):
            return reply(
                run,
                member.id,
                "refused.process",
                roles=role_names(perms.process_bell, run.language),
            )
        return None
    if roles.isdisjoint(perms.bell):
        return reply(run, member.id, "refused.bell", roles=role_names(perms.bell, run.language))
    if command in _TIME_BOX_COMMANDS:
        step = flow_index(flow).steps[run.step] if run.step is not None else None
        state = run.state
        minutes = event.minutes if event.minutes is not None else DEFAULT_EXTEND_MINUTES
        if not isinstance(step, PhaseStep) or state is None:
            return reply(run, member.id, "reply.no_timebox")
        if command == _PAUSE and state.paused_at is not None:
            return reply(run, member.id, "reply.already_paused")
        if command == _PAUSE and state.time_up:
            return reply(run, member.id, "reply.time_up")
        if command == _RESUME and state.paused_at is None:
            return reply(run, member.id, "reply.not_paused")
        if command == _EXTEND and not 1 <= minutes <= MAX_EXTEND_MINUTES:
            return reply(run, member.id, "reply.extend_invalid", max=MAX_EXTEND_MINUTES)
    return None


class PhaseSteps(Draft):
    """The draft's part for phases and the bell."""

    __slots__ = ()

    def obey(self, event: Command) -> None:
        """Carry out a `/bel` command that `check_command` let through."""
        command = event.command
        if command in (_PROCESS, _TIME_OUT):
            if command == _TIME_OUT and self.flow.time_out is not None:
                self.call_time_out(self.flow.time_out)
            else:
                self.ring_process_bell()
            return
        step = self.index.steps[self.step] if self.step is not None else None
        # Pause and resume first: they are what a chair does most.
        if isinstance(step, PhaseStep) and command == _PAUSE:
            self.pause(step)
        elif isinstance(step, PhaseStep) and command == _RESUME:
            self.resume(step)
        elif command == BellCommand.ring:
            self.ring_by_hand()
        elif command == BellCommand.stop:
            self.stop_by_chair()
        elif command == BellCommand.next:
            self.skip_ahead(step)
        elif isinstance(step, PhaseStep):
            minutes = event.minutes if event.minutes is not None else DEFAULT_EXTEND_MINUTES
            self.extend(step, minutes)

    # ------------------------------------------------------------------ phase

    def phase(self, step: PhaseStep) -> Waiting:
        assert self.state is not None
        body = step.phase
        ends_at = after(self.now, body.duration, self.tz)
        self.state = evolve(self.state, {"ends_at": ends_at})
        length = whole_minutes(ends_at - self.now)
        lines = [
            self.t(
                "phase.header",
                title=text(body.title, self.language),
                duration=i18n.minutes(length, self.language),
                end=clock(ends_at, self.tz),
            )
        ]
        lines += [f"• {text(p, self.language)}" for p in body.prompts]
        if body.agenda is not None:
            items = self.run.agenda.get(body.agenda.value, ())
            lines.append(self.t(f"agenda.{body.agenda.value}" + ("" if items else ".none")))
            lines += [f"   – {item}" for item in items]
        self.send(
            f"phase:{self.tag}",
            THREAD,
            _PHASE_HEADER,
            "\n".join(lines),
            controls=PHASE_CONTROLS,
        )
        self.schedule_phase_timers(step)
        if body.questions:
            asked = self.holders(body.to or self.flow.participants, body.except_)
            self.open_forms(step, [m for m in asked if not m.absent])
        return WAITING

    def end_phase_answered(self, step: PhaseStep) -> None:
        """`end_when_answered`: everyone asked has answered, so the phase ends now."""
        self.send(
            f"answered:{self.tag}",
            THREAD,
            MessageKind.bell,
            self.t("phase.all_answered", title=text(step.phase.title, self.language)),
        )
        self.go_on()

    def schedule_phase_timers(self, step: PhaseStep) -> None:
        """Warnings and the bell from the phase's end time: computed from the deadline,
        never by chaining waits, so pauses and extensions cannot make a meeting drift."""
        state = self.state
        assert state is not None and state.ends_at is not None
        suffix = f".{state.generation}" if state.generation else ""
        for minutes, before in _warnings(step.phase.warnings):
            due = state.ends_at - before
            if due > self.now:  # a warning for a time already past is not given
                self.schedule(f"{self.tag}:warn:{minutes}m{suffix}", _WARNING, due)
        self.schedule(f"{self.tag}:bell{suffix}", _BELL, state.ends_at)

    def reschedule(self, step: PhaseStep, **update: object) -> None:
        assert self.state is not None
        self.cancel_timers()
        self.state = evolve(self.state, {**update, "generation": self.state.generation + 1})
        self.schedule_phase_timers(step)

    def announce(self, body: str, controls: tuple[str, ...] = ()) -> None:
        self.send(f"status:{self.tag}:{self.version}", THREAD, _STATUS, body, controls=controls)

    def warn(
        self, step: PhaseStep, timer_id: str, timer: PendingTimer, too_late: bool, late: bool
    ) -> None:
        state = self.state
        assert state is not None and state.ends_at is not None
        if too_late:
            return  # a warning long after its moment would only confuse
        left = whole_minutes(state.ends_at - timer.due)
        self.send_sentence(
            f"warn:{timer_id}",
            THREAD,
            _WARNING_MESSAGE,
            "phase.warning",
            late=late,
            minutes=i18n.minutes(left, self.language),
        )

    def bell(self, step: PhaseStep, timer_id: str, too_late: bool, late: bool) -> None:
        assert self.state is not None
        title = text(step.phase.title, self.language)
        if too_late:
            # R-SCH-1: a bell far too late is not rung in the thread; the chair hears once.
            for m in self.holders(self.flow.permissions.bell):
                self.send(
                    f"late:{timer_id}:{m.id}",
                    Destination.person(m.id),
                    MessageKind.status,
                    self.t("phase.bell_late", title=title),
                    late=True,
                )
        else:
            self.send_sentence(
                f"bell:{timer_id}", THREAD, _BELL_MESSAGE, "phase.bell", late=late, title=title
            )
        if step.phase.advance == _CHAIR_ADVANCES:
            self.state = evolve(self.state, {"time_up": True})
            for m in self.holders(self.flow.permissions.bell):
                self.send(
                    f"timeup:{timer_id}:{m.id}",
                    Destination.person(m.id),
                    MessageKind.status,
                    self.t("phase.time_up_chair", title=title),
                )
            return
        self.go_on()

    def pause(self, step: PhaseStep) -> None:
        state = self.state
        assert state is not None and state.ends_at is not None
        self.cancel_timers()
        self.state = evolve(state, {"paused_at": self.now})
        left = i18n.minutes(whole_minutes(state.ends_at - self.now), self.language)
        # The header's pause button can't resume: this message offers the way back.
        self.announce(self.t("phase.paused", remaining=left), controls=PAUSED_CONTROLS)

    def resume(self, step: PhaseStep) -> None:
        state = self.state
        assert state is not None and state.ends_at is not None and state.paused_at is not None
        ends_at = state.ends_at + (self.now - state.paused_at)
        self.reschedule(step, ends_at=ends_at, paused_at=None, time_out=False)
        self.announce(self.t("phase.resumed", end=clock(ends_at, self.tz)))

    def extend(self, step: PhaseStep, minutes: int) -> None:
        state = self.state
        assert state is not None and state.ends_at is not None
        more = i18n.minutes(minutes, self.language)
        extended = state.extended_minutes + minutes
        if state.paused_at is not None:
            # Paused: move the end; the timers come back when the clock runs again.
            ends_at = state.ends_at + timedelta(minutes=minutes)
            self.state = evolve(state, {"ends_at": ends_at, "extended_minutes": extended})
            left = i18n.minutes(whole_minutes(ends_at - state.paused_at), self.language)
            self.announce(self.t("phase.extended_paused", minutes=more, remaining=left))
            return
        # After the bell (advance: chair) the extra time counts from now, not from the
        # end that has passed.
        base = self.now if state.time_up else state.ends_at
        ends_at = base + timedelta(minutes=minutes)
        self.reschedule(step, ends_at=ends_at, extended_minutes=extended, time_up=False)
        self.announce(self.t("phase.extended", minutes=more, end=clock(ends_at, self.tz)))

    # ------------------------------------------------------------------ bell commands

    def ring_by_hand(self) -> None:
        self.send(
            f"ring:{self.tag}:{self.version}",
            THREAD,
            MessageKind.bell,
            self.t("bell.manual"),
        )

    def ring_process_bell(self) -> None:
        # Never says who rang it: the process bell must be safe to ring.
        self.process_bells += 1
        self.send(
            f"process:{self.version}",
            THREAD,
            MessageKind.process_bell,
            self.t("bell.process"),
        )

    def call_time_out(self, time_out_flow: str) -> None:
        """`/bel time-out`: counts as a process bell (never says who), pauses a running
        phase until the time-out flow ends, and starts that flow with the same people."""
        self.process_bells += 1
        step = self.index.steps[self.step] if self.step is not None else None
        state = self.state
        if (
            isinstance(step, PhaseStep)
            and state is not None
            and state.ends_at is not None
            and state.paused_at is None
            and not state.time_up
        ):
            self.cancel_timers()
            self.state = evolve(state, {"paused_at": self.now, "time_out": True})
        self.send(
            f"time-out:{self.version}", THREAD, MessageKind.process_bell, self.t("bell.time_out")
        )
        people = tuple(m.id for m in self.holders(self.flow.participants))
        self.effects.append(StartFlow(time_out_flow, people))

    def stop_by_chair(self) -> None:
        self.send(
            f"stopped:{self.version}",
            THREAD,
            MessageKind.status,
            self.t("run.stopped", title=self.title),
        )
        self.finish(RunStatus.stopped, "stopped with the bell")

    def skip_ahead(self, step: Step | None) -> None:
        """`/bel volgende`: end this phase, close this collection, end this wait, pass
        this ask, or give the next person in a round their turn."""
        if isinstance(step, RoundStep):
            self.next_turn(step)
            return
        if isinstance(step, PhaseStep) and self.state is not None and not self.state.time_up:
            self.send(
                f"next:{self.tag}",
                THREAD,
                MessageKind.bell,
                self.t("phase.next", title=text(step.phase.title, self.language)),
            )
        self.go_on()
