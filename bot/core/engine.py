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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from bot.core import i18n
from bot.core.address import addressed
from bot.core.answers import Accepted, holds, read_answer
from bot.core.commands import MAX_EXTEND_MINUTES
from bot.core.effects import (
    CancelTimer,
    Destination,
    Edit,
    Effect,
    Finish,
    Message,
    MessageKind,
    QuestionView,
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
    MemberJoined,
    MemberLeft,
    StartContext,
    TimeOutEnded,
    TimerFired,
)
from bot.core.model import (
    Advance,
    AskStep,
    BranchCase,
    BranchOtherwise,
    BranchStep,
    CollectStep,
    Condition,
    EndStep,
    Flow,
    PhaseStep,
    Question,
    RoundStep,
    SayStep,
    StartFlowStep,
    Step,
    SummaryStep,
    Visibility,
    WaitStep,
)
from bot.core.render import (
    audience,
    clock,
    display_value,
    form_lines,
    holders,
    member_roles,
    question_view,
    render_summary,
    step_questions,
    step_roles,
    text,
    when,
    with_answer,
)
from bot.core.run import (
    Answer,
    MemberState,
    PendingTimer,
    Run,
    RunStatus,
    StepState,
    evolve,
    find_member,
    given_answer,
    pending_timer,
    step_state,
    with_fields,
)
from bot.core.timing import (
    Duration,
    Offset,
    add,
    parse_deadline,
    parse_duration,
    resolve_offset,
    subtract,
)

# A flow that goes round through instantaneous steps (say → branch → say → ...) without
# ever waiting would never return; past this many steps in one event the run is stopped.
MAX_STEPS_PER_EVENT: Final = 1000

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

_THREAD: Final = Destination.thread()
_NONE: Final[Mapping[str, Any]] = MappingProxyType({})  # an empty mapping to look into

_TIME_BOX_COMMANDS: Final = frozenset({BellCommand.pause, BellCommand.resume, BellCommand.extend})

# The run fields a draft may change, all written back by `_Draft.snapshot`.
_SNAPSHOT_FIELDS: Final = frozenset(
    {
        "status",
        "step",
        "version",
        "clock",
        "members",
        "timers",
        "answers",
        "asked",
        "visits",
        "process_bells",
        "state",
        "reason",
        "notes",
    }
)

# Enum members compared or passed on every event, looked up once: on Python 3.11 reading
# `SomeEnum.member` goes through the enum metaclass's `__getattr__` and costs as much as
# six plain lookups (and `AnswerKind.value`, which shadows `Enum.value`, far more).
_ACTIVE: Final = RunStatus.active
_ANSWER_KINDS: Final = {kind.value: kind for kind in AnswerKind}  # by member or by value
_GIVEN: Final = AnswerKind.value
_FORM: Final = MessageKind.form
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `start` and `advance` return: the new run and what the shell must do."""

    run: Run
    effects: tuple[Effect, ...]


# --------------------------------------------------------------------------- the flow


@dataclass(frozen=True, slots=True)
class _BlankForm:
    """A form as it is before anyone answers."""

    lines: tuple[str, ...]  # its text, a line each, without the deadline
    views: tuple[QuestionView, ...]  # its questions, unanswered


@dataclass(frozen=True, slots=True)
class _Index:
    """A flow's steps by id and where each goes next, computed once per flow object."""

    first: str
    steps: dict[str, Step]
    following: dict[str, str | None]
    questions: dict[tuple[str, str], Question]  # (step, question id) -> question
    required: dict[str, tuple[str, ...]]  # step -> ids of its questions that must be answered
    asks: dict[str, bool]  # step -> does it ask questions (and so send forms)?
    # Blank forms by (step tag, language, address, closed): a form is drawn for every
    # person asked and redrawn on every answer, and only its `current` values change. The
    # deadline line is added per run, so that no moment ends up in a key.
    forms: dict[tuple[str, str, str, bool], _BlankForm] = field(default_factory=dict)


_INDEXES: dict[int, tuple[Flow, _Index]] = {}


def _index(flow: Flow) -> _Index:
    # Keyed on the object: a loaded flow is frozen and lives as long as the process.
    # The flow is kept in the entry so its id cannot be reused by another object.
    hit = _INDEXES.get(id(flow))
    if hit is not None and hit[0] is flow:
        return hit[1]
    if len(_INDEXES) >= 256:
        _INDEXES.clear()
    ids = [s.id for s in flow.steps]
    following: dict[str, str | None] = {}
    for i, step in enumerate(flow.steps):
        following[step.id] = (
            step.next if step.next is not None else (ids[i + 1] if i + 1 < len(ids) else None)
        )
    index = _Index(
        first=ids[0],
        steps={s.id: s for s in flow.steps},
        following=following,
        questions={(s.id, q.id): q for s in flow.steps for q in step_questions(s)},
        required={
            s.id: tuple(q.id for q in step_questions(s) if not q.optional) for s in flow.steps
        },
        asks={s.id: bool(step_questions(s)) for s in flow.steps},
    )
    _INDEXES[id(flow)] = (flow, index)
    return index


