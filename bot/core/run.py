"""The state of one run of a flow: a frozen value the engine replaces on every event.

The store saves a Run as JSON (`run.model_dump(mode="json")`) and reads it back with
`Run.model_validate(data)`; the two round-trip exactly. Every datetime is aware and in
UTC; the team's time zone is applied only when a message is written.

The engine builds new runs with `evolve` (a faster `model_copy(update=...)`) and small
values with `pending_timer`, `given_answer` and `step_state` (faster constructors); none
of them validates: the engine is the only writer and keeps the invariants itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.core.effects import TimerKind
from bot.core.events import AnswerKind


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunStatus(StrEnum):
    active = "active"
    done = "done"  # went through to the end
    stopped = "stopped"  # ended early: by the chair, or because the flow went wrong
    refused = "refused"  # the starter was not allowed to start it; never ran


class MemberState(_Value):
    """A person as this run knows them: a snapshot at the start, kept up to date by
    MemberJoined / MemberLeft / MemberAbsent events."""

    id: str
    name: str
    roles: tuple[str, ...] = ()
    absent: bool = False  # away for this run: not asked, not counted as missing
    left: bool = False  # no longer in the team: not asked, not counted, not named


class PendingTimer(_Value):
    kind: TimerKind
    due: datetime


# What a stored answer holds, by question type: text, choice (option id), date (ISO),
# yesno ("yes" / "no") → str; scale, number → int (number may be a float); multi (option
# ids, in the question's order), people (member ids) → tuple; skip / n.v.t. → None.
AnswerValue = str | int | float | tuple[str, ...] | None


class Answer(_Value):
    value: AnswerValue
    kind: AnswerKind = AnswerKind.value
    answered_at: datetime


class StepState(_Value):
    """What the current step needs to remember. One model for every kind; each kind uses
    only its own fields, the rest keep their defaults."""

    started_at: datetime
    tag: str  # the step id, or `id~n` on the n-th visit: prefix of timer ids and keys
    recipients: tuple[str, ...] = ()  # member ids that were sent a form (ask/collect/phase)
    # phase
    ends_at: datetime | None = None
    paused_at: datetime | None = None
    extended_minutes: int = 0
    time_up: bool = False  # `advance: chair`: the bell rang, waiting for "next"
    time_out: bool = False  # paused by a time-out: its end lets the clock run again
    generation: int = 0  # bumped on every reschedule, so old timer ids never come back
    # collect
    closes_at: datetime | None = None
    done: tuple[str, ...] = ()  # member ids who said "klaar" with optional questions left
    # round
    order: tuple[str, ...] = ()
    index: int = 0


class Run(_Value):
    """One execution of a flow: who takes part, their answers, its timers, where it is."""

    id: str
    flow_id: str
    flow_version: int
    status: RunStatus
    step: str | None  # the current step; the last one reached once the run has ended
    version: int  # +1 on every accepted event; the store's optimistic lock
    clock: datetime  # the latest `now` seen: time never runs backwards for a run
    started_at: datetime
    language: str
    address: str
    timezone: str
    members: tuple[MemberState, ...]
    participants: tuple[str, ...] | None = None  # a chained run keeps its parent's people
    started_by: str | None = None
    event_kind: str | None = None
    event_at: datetime | None = None
    parent_run: str | None = None
    # Empty dicts come from a factory: a literal `{}` default is deep-copied on every run.
    # pending only; fired or cancelled ones leave
    timers: dict[str, PendingTimer] = Field(default_factory=dict)
    # step -> question -> member -> answer
    answers: dict[str, dict[str, dict[str, Answer]]] = Field(default_factory=dict)
    # step -> who was asked its questions (for "who has not answered" in summaries)
    asked: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # step -> how often it was entered (loops through branches)
    visits: dict[str, int] = Field(default_factory=dict)
    process_bells: int = 0
    # Agenda name -> lines the shell filled in at the start (see PhaseBody.agenda).
    agenda: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    state: StepState | None = None
    reason: str | None = None  # why the run was stopped or refused (ids only, no text)
    notes: tuple[str, ...] = ()  # things worth knowing, e.g. a deadline without its event

    def member(self, member_id: str) -> MemberState | None:
        return find_member(self.members, member_id)


# Rosters by object, each with its members by id. A roster (the `members` tuple) is
# shared by every version of a run until someone joins or leaves, and a member is
# looked up on nearly every event. The roster is kept in the entry, so that its id
# cannot be taken by another object while the entry lives.
_ROSTERS: dict[int, tuple[tuple[MemberState, ...], dict[str, MemberState]]] = {}


def find_member(members: tuple[MemberState, ...], member_id: str) -> MemberState | None:
    """The first member in `members` with this id, or None."""
    hit = _ROSTERS.get(id(members))
    if hit is None or hit[0] is not members:
        if len(_ROSTERS) >= 4096:
            _ROSTERS.clear()
        by_id: dict[str, MemberState] = {}
        for m in members:
            by_id.setdefault(m.id, m)
        hit = _ROSTERS[id(members)] = (members, by_id)
    return hit[1].get(member_id)


_Model = TypeVar("_Model", bound=BaseModel)

# The engine makes new runs, step states, timers and answers on every event, from values
# it made or checked itself. Validating them again would be wasted work, so `evolve` and
# the constructors below fill pydantic 2's instance layout directly: the field values in
# `__dict__` (in field order), the names set explicitly in `__pydantic_fields_set__`, and
# no extras or private attributes. `tests/core/test_engine.py` compares their results with
# pydantic's own, so that an upgrade that changes the layout fails loudly. The slots are
# set through their descriptors, which is faster than `object.__setattr__` by name.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _instance(model: type[_Model], fields: dict[str, Any], fields_set: set[str]) -> _Model:
    new = object.__new__(model)
    _set_dict(new, fields)
    _set_fields_set(new, fields_set)
    _set_extra(new, None)
    _set_private(new, None)
    return new


def evolve(value: _Model, changes: dict[str, Any]) -> _Model:
    """`value.model_copy(update=changes)` at about half the cost.

    Like `model_copy` this does not validate: the engine passes only values of the right
    types.
    """
    fields = value.__dict__.copy()
    fields.update(changes)
    fields_set = value.__pydantic_fields_set__
    if not fields_set.issuperset(changes):
        fields_set = fields_set | changes.keys()
    # Otherwise the new value shares the old one's set: both are frozen, and pydantic
    # copies the set before it changes it (`model_copy`), so neither ever sees it change.
    return _instance(type(value), fields, fields_set)


def with_fields(value: _Model, fields: dict[str, Any], changed: frozenset[str]) -> _Model:
    """`evolve` for a caller that has already made the new `fields` (a changed copy of
    `value.__dict__`, in which the names in `changed` were written)."""
    fields_set = value.__pydantic_fields_set__
    if not fields_set.issuperset(changed):
        fields_set = fields_set | changed
    return _instance(type(value), fields, fields_set)


# Unvalidated constructors for the small values the engine makes on every event, from
# values of the right types: about half the cost of validating them (and `model_construct`
# would not help: it is slower than validating). Each sets the same fields, in the same
# order, as calling the model with these arguments.


def pending_timer(kind: TimerKind, due: datetime) -> PendingTimer:
    """`PendingTimer(kind=kind, due=due)`: three for every phase, again after a pause."""
    return _instance(PendingTimer, {"kind": kind, "due": due}, {"kind", "due"})


def given_answer(value: AnswerValue, kind: AnswerKind, answered_at: datetime) -> Answer:
    """`Answer(value=value, kind=kind, answered_at=answered_at)`, for an answer that
    `read_answer` has already checked and made canonical."""
    fields = {"value": value, "kind": kind, "answered_at": answered_at}
    return _instance(Answer, fields, {"value", "kind", "answered_at"})


def step_state(started_at: datetime, tag: str) -> StepState:
    """`StepState(started_at=started_at, tag=tag)`: the state of a step just entered."""
    fields = _STEP_STATE_DEFAULTS.copy()
    fields["started_at"] = started_at
    fields["tag"] = tag
    return _instance(StepState, fields, {"started_at", "tag"})


# Every field of a StepState in field order, the two required ones as placeholders. All
# the defaults are immutable, so the copies can share them.
_STEP_STATE_DEFAULTS: dict[str, Any] = {
    name: info.default for name, info in StepState.model_fields.items()
}
