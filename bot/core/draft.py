"""The engine's draft: one accepted event being applied, and what every step kind shares.

`Draft` holds the run's changing parts and the effects so far, and moves a run from step
to step. What a step of each kind does is written beside it, one module per kind:
`bot.core.forms` (ask, collect and the answers), `bot.core.phases` (phases and the bell),
`bot.core.rounds` and `bot.core.simple_steps` (say, summary, branch, start_flow, wait).
`Draft` declares the methods it needs from them; `bot.core.engine` puts them together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from bot.core import i18n
from bot.core.effects import (
    CancelTimer,
    Destination,
    Effect,
    Finish,
    Message,
    MessageKind,
    QuestionView,
    Reply,
    ScheduleTimer,
    Send,
    TimerKind,
)
from bot.core.model import (
    AskStep,
    BranchStep,
    CollectStep,
    EndStep,
    Flow,
    PhaseStep,
    Question,
    RoundStep,
    SayStep,
    StartFlowStep,
    Step,
    SummaryStep,
    WaitStep,
)
from bot.core.render import clock as clock_text
from bot.core.render import given_roles, holders, step_questions, text
from bot.core.run import (
    Answer,
    MemberState,
    PendingTimer,
    Run,
    RunStatus,
    StepState,
    find_member,
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
)

# A deadline moved before its event (short notice) leaves at least this long to answer.
MIN_ANSWER_TIME: Final = timedelta(minutes=15)

# A flow that goes round through instantaneous steps (say → branch → say → ...) without
# ever waiting would never return; past this many steps in one event the run is stopped.
MAX_STEPS_PER_EVENT: Final = 1000

THREAD: Final = Destination.thread()
EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})  # an empty mapping to look into

# The run fields a draft may change, all written back by `Draft.snapshot`.
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `start` and `advance` return: the new run and what the shell must do."""

    run: Run
    effects: tuple[Effect, ...]


# --------------------------------------------------------------------------- the flow


@dataclass(frozen=True, slots=True)
class BlankForm:
    """A form as it is before anyone answers."""

    lines: tuple[str, ...]  # its text, a line each, without the deadline
    views: tuple[QuestionView, ...]  # its questions, unanswered
    people: bool = False  # has a people question: its options are the run's members
    optional: bool = False  # has an optional question: one may leave it with "klaar"


@dataclass(frozen=True, slots=True)
class Index:
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
    forms: dict[tuple[str, str, str, bool], BlankForm] = field(default_factory=dict)


_INDEXES: dict[int, tuple[Flow, Index]] = {}