@lru_cache(maxsize=2048)
def _duration(written: str) -> Duration:
    return parse_duration(written)


@lru_cache(maxsize=2048)
def _span(written: str) -> timedelta | None:
    """The exact length of a clock duration (minutes, hours); None for calendar units."""
    duration = parse_duration(written)
    return None if duration.calendar else duration.approx()


def _after(moment: datetime, written: str, tz: str) -> datetime:
    """`moment` + the duration `written`: exact for clock units, on the calendar of `tz`
    for days and longer (so 1d across a DST change keeps the wall time)."""
    span = _span(written)
    return moment + span if span is not None else add(moment, _duration(written), tz)


@lru_cache(maxsize=2048)
def _deadline(written: str) -> Duration | Offset:
    return parse_deadline(written)


@lru_cache(maxsize=1024)
def _warnings(written: tuple[str, ...]) -> tuple[tuple[int, timedelta], ...]:
    """A phase's warnings as (whole minutes, span before the end), one per minute count."""
    found: dict[int, timedelta] = {}
    for text_ in written:
        before = _duration(text_).approx()
        found.setdefault(int(before.total_seconds() // 60), before)
    return tuple(found.items())


@lru_cache(maxsize=4096)
def _said(
    kind: MessageKind, late: bool, key: str, language: str, address: str, **params: str
) -> Message:
    """A message that is one catalogue sentence, such as a warning or a bell. Every run
    says the same few of them, so each is made once instead of on every event; they are
    never used for sentences with a clock time in them, which differ from run to run."""
    return Message(kind, i18n.t(key, language, address, **params), late=late)


@lru_cache(maxsize=1024)
def _deadline_line(closes_at: datetime, tz: str, language: str, address: str) -> str:
    """The last line of an open collection's form, for all its forms and all their edits."""
    return i18n.t("form.deadline", language, address, when=when(closes_at, tz, language))


@lru_cache(maxsize=4096)
def _person(member_id: str) -> Destination:
    """A member's direct messages: the same small value for every form and reminder."""
    return Destination.person(member_id)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the engine takes aware datetimes only")
    return moment.astimezone(UTC)


def _whole_minutes(span: timedelta) -> int:
    """A remaining time in whole minutes, rounded up: 4m10s left reads "5 minutes"."""
    seconds = max(0, int(span.total_seconds()))
    return -(-seconds // 60)


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
    now = _utc(now)
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
        event_at=_utc(ctx.event.at) if ctx.event is not None else None,
        parent_run=ctx.parent_run,
        agenda={name: tuple(lines) for name, lines in ctx.agenda.items()},
    )
    if ctx.started_by is not None and ctx.parent_run is None:
        starter = next((m for m in team.members if m.id == ctx.started_by), None)
        if starter is None or not may_start(flow, starter):
            refused = run.model_copy(
                update={"status": RunStatus.refused, "reason": "starter lacks a start role"}
            )
            roles = _role_names(flow.permissions.start, run.language)
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
    now = _utc(now)
    flow = addressed(flow, run.address)
    if now < run.clock:
        now = run.clock  # time never runs backwards for a run
    if run.status != _ACTIVE:
        if isinstance(event, Answered | Command):
            return _reply(run, event.member, "reply.ended", title=text(flow.title, run.language))
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


def _reply(run: Run, member: str, key: str, **params: object) -> Outcome:
    """Answer one member and change nothing."""
    message = Message(MessageKind.reply, i18n.t(key, run.language, run.address, **params))
    return Outcome(run, (Reply(member, message),))


def _role_names(roles: Sequence[str], language: str) -> str:
    return i18n.join((i18n.role_name(r, language) for r in roles), language, word="or")


# --------------------------------------------------------------------------- answers


def _on_answer(flow: Flow, run: Run, event: Answered, now: datetime) -> Outcome:
    member = run.member(event.member)
    if member is None or member.left:
        return _reply(run, event.member, "reply.not_member", title=text(flow.title, run.language))
    index = _index(flow)
    # Forms carry the step's tag (`QuestionView.step`): `vraag~2` on a second visit, so a
    # click on the form of an earlier visit is recognised as stale. A plain step id
    # (typed, or from a first visit) means the current visit.
    step_id = event.step.partition("~")[0]
    step = index.steps.get(step_id)
    state = run.state
    if step is None or step_id not in run.visits:
        return _reply(run, event.member, "reply.not_open")
    if step_id != run.step or state is None or (event.step != step_id and event.step != state.tag):
        # R-ING-5: the flow has moved on. A collection (or a phase's questions) closed;
        # anything else was handled.
        key = (
            "reply.closed" if isinstance(step, CollectStep | PhaseStep) else "reply.already_handled"
        )
        return _reply(run, event.member, key)
    question = index.questions.get((step.id, event.question))
    if question is None:
        return _reply(run, event.member, "reply.not_open")
    if isinstance(step, RoundStep):
        turn = state.order[state.index] if state.index < len(state.order) else None
        if member.id != turn:
            if member.id in state.order[: state.index]:
                return _reply(run, member.id, "reply.already_handled")
            if member.id in state.order:
                return _reply(run, member.id, "reply.not_your_turn")
            return _reply(run, member.id, "reply.not_asked")
    elif member.id not in state.recipients:
        return _reply(run, member.id, "reply.not_asked")
    read = read_answer(question, event.value, event.kind, run.members, run.language, run.address)
    if not isinstance(read, Accepted):
        prompt = f"{text(question.text, run.language)}\n{read.prompt}"
        return Outcome(run, (Reply(member.id, Message(MessageKind.reply, prompt)),))
    before = run.answers.get(step.id, _NONE).get(question.id, _NONE).get(member.id)
    if before is not None and before.value == read.value and before.kind == read.kind:
        return Outcome(run, ())  # the same answer again (a double click): nothing to do
    # Made without validation: `read_answer` gives only canonical values; the kind is
    # made an AnswerKind here, as validation would (a shell may pass it as a string).
    answer = given_answer(read.value, _ANSWER_KINDS[read.kind], now)
    draft = _Draft(flow, run, now)
    draft.store(step.id, question.id, member.id, answer)
    if isinstance(step, AskStep):
        draft.go_on()
    elif isinstance(step, CollectStep):
        if draft.everyone_answered(step):
            draft.go_on()
        else:
            draft.edit_form(step, member.id)
    elif isinstance(step, PhaseStep):
        draft.edit_form(step, member.id)
    elif isinstance(step, RoundStep):
        draft.post_round_answer(step, member, question)
        draft.next_turn(step)
    return draft.outcome()


# --------------------------------------------------------------------------- the bell


def _on_command(flow: Flow, run: Run, event: Command, now: datetime) -> Outcome:
    member = run.member(event.member)
    if member is None or member.left:
        return _reply(run, event.member, "reply.not_member", title=text(flow.title, run.language))
    perms = flow.permissions
    roles = member_roles(member)
    command = event.command
    if command in (_PROCESS, _TIME_OUT):
        if roles.isdisjoint(perms.process_bell):
            return _reply(
                run,
                member.id,
                "refused.process",
                roles=_role_names(perms.process_bell, run.language),
            )
        draft = _Draft(flow, run, now)
        if command == _TIME_OUT and flow.time_out is not None:
            draft.call_time_out(flow.time_out)
        else:
            draft.ring_process_bell()
        return draft.outcome()
    if roles.isdisjoint(perms.bell):
        return _reply(run, member.id, "refused.bell", roles=_role_names(perms.bell, run.language))
    step = _index(flow).steps[run.step] if run.step is not None else None
    state = run.state
    minutes = event.minutes if event.minutes is not None else DEFAULT_EXTEND_MINUTES
    if command in _TIME_BOX_COMMANDS:
        if not isinstance(step, PhaseStep) or state is None:
            return _reply(run, member.id, "reply.no_timebox")
        if command == _PAUSE and state.paused_at is not None:
            return _reply(run, member.id, "reply.already_paused")
        if command == _PAUSE and state.time_up:
            return _reply(run, member.id, "reply.time_up")
        if command == _RESUME and state.paused_at is None:
            return _reply(run, member.id, "reply.not_paused")
        if command == _EXTEND and not 1 <= minutes <= MAX_EXTEND_MINUTES:
            return _reply(run, member.id, "reply.extend_invalid", max=MAX_EXTEND_MINUTES)
    draft = _Draft(flow, run, now)
    # Pause and resume first: they are what a chair does most.
    if isinstance(step, PhaseStep) and command == _PAUSE:
        draft.pause(step)
    elif isinstance(step, PhaseStep) and command == _RESUME:
        draft.resume(step)
    elif command == BellCommand.ring:
        draft.ring_by_hand()
    elif command == BellCommand.stop:
        draft.stop_by_chair()
    elif command == BellCommand.next:
        draft.skip_ahead(step)
    elif isinstance(step, PhaseStep):
        draft.extend(step, minutes)
    return draft.outcome()


def _on_time_out_ended(flow: Flow, run: Run, now: datetime) -> Outcome:
    """The time-out is over: a phase it paused runs again (one the chair paused stays)."""
    step = _index(flow).steps[run.step] if run.step is not None else None
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


# --------------------------------------------------------------------------- the draft


class _Draft:
    """One accepted event being applied: the run's changing parts and the effects so far.

    Fields are replaced (never mutated in place) when they hold containers shared with
    the old run, so the run passed in stays exactly as it was.
    """

    __slots__ = (
        "address",
        "answers",
        "asked",
        "effects",
        "flow",
        "index",
        "language",
        "members",
        "notes",
        "now",
        "process_bells",
        "reason",
        "run",
        "state",
        "status",
        "step",
        "timers",
        "tz",
        "version",
        "visits",
    )

    def __init__(self, flow: Flow, run: Run, now: datetime) -> None:
        # The run's fields are read from its `__dict__`: pydantic models define
        # `__getattr__`, which makes every attribute read several times as slow.
        fields = run.__dict__
        self.flow = flow
        self.index = _index(flow)
        self.run = run
        self.now = now
        self.language: str = fields["language"]
        self.address: str = fields["address"]
        self.tz: str = fields["timezone"]
        self.version: int = fields["version"] + 1
        self.status: RunStatus = fields["status"]
        self.step: str | None = fields["step"]
        self.state: StepState | None = fields["state"]
        self.timers: dict[str, PendingTimer] = fields["timers"].copy()
        self.answers: dict[str, dict[str, dict[str, Answer]]] = fields["answers"]
        self.asked: dict[str, tuple[str, ...]] = fields["asked"]
        self.visits: dict[str, int] = fields["visits"]
        self.members: tuple[MemberState, ...] = fields["members"]
        self.process_bells: int = fields["process_bells"]
        self.reason: str | None = fields["reason"]
        self.notes: tuple[str, ...] = fields["notes"]
        self.effects: list[Effect] = []

    # ------------------------------------------------------------------ the result

    def snapshot(self) -> Run:
        """The run as this event leaves it. Done once per event, so spelled out: a copy
        of the old run's fields with the draft's written over them."""
        fields = self.run.__dict__.copy()
        fields["status"] = self.status
        fields["step"] = self.step
        fields["version"] = self.version
        fields["clock"] = self.now
        fields["members"] = self.members
        fields["timers"] = self.timers
        fields["answers"] = self.answers
        fields["asked"] = self.asked
        fields["visits"] = self.visits
        fields["process_bells"] = self.process_bells
        fields["state"] = self.state
        fields["reason"] = self.reason
        fields["notes"] = self.notes
        return with_fields(self.run, fields, _SNAPSHOT_FIELDS)

    def outcome(self) -> Outcome:
        return Outcome(self.snapshot(), tuple(self.effects))

    # ------------------------------------------------------------------ small helpers

    def t(self, key: str, **params: object) -> str:
        return i18n.t(key, self.language, self.address, **params)

    @property
    def title(self) -> str:
        return text(self.flow.title, self.language)

    @property
    def tag(self) -> str:
        return self.state.tag if self.state is not None else str(self.step)

    def member(self, member_id: str) -> MemberState | None:
        return find_member(self.members, member_id)

    def send(
        self,
        key: str,
        to: Destination,
        kind: MessageKind,
        body: str,
        late: bool = False,
        controls: tuple[str, ...] = (),
    ) -> None:
        self.effects.append(Send(key, to, Message(kind, body, controls=controls, late=late)))

    def send_sentence(
        self,
        key: str,
        to: Destination,
        kind: MessageKind,
        sentence: str,
        late: bool = False,
        **params: str,
    ) -> None:
        """Send one catalogue sentence whose words do not depend on the moment."""
        message = _said(kind, late, sentence, self.language, self.address, **params)
        self.effects.append(Send(key, to, message))

    def schedule(self, timer_id: str, kind: TimerKind, due: datetime) -> None:
        self.timers[timer_id] = pending_timer(kind, due)
        self.effects.append(ScheduleTimer(timer_id, kind, due))

    def cancel_timers(self) -> None:
        for timer_id in self.timers:
            self.effects.append(CancelTimer(timer_id))
        self.timers = {}

    def note(self, why: str) -> None:
        self.notes = (*self.notes, why)

    def holders(self, roles: Sequence[str]) -> list[MemberState]:
        return holders(self.members, self.run.participants, roles)

    def people(self, to: str) -> list[MemberState]:
        """Who a message to `to` reaches in person. Without a starter (a scheduled run),
        "starter" means whoever holds a bell role: the chair."""
        if to == "starter":
            starter = self.member(self.run.started_by) if self.run.started_by else None
            if starter is not None and not starter.left:
                return [starter]
            return self.holders(self.flow.permissions.bell)
        if to in ("thread", "channel"):
            return self.holders(self.flow.participants)
        return self.holders((to,))

    def store(self, step_id: str, question_id: str, member_id: str, answer: Answer) -> None:
        per_step = self.answers.get(step_id, {})
        per_question = {**per_step.get(question_id, {}), member_id: answer}
        self.answers = {**self.answers, step_id: {**per_step, question_id: per_question}}

    def answered_all(self, step: Step, member_id: str) -> bool:
        stored = self.answers.get(step.id, _NONE)
        return all(member_id in stored.get(q, _NONE) for q in self.index.required.get(step.id, ()))

    def everyone_answered(self, step: Step) -> bool:
        """Has everyone asked who still takes part answered every required question?

        Asked after every answer, so it goes question by question and looks a person up
        only when their answer is missing, rather than checking each person in full.
        """
        assert self.state is not None
        stored = self.answers.get(step.id, _NONE)
        recipients = self.state.recipients
        for question_id in self.index.required.get(step.id, ()):
            given = stored.get(question_id, _NONE)
            for member_id in recipients:
                if member_id not in given:
                    m = self.member(member_id)
                    if m is not None and not m.left and not m.absent:
                        return False
        return True

    # ------------------------------------------------------------------ moving along

    def go_on(self) -> None:
        """Leave the current step and go to the one after it."""
        current = self.step
        self.leave()
        self.go_to(self.index.following.get(current) if current is not None else None)

    def go_to(self, target: str | None) -> None:
        """Enter `target` and every instantaneous step after it, until one waits."""
        for _ in range(MAX_STEPS_PER_EVENT):
            if target is None:
                self.finish(RunStatus.done)
                return
            step = self.index.steps.get(target)
            if step is None:
                self.stop_broken(target)
                return
            following = self.enter(step)
            if isinstance(following, _Waiting):
                return
            target = following
        self.stop_looping()

    def leave(self) -> None:
        """Close the current step: its open forms read "closed", its timers go."""
        step = self.index.steps.get(self.step) if self.step is not None else None
        if step is not None and self.state is not None:
            if isinstance(step, RoundStep):
                if self.state.index < len(self.state.order):
                    self.edit_form(step, self.state.order[self.state.index], closed=True)
            elif self.index.asks[step.id]:
                for member_id in self.state.recipients:
                    self.edit_form(step, member_id, closed=True)
        self.cancel_timers()
        self.state = None

    def finish(self, status: RunStatus, reason: str | None = None) -> None:
        self.leave()
        self.status = status
        self.reason = reason
        self.effects.append(Finish(status.value))

    def stop_broken(self, target: str) -> None:
        self.send(
            f"stopped:{self.version}",
            _THREAD,
            MessageKind.status,
            self.t("run.stopped_broken", title=self.title, step=target),
        )
        self.finish(RunStatus.stopped, f"no step '{target}'")

    def stop_looping(self) -> None:
        self.send(
            f"stopped:{self.version}",
            _THREAD,
            MessageKind.status,
            self.t("run.stopped_loop", title=self.title),
        )
        self.finish(
            RunStatus.stopped,
            f"more than {MAX_STEPS_PER_EVENT} steps without waiting, at '{self.step}'",
        )

    def enter(self, step: Step) -> str | _Waiting | None:
        """Start `step`. Returns the step to go to at once, None for the end, or
        `_WAITING` when the step waits for people or time."""
        visits = self.visits.get(step.id, 0) + 1
        self.visits = {**self.visits, step.id: visits}
        tag = step.id if visits == 1 else f"{step.id}~{visits}"
        self.step = step.id
        self.state = step_state(self.now, tag)
        if visits > 1 and step.id in self.answers:
            # Coming back to a step asks its questions afresh.
            self.answers = {k: v for k, v in self.answers.items() if k != step.id}
        following = self.index.following[step.id]
        if isinstance(step, SayStep):
            self.say(step)
        elif isinstance(step, AskStep):
            return self.ask(step)
        elif isinstance(step, CollectStep):
            return self.collect(step)
        elif isinstance(step, PhaseStep):
            return self.phase(step)
        elif isinstance(step, RoundStep):
            return self.round(step)
        elif isinstance(step, SummaryStep):
            self.summary(step)
        elif isinstance(step, BranchStep):
            return self.branch(step)
        elif isinstance(step, StartFlowStep):
            self.start_flow(step)
        elif isinstance(step, WaitStep):
            return self.wait(step)
        elif isinstance(step, EndStep):
            if step.end is not None and step.end.text is not None:
                self.send(
                    f"closing:{tag}",
                    _THREAD,
                    MessageKind.closing,
                    text(step.end.text, self.language),
                )
            return None
        return following

    # ------------------------------------------------------------------ say, summary

    def destinations(self, to: str, key: str) -> list[tuple[str, Destination, str]]:
        """(message key, destination, audience name) for a message to `to`."""
        if to == "thread":
            return [(key, _THREAD, to)]
        if to == "channel":
            return [(key, Destination.channel(), to)]
        seen_as = to
        starter = self.member(self.run.started_by) if self.run.started_by else None
        if to == "starter" and (starter is None or starter.left):
            # `people` gives the chair instead; they read it as the chair would.
            seen_as = self.flow.permissions.bell[0] if self.flow.permissions.bell else "member"
        return [(f"{key}:{m.id}", Destination.person(m.id), seen_as) for m in self.people(to)]

    def say(self, step: SayStep) -> None:
        body = text(step.say.text, self.language)
        for key, to, _ in self.destinations(step.say.to, f"say:{self.tag}"):
            self.send(key, to, MessageKind.say, body)

    def summary(self, step: SummaryStep) -> None:
        run = self.snapshot()
        for key, to, seen_as in self.destinations(step.summary.to, f"summary:{self.tag}"):
            body = render_summary(self.flow, run, step.summary, audience(self.flow, run, seen_as))
            self.send(key, to, MessageKind.summary, body)

    # ------------------------------------------------------------------ forms

    def form_message(self, step: Step, member_id: str, closed: bool = False) -> Message:
        blank = self.blank_form(step, closed)
        lines = blank.lines
        state = self.state
        if not closed and isinstance(step, CollectStep) and state is not None and state.closes_at:
            deadline = _deadline_line(state.closes_at, self.tz, self.language, self.address)
            lines = (*lines, deadline)
        views = blank.views
        stored = self.answers.get(step.id)
        if stored:
            shown = []
            for view in views:
                answer = stored.get(view.id, _NONE).get(member_id)
                shown.append(view if answer is None else with_answer(view, answer, self.language))
            views = tuple(shown)
        return Message(_FORM, "\n".join(lines), questions=views, closed=closed)

    def blank_form(self, step: Step, closed: bool) -> _BlankForm:
        """The form of the current step before anyone answered, drawn once per flow."""
        key = (self.tag, self.language, self.address, closed)
        forms = self.index.forms
        blank = forms.get(key)
        if blank is None:
            if len(forms) >= 4096:  # a flow that loops through its steps very often
                forms.clear()
            blank = forms[key] = self.draw_blank_form(step, closed)
        return blank

    def draw_blank_form(self, step: Step, closed: bool) -> _BlankForm:
        questions = step_questions(step)
        lead = None
        if isinstance(step, PhaseStep):
            lead = text(step.phase.title, self.language)
        elif isinstance(step, RoundStep):
            lead = self.t("form.your_turn")
        lines = form_lines(
            questions,
            self.language,
            self.address,
            intro=step.collect.intro if isinstance(step, CollectStep) else None,
            lead=lead,
            closed=closed,
        )
        views = tuple(question_view(self.tag, q, self.language) for q in questions)
        return _BlankForm(tuple(lines), views)

    def send_form(self, step: Step, member_id: str, form: Message | None = None) -> None:
        """Send `member_id` their form (`form`, when it is already drawn)."""
        if form is None:
            form = self.form_message(step, member_id)
        self.effects.append(Send(f"form:{self.tag}:{member_id}", _person(member_id), form))

    def edit_form(self, step: Step, member_id: str, closed: bool = False) -> None:
        self.effects.append(
            Edit(f"form:{self.tag}:{member_id}", self.form_message(step, member_id, closed=closed))
        )

    def open_forms(self, step: Step, recipients: list[MemberState]) -> None:
        assert self.state is not None
        ids = tuple(m.id for m in recipients)
        self.state = evolve(self.state, {"recipients": ids})
        self.asked = {**self.asked, step.id: ids}
        # Nobody has answered yet, so everyone gets the same form: it is drawn once.
        form = self.form_message(step, ids[0]) if ids and not self.answers.get(step.id) else None
        for member_id in ids:
            self.send_form(step, member_id, form)

    def welcome(self, member: MemberState) -> None:
        """Someone joined or came back: if the current step is collecting answers from
        people like them, they get their form too."""
        step = self.index.steps.get(self.step) if self.step is not None else None
        state = self.state
        if state is None or member.absent or member.left or member.id in state.recipients:
            return
        if not isinstance(step, CollectStep | PhaseStep) or not step_questions(step):
            return
        if member.id not in {m.id for m in self.holders(step_roles(self.flow, step))}:
            return
        ids = (*state.recipients, member.id)
        self.state = evolve(state, {"recipients": ids})
        self.asked = {**self.asked, step.id: ids}
        self.send_form(step, member.id)

    def excuse(self, member: MemberState) -> None:
        """Someone left or is absent: they no longer hold up a collection or a round."""
        step = self.index.steps.get(self.step) if self.step is not None else None
        state = self.state
        if state is None:
            return
        if isinstance(step, CollectStep) and member.id in state.recipients:
            if self.everyone_answered(step):
                self.go_on()
        elif (
            isinstance(step, RoundStep)
            and state.index < len(state.order)
            and state.order[state.index] == member.id
        ):
            self.next_turn(step)

    # ------------------------------------------------------------------ ask

    def ask(self, step: AskStep) -> str | _Waiting | None:
        people = [m for m in self.people(step.ask.to) if not m.absent]
        if not people:
            self.note(f"{step.id}: nobody to ask")
            self.asked = {**self.asked, step.id: ()}
            return self.index.following[step.id]
        self.open_forms(step, people)
        if step.ask.timeout is not None:
            self.schedule(
                f"{self.tag}:timeout",
                TimerKind.timeout,
                _after(self.now, step.ask.timeout, self.tz),
            )
        return _WAITING

    # ------------------------------------------------------------------ collect

    def anchor(self, offset: Offset) -> datetime | None:
        if offset.anchor == "event":
            return self.run.event_at
        if offset.anchor == "start":
            return self.run.started_at
        return None

    def moment(self, written: str, what: str) -> datetime:
        """A deadline or wait: a duration after now, or an offset from the run's event.

        Without the event (or when the offset would already be past, for a deadline),
        count the offset's duration from now, and note it: people still get their time.
        """
        spec = _deadline(written)
        if isinstance(spec, Duration):
            return add(self.now, spec, self.tz)
        base = self.anchor(spec)
        if base is not None:
            moment = resolve_offset(spec, base, self.tz)
            if what == "wait" or moment > self.now:
                return moment
            self.note(f"{self.step}: {what} was already past; counted from the step's start")
        else:
            self.note(
                f"{self.step}: no {spec.anchor} for the {what}; counted from the step's start"
            )
        return add(self.now, spec.duration, self.tz)

    def collect(self, step: CollectStep) -> str | _Waiting | None:
        assert self.state is not None
        body = step.collect
        people = [m for m in self.holders(body.to or self.flow.participants) if not m.absent]
        closes_at = self.moment(body.deadline, "deadline")
        self.state = evolve(self.state, {"closes_at": closes_at})
        if not people:
            self.asked = {**self.asked, step.id: ()}
            return self.index.following[step.id]
        self.open_forms(step, people)
        self.schedule(f"{self.tag}:deadline", TimerKind.deadline, closes_at)
        for i, before in enumerate(body.reminders):
            due = subtract(closes_at, _duration(before), self.tz)
            if due > self.now:  # a reminder whose moment has passed is not sent at all
                self.schedule(f"{self.tag}:remind:{i}", TimerKind.reminder, due)
        return _WAITING

    def remind(self, step: CollectStep, timer_id: str, late: bool) -> None:
        """A reminder goes only to those who have not answered every required question."""
        state = self.state
        assert state is not None and state.closes_at is not None
        body = self.t("reminder", when=when(state.closes_at, self.tz, self.language))
        for member_id in state.recipients:
            m = self.member(member_id)
            if m is None or m.left or m.absent or self.answered_all(step, member_id):
                continue
            self.send(
                f"remind:{timer_id}:{member_id}",
                Destination.person(member_id),
                MessageKind.reminder,
                body,
                late=late,
            )

    # ------------------------------------------------------------------ phase

    def phase(self, step: PhaseStep) -> _Waiting:
        assert self.state is not None
        body = step.phase
        ends_at = _after(self.now, body.duration, self.tz)
        self.state = evolve(self.state, {"ends_at": ends_at})
        length = _whole_minutes(ends_at - self.now)
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
            _THREAD,
            _PHASE_HEADER,
            "\n".join(lines),
            controls=PHASE_CONTROLS,
        )
        self.schedule_phase_timers(step)
        if body.questions:
            self.open_forms(step, [m for m in self.holders(self.flow.participants) if not m.absent])
        return _WAITING

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
        self.send(f"status:{self.tag}:{self.version}", _THREAD, _STATUS, body, controls=controls)

    def warn(
        self, step: PhaseStep, timer_id: str, timer: PendingTimer, too_late: bool, late: bool
    ) -> None:
        state = self.state
        assert state is not None and state.ends_at is not None
        if too_late:
            return  # a warning long after its moment would only confuse
        left = _whole_minutes(state.ends_at - timer.due)
        self.send_sentence(
            f"warn:{timer_id}",
            _THREAD,
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
                f"bell:{timer_id}", _THREAD, _BELL_MESSAGE, "phase.bell", late=late, title=title
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
        left = i18n.minutes(_whole_minutes(state.ends_at - self.now), self.language)
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
            left = i18n.minutes(_whole_minutes(ends_at - state.paused_at), self.language)
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
            _THREAD,
            MessageKind.bell,
            self.t("bell.manual"),
        )

    def ring_process_bell(self) -> None:
        # Never says who rang it: the process bell must be safe to ring.
        self.process_bells += 1
        self.send(
            f"process:{self.version}",
            _THREAD,
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
            f"time-out:{self.version}", _THREAD, MessageKind.process_bell, self.t("bell.time_out")
        )
        people = tuple(m.id for m in self.holders(self.flow.participants))
        self.effects.append(StartFlow(time_out_flow, people))

    def stop_by_chair(self) -> None:
        self.send(
            f"stopped:{self.version}",
            _THREAD,
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
                _THREAD,
                MessageKind.bell,
                self.t("phase.next", title=text(step.phase.title, self.language)),
            )
        self.go_on()

    # ------------------------------------------------------------------ round

    def round(self, step: RoundStep) -> str | _Waiting | None:
        assert self.state is not None
        order = tuple(
            m.id for m in self.holders(step.round.to or self.flow.participants) if not m.absent
        )
        self.asked = {**self.asked, step.id: order}
        if not order:
            return self.index.following[step.id]
        self.state = evolve(self.state, {"order": order, "index": 0})
        self.give_turn(step)
        return _WAITING

    def give_turn(self, step: RoundStep) -> None:
        state = self.state
        assert state is not None
        self.send_form(step, state.order[state.index])
        if step.round.turn is not None:
            self.schedule(
                f"{self.tag}:turn:{state.index}",
                TimerKind.turn,
                _after(self.now, step.round.turn, self.tz),
            )

    def next_turn(self, step: RoundStep) -> None:
        state = self.state
        assert state is not None
        if state.index < len(state.order):
            self.edit_form(step, state.order[state.index], closed=True)
        self.cancel_timers()
        index = state.index + 1
        while index < len(state.order):
            m = self.member(state.order[index])
            if m is not None and not m.left and not m.absent:
                break
            index += 1
        self.state = evolve(state, {"index": index})
        if index < len(state.order):
            self.give_turn(step)
            return
        self.post_anonymous_round(step)
        self.go_on()

    def post_round_answer(self, step: RoundStep, member: MemberState, question: Question) -> None:
        """A team-visible answer goes to the thread with its name. Anonymous answers wait
        for the end of the round, where they are posted together, sorted by value: in
        turn order they would give away who said what."""
        if question.visibility != Visibility.team or question.anonymous:
            return
        answer = self.answers[step.id][question.id][member.id]
        value = display_value(question, answer, self.members, self.language)
        self.send(
            f"round:{self.tag}:{member.id}",
            _THREAD,
            MessageKind.say,
            f"{member.name}: {value}",
        )

    def post_anonymous_round(self, step: RoundStep) -> None:
        question = step.round.question
        if question.visibility != Visibility.team or not question.anonymous:
            return
        stored = self.answers.get(step.id, {}).get(question.id, {})
        if not stored:
            return
        values = sorted(
            display_value(question, a, self.members, self.language) for a in stored.values()
        )
        heading = self.t("round.anonymous", question=text(question.text, self.language))
        self.send(
            f"round:{self.tag}",
            _THREAD,
            MessageKind.say,
            "\n".join([heading, *(f"• {v}" for v in values)]),
        )

    # ------------------------------------------------------------------ branch, chain, wait

    def branch(self, step: BranchStep) -> str | None:
        fallback: str | None = None
        for case in step.branch:
            if isinstance(case, BranchOtherwise):
                fallback = fallback or case.otherwise
            elif self.case_holds(case):
                return case.goto
        return fallback if fallback is not None else self.index.following[step.id]

    def case_holds(self, case: BranchCase) -> bool:
        parts: list[bool] = []
        if case.when is not None:
            parts.append(self.condition_holds(case.when))
        if case.all is not None:
            parts.append(all(self.condition_holds(c) for c in case.all))
        if case.any is not None:
            parts.append(any(self.condition_holds(c) for c in case.any))
        return all(parts)

    def condition_holds(self, condition: Condition) -> bool:
        step_id, _, question_id = condition.answer.partition(".")
        if not question_id:
            step = self.index.steps.get(step_id)
            questions = step_questions(step) if step is not None else ()
            if len(questions) != 1:
                return False
            question_id = questions[0].id
        answers = self.answers.get(step_id, {}).get(question_id, {})
        return holds(condition, answers, self.asked.get(step_id, ()))

    def start_flow(self, step: StartFlowStep) -> None:
        body = step.start_flow
        name = body if isinstance(body, str) else body.flow
        same = isinstance(body, str) or body.participants == "same"
        people = tuple(m.id for m in self.holders(self.flow.participants)) if same else None
        self.effects.append(StartFlow(name, people))

    def wait(self, step: WaitStep) -> str | _Waiting | None:
        body = step.wait
        if body.for_ is not None:
            due = _after(self.now, body.for_, self.tz)
        elif body.until is not None:
            due = self.moment(body.until, "wait")
        else:
            due = self.now
        if due <= self.now:
            return self.index.following[step.id]
        self.schedule(f"{self.tag}:wait", TimerKind.wait, due)
        return _WAITING


class _Waiting:
    """The marker a step returns when it waits for people or time."""


_WAITING: Final = _Waiting()
