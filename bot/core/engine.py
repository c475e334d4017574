"""The engine: runs a flow as a pure state machine — an event in, a new run and effects out.

In the style of h11: `start(flow, ctx, now)` and `advance(flow, run, event, now)` return
an `Outcome` (the new run and the effects the shell must carry out) and do nothing
else — no I/O, no clock, no database. Time is the `now` argument; a `now` earlier than
the run's clock counts as the run's clock, so time never runs backwards for a run.

An event the engine does not accept (a refusal, an invalid answer, a stale click, a timer
that is no longer pending) leaves the run exactly as it was — the same object, the same
version — and at most answers the member with a Reply. Every accepted event bumps
`run.version` by one.

Identifiers the shell relies on (unique within a run, never reused):

- timer ids: `{tag}:bell`, `{tag}:warn:{minutes}m`, `{tag}:deadline`, `{tag}:remind:{i}`,
  `{tag}:timeout`, `{tag}:turn:{i}`, `{tag}:wait`. A phase's timers get `.{generation}`
  appended after every pause/resume/extend, and the old ones are cancelled, so a late
  fire of an old id finds nothing pending and is ignored.
- message keys: `form:{tag}:{member}` (the form an Edit updates), `phase:{tag}`,
  `say:{tag}`, `summary:{tag}`, `round:{tag}:{member}`, `next:{tag}`, `closing:{tag}`;
  messages caused by a timer carry its id (`warn:{timer}`, `bell:{timer}`,
  `remind:{timer}:{member}`, `timeup:{timer}:{member}`, `late:{timer}:{member}`);
  messages caused by a command carry the run version (`status:{tag}:{version}`,
  `ring:{tag}:{version}`, `process:{version}`, `stopped:{version}`). A say or summary to
  several people appends `:{member}`. Every Send key is used once per run.

`tag` is the step id, or `{step}~{n}` when a flow comes back to a step for the n-th time.

The engine is split by step kind; this module holds the entry points and sends each event
to the part that handles it. `bot.core.draft` holds what every kind shares (the draft of
the run an event changes), `bot.core.forms` ask and collect and the answers,
`bot.core.phases` phases and the bell, `bot.core.rounds` rounds, and
`bot.core.simple_steps` the steps that ask nobody anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot.core import i18n
from bot.core.address import addressed
from bot.core.draft import Outcome, flow_index, reply, role_names, utc
from bot.core.effects import Message, MessageKind, Reply, TimerKind
from bot.core.events import (
    Answered,
    Command,
    Event,
    Member,
    MemberJoined,
    MemberLeft,
    StartContext,
    TimeOutEnded,
    TimerFired,
)
from bot.core.forms import Finished, FormSteps, Taken, check_answer
from bot.core.model import CollectStep, Flow, PhaseStep, RoundStep
from bot.core.phases import BELL_GRACE, PhaseSteps, check_command
from bot.core.render import text
from bot.core.rounds import RoundSteps
from bot.core.run import MemberState, Run, RunStatus
from bot.core.simple_steps import SimpleSteps

__all__ = ["Outcome", "advance", "may_start", "start"]

# Looked up once: on Python 3.11 reading `SomeEnum.member` goes through the enum
# metaclass's `__getattr__` and costs as much as six plain lookups.
_ACTIVE: Final = RunStatus.active
_WARNING: Final = TimerKind.warning
_BELL: Final = TimerKind.bell


class _Draft(FormSteps, PhaseSteps, RoundSteps, SimpleSteps):
    """The draft of one event, with every step kind's part."""

    __slots__ = ()


# --------------------------------------------------------------------------- public API


def may_start(flow: Flow, member: Member | None) -> bool:
    """May `member` start `flow`? A schedule or cadence (`None`) always may."""
    if member is None:
        return True
    return bool((member.roles | {"member"}) & set(flow.permissions.start))


def start(flow: Flow, ctx: StartContext, now: datetime) -> Outcome:
    """Begin a run of `flow`: enter its first step and go on until a step waits.

    A starter without a role in `permissions.start` gets a refusal; the run returned then
    has status `refused` and should not be stored as active. A run chained from another
    (`ctx.parent_run`) is started by that flow, not by a person, and is not checked.
    """
    now = utc(now)
    team = ctx.team
    flow = addressed(flow, team.address)
    run = Run(
        id=ctx.run_id,
        flow_id=flow.id,
        flow_version=flow.version,
        status=RunStatus.active,
        step=None,
        version=0,
        clock=now,
        started_at=now,
        language=team.language,
        address=team.address,
        timezone=team.timezone,
        members=tuple(
            MemberState(id=m.id, name=m.name, roles=tuple(sorted(m.roles)), absent=m.absent)
            for m in team.members
        ),
        participants=ctx.participants,
        started_by=ctx.started_by,
        event_kind=ctx.event.kind if ctx.event is not None else None,
        event_at=utc(ctx.event.at) if ctx.event is not None else None,
        parent_run=ctx.parent_run,
        agenda={name: tuple(lines) for name, lines in ctx.agenda.items()},
    )
    if ctx.started_by is not None and ctx.parent_run is None:
        starter = next((m for m in team.members if m.id == ctx.started_by), None)
        if starter is None or not may_start(flow, starter):
            refused = run.model_copy(
                update={"status": RunStatus.refused, "reason": "starter lacks a start role"}
            )
            roles = role_names(flow.permissions.start, run.language)
            message = Message(
                MessageKind.reply,
                i18n.t(
                    "refused.start",
                    run.language,
                    run.address,
                    roles=roles,
                    title=text(flow.title, run.language),
                ),
            )
            return Outcome(refused, (Reply(ctx.started_by, message),))
    draft = _Draft(flow, run, now)
    draft.go_to(draft.index.first)
    return draft.outcome()