def flow_index(flow: Flow) -> Index:
    """The index of `flow`, made on first use."""
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
    index = Index(
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


# --------------------------------------------------------------------------- small helpers


@lru_cache(maxsize=2048)
def duration(written: str) -> Duration:
    """A duration as a flow writes it (`10m`, `2d`), parsed once."""
    return parse_duration(written)


@lru_cache(maxsize=2048)
def _span(written: str) -> timedelta | None:
    """The exact length of a clock duration (minutes, hours); None for calendar units."""
    parsed = parse_duration(written)
    return None if parsed.calendar else parsed.approx()


def after(moment: datetime, written: str, tz: str) -> datetime:
    """`moment` + the duration `written`: exact for clock units, on the calendar of `tz`
    for days and longer (so 1d across a DST change keeps the wall time)."""
    span = _span(written)
    return moment + span if span is not None else add(moment, duration(written), tz)


@lru_cache(maxsize=2048)
def _deadline(written: str) -> Duration | Offset:
    return parse_deadline(written)


@lru_cache(maxsize=4096)
def said(
    kind: MessageKind, late: bool, key: str, language: str, address: str, **params: str
) -> Message:
    """A message that is one catalogue sentence, such as a warning or a bell. Every run
    says the same few of them, so each is made once instead of on every event; they are
    never used for sentences with a clock time in them, which differ from run to run."""
    return Message(kind, i18n.t(key, language, address, **params), late=late)


@lru_cache(maxsize=4096)
def person(member_id: str) -> Destination:
    """A member's direct messages: the same small value for every form and reminder."""
    return Destination.person(member_id)


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is refused."""
    if moment.tzinfo is None:
        raise ValueError("the engine takes aware datetimes only")
    return moment.astimezone(UTC)


def whole_minutes(span: timedelta) -> int:
    """A remaining time in whole minutes, rounded up: 4m10s left reads "5 minutes"."""
    seconds = max(0, int(span.total_seconds()))
    return -(-seconds // 60)


def reply(run: Run, member: str, key: str, **params: object) -> Outcome:
    """Answer one member and change nothing."""
    message = Message(MessageKind.reply, i18n.t(key, run.language, run.address, **params))
    return Outcome(run, (Reply(member, message),))


def role_names(roles: Sequence[str], language: str) -> str:
    """Roles as a reader sees them: "chair or coordinator"."""
    return i18n.join((i18n.role_name(r, language) for r in roles), language, word="or")


class Waiting:
    """The marker a step returns when it waits for people or time."""


WAITING: Final = Waiting()


# --------------------------------------------------------------------------- the draft


class Draft(ABC):
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
        self.index = flow_index(flow)
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
        message = said(kind, late, sentence, self.language, self.address, **params)
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

    def holders(self, roles: Sequence[str], excluded: Sequence[str] = ()) -> list[MemberState]:
        """Who holds one of `roles` and none of `excluded` in this run (with the roles
        its people questions gave)."""
        given = given_roles(self.flow, self.answers)
        return holders(self.members, self.run.participants, roles, given, excluded)

    def people(self, to: str, excluded: Sequence[str] = ()) -> list[MemberState]:
        """Who a message to `to` reaches in person, leaving out the holders of `excluded`.
        Without a starter (a scheduled run), "starter" means whoever holds a bell role:
        the chair."""
        if to == "starter":
            starter = self.member(self.run.started_by) if self.run.started_by else None
            if starter is not None and not starter.left:
                found = [starter]
            else:
                found = self.holders(self.flow.permissions.bell)
            if excluded:
                left_out = {m.id for m in self.holders(excluded)}
                found = [m for m in found if m.id not in left_out]
            return found
        if to in ("thread", "channel"):
            return self.holders(self.flow.participants, excluded)
        return self.holders((to,), excluded)

    def store(self, step_id: str, question_id: str, member_id: str, answer: Answer) -> None:
        per_step = self.answers.get(step_id, {})
        per_question = {**per_step.get(question_id, {}), member_id: answer}
        self.answers = {**self.answers, step_id: {**per_step, question_id: per_question}}

    def answered_all(self, step: Step, member_id: str) -> bool:
        stored = self.answers.get(step.id, EMPTY)
        return all(member_id in stored.get(q, EMPTY) for q in self.index.required.get(step.id, ()))

    def everyone_answered(self, step: Step) -> bool:
        """Has everyone asked who still takes part answered every required question?

        Asked after every answer, so it goes question by question and looks a person up
        only when their answer is missing, rather than checking each person in full.
        """
        assert self.state is not None
        stored = self.answers.get(step.id, EMPTY)
        recipients = self.state.recipients
        for question_id in self.index.required.get(step.id, ()):
            given = stored.get(question_id, EMPTY)
            for member_id in recipients:
                if member_id not in given:
                    m = self.member(member_id)
                    if m is not None and not m.left and not m.absent:
                        return False
        return True

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
            if spec.direction == "before" and what == "deadline":
                if base > self.now:
                    return self.short_notice(base)
                # The event has begun: questions for before it are not asked any more.
                self.note(f"{self.step}: the event has begun; its questions are skipped")
                self.effects.append(
                    Send(
                        f"notice:{self.tag}",
                        Destination.thread(),
                        Message(
                            MessageKind.status,
                            self.t("deadline.event_begun", at=clock_text(base, self.tz)),
                        ),
                    )
                )
                return self.now
            self.note(f"{self.step}: {what} was already past; counted from the step's start")
        else:
            self.note(
                f"{self.step}: no {spec.anchor} for the {what}; counted from the step's start"
            )
        return add(self.now, spec.duration, self.tz)

    def short_notice(self, event: datetime) -> datetime:
        """A deadline before the event that has already passed (a visit planned at short
        notice): never after the event. With enough time left, half of it is for answering
        (at least MIN_ANSWER_TIME), the rest for reading the overview; with less, the
        questions stay open until the event and the thread is told so plainly."""
        left = event - self.now
        at = clock_text(event, self.tz)
        if left >= 2 * MIN_ANSWER_TIME:
            deadline = (self.now + left / 2).replace(second=0, microsecond=0)
            self.note(f"{self.step}: short notice; the deadline moved to half-way to the event")
            key, when = "deadline.short_notice", clock_text(deadline, self.tz)
        else:
            deadline = event
            self.note(f"{self.step}: too little time before the event; open until the event")
            key, when = "deadline.too_little_time", at
        self.effects.append(
            Send(
                f"notice:{self.tag}",
                Destination.thread(),
                Message(MessageKind.status, self.t(key, at=at, when=when)),
            )
        )
        return deadline

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
            if isinstance(following, Waiting):
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
            THREAD,
            MessageKind.status,
            self.t("run.stopped_broken", title=self.title, step=target),
        )
        self.finish(RunStatus.stopped, f"no step '{target}'")

    def stop_looping(self) -> None:
        self.send(
            f"stopped:{self.version}",
            THREAD,
            MessageKind.status,
            self.t("run.stopped_loop", title=self.title),
        )
        self.finish(
            RunStatus.stopped,
            f"more than {MAX_STEPS_PER_EVENT} steps without waiting, at '{self.step}'",
        )

    def enter(self, step: Step) -> str | Waiting | None:
        """Start `step`. Returns the step to go to at once, None for the end, or
        `WAITING` when the step waits for people or time."""
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
                    THREAD,
                    MessageKind.closing,
                    text(step.end.text, self.language),
                )
            return None
        return following

    # ------------------------------------------------------------------ the step kinds
    # Written in the module of each step kind; declared here because moving along, and
    # one kind's steps, need them.

    @abstractmethod
    def ask(self, step: AskStep) -> str | Waiting | None:
        """bot.core.forms: ask someone the step's questions."""

    @abstractmethod
    def collect(self, step: CollectStep) -> str | Waiting | None:
        """bot.core.forms: ask a group, until everyone answered or the deadline."""

    @abstractmethod
    def send_form(self, step: Step, member_id: str, form: Message | None = None) -> None:
        """bot.core.forms: send `member_id` their form."""

    @abstractmethod
    def edit_form(self, step: Step, member_id: str, closed: bool = False) -> None:
        """bot.core.forms: redraw `member_id`'s form (closed, when the step is over)."""

    @abstractmethod
    def open_forms(self, step: Step, recipients: list[MemberState]) -> None:
        """bot.core.forms: send everyone in `recipients` their form."""

    @abstractmethod
    def phase(self, step: PhaseStep) -> Waiting:
        """bot.core.phases: start a timed phase."""

    @abstractmethod
    def round(self, step: RoundStep) -> str | Waiting | None:
        """bot.core.rounds: start a round, one person at a time."""

    @abstractmethod
    def next_turn(self, step: RoundStep) -> None:
        """bot.core.rounds: give the next person in the round their turn."""

    @abstractmethod
    def end_phase_answered(self, step: PhaseStep) -> None:
        """bot.core.phases: everyone asked answered a phase's questions; it ends now."""

    @abstractmethod
    def post_round_answer(self, step: RoundStep, member: MemberState, question: Question) -> None:
        """bot.core.rounds: show the team an answer given in a round."""

    @abstractmethod
    def say(self, step: SayStep) -> None:
        """bot.core.simple_steps: send a message."""

    @abstractmethod
    def summary(self, step: SummaryStep) -> None:
        """bot.core.simple_steps: send the answers so far."""

    @abstractmethod
    def branch(self, step: BranchStep) -> str | None:
        """bot.core.simple_steps: the step the answers lead to."""

    @abstractmethod
    def start_flow(self, step: StartFlowStep) -> None:
        """bot.core.simple_steps: start another flow."""

    @abstractmethod
    def wait(self, step: WaitStep) -> str | Waiting | None:
        """bot.core.simple_steps: wait for a while or until a moment."""