def advance(flow: Flow, run: Run, event: Event, now: datetime) -> Outcome:
    """Apply one event to `run`. Returns the same run object when nothing changes."""
    now = utc(now)
    flow = addressed(flow, run.address)
    if now < run.clock:
        now = run.clock  # time never runs backwards for a run
    if run.status != _ACTIVE:
        if isinstance(event, Answered | Command):
            return reply(run, event.member, "reply.ended", title=text(flow.title, run.language))
        return Outcome(run, ())
    if isinstance(event, Answered):
        return _on_answer(flow, run, event, now)
    if isinstance(event, Command):
        return _on_command(flow, run, event, now)
    if isinstance(event, TimerFired):
        return _on_timer(flow, run, event, now)
    if isinstance(event, MemberJoined):
        return _on_joined(flow, run, event, now)
    if isinstance(event, TimeOutEnded):
        return _on_time_out_ended(flow, run, now)
    if isinstance(event, MemberLeft):
        return _on_presence(flow, run, event.member, now, left=True)
    return _on_presence(flow, run, event.member, now, absent=event.absent)


# --------------------------------------------------------------------------- answers


def _on_answer(flow: Flow, run: Run, event: Answered, now: datetime) -> Outcome:
    taken = check_answer(flow, run, event, now)
    if not isinstance(taken, Taken | Finished):
        return taken
    draft = _Draft(flow, run, now)
    if isinstance(taken, Finished):
        draft.finish_part(taken)
    else:
        draft.take(taken)
    return draft.outcome()


# --------------------------------------------------------------------------- the bell


def _on_command(flow: Flow, run: Run, event: Command, now: datetime) -> Outcome:
    refused = check_command(flow, run, event)
    if refused is not None:
        return refused
    draft = _Draft(flow, run, now)
    draft.obey(event)
    return draft.outcome()


def _on_time_out_ended(flow: Flow, run: Run, now: datetime) -> Outcome:
    """The time-out is over: a phase it paused runs again (one the chair paused stays)."""
    step = flow_index(flow).steps[run.step] if run.step is not None else None
    state = run.state
    if not isinstance(step, PhaseStep) or state is None or not state.time_out:
        return Outcome(run, ())
    draft = _Draft(flow, run, now)
    draft.resume(step)
    return draft.outcome()


# --------------------------------------------------------------------------- timers


def _on_timer(flow: Flow, run: Run, event: TimerFired, now: datetime) -> Outcome:
    pending = run.timers.get(event.timer_id)
    if pending is None:
        return Outcome(run, ())  # cancelled, rescheduled or already fired: stale
    draft = _Draft(flow, run, now)
    del draft.timers[event.timer_id]
    step = draft.index.steps[run.step] if run.step is not None else None
    too_late = now - pending.due > BELL_GRACE
    kind = pending.kind
    if kind == _WARNING and isinstance(step, PhaseStep):
        draft.warn(step, event.timer_id, pending, too_late, event.late)
    elif kind == _BELL and isinstance(step, PhaseStep):
        draft.bell(step, event.timer_id, too_late, event.late)
    elif isinstance(step, CollectStep) and kind == TimerKind.reminder:
        draft.remind(step, event.timer_id, event.late)
    elif isinstance(step, RoundStep) and kind == TimerKind.turn:
        draft.next_turn(step)
    elif kind in (TimerKind.deadline, TimerKind.timeout, TimerKind.wait):
        draft.go_on()
    return draft.outcome()


# --------------------------------------------------------------------------- members


def _on_joined(flow: Flow, run: Run, event: MemberJoined, now: datetime) -> Outcome:
    m = event.member
    joined = MemberState(id=m.id, name=m.name, roles=tuple(sorted(m.roles)), absent=m.absent)
    draft = _Draft(flow, run, now)
    if run.member(m.id) is None:
        draft.members = (*run.members, joined)
    else:
        draft.members = tuple(joined if x.id == m.id else x for x in run.members)
    draft.welcome(joined)
    return draft.outcome()


def _on_presence(
    flow: Flow,
    run: Run,
    member_id: str,
    now: datetime,
    left: bool | None = None,
    absent: bool | None = None,
) -> Outcome:
    member = run.member(member_id)
    if member is None:
        return Outcome(run, ())
    update: dict[str, bool] = {}
    if left is not None and left != member.left:
        update["left"] = left
    if absent is not None and absent != member.absent:
        update["absent"] = absent
    if not update:
        return Outcome(run, ())
    changed = member.model_copy(update=update)
    draft = _Draft(flow, run, now)
    draft.members = tuple(changed if x.id == member_id else x for x in run.members)
    if changed.left or changed.absent:
        draft.excuse(changed)
    else:
        draft.welcome(changed)
    return draft.outcome()
