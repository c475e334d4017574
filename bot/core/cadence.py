"""Evaluation cadences of a trajectory: when its evaluation moments fall, and where each stands.

A trajectory (a pseudonymous treatment) starts on a date. Its evaluation moments follow a
policy, by default the one from the source documents: review the treatment plan at 6
months, bring the continuation question to the MDO at 12, invite a colleague at 24, and
evaluate at least every 6 months throughout (so also at 18, 30, 36, ...); optionally a
process evaluation after every N logged sessions. Every moment is computed from the
start date with calendar arithmetic (`relativedelta`), never from the previous moment, so
month-end clamping never drifts:
Jan 31 + 1 month is Feb 28 (29), Feb 29 + 12 months is Feb 28.

Each evaluation moves upcoming -> due -> overdue -> done, or is snoozed (with a reason,
within limits) and then falls due again. An evaluation only counts as done with an
outcome (continue until a date, close, transfer), the course until the next evaluation
and the date of that next evaluation (a closed trajectory has no next one).

Pure: no I/O, `today` is always an argument. Refusals carry a catalogue key and the
parameters to fill in, so the shell can say them in the team's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from bot.core.hours import WorkingHours

# How far ahead evaluation moments are written down; topped up whenever one is handled.
HORIZON_MONTHS = 36


class Kind(StrEnum):
    plan_review = "plan_review"  # take the treatment plan out, evaluate the goals
    continuation = "continuation"  # the continuation question to the MDO
    colleague = "colleague"  # invite a colleague to the evaluation
    periodic = "periodic"  # at least every N months after that
    process = "process"  # after N logged sessions: how are we working together?
    agreed = "agreed"  # the next evaluation as agreed at the last one


# Where two rules fall on the same month, the more specific one names the moment.
_RANK = {
    Kind.colleague: 0,
    Kind.continuation: 1,
    Kind.plan_review: 2,
    Kind.periodic: 3,
    Kind.agreed: 4,
    Kind.process: 5,
}


class State(StrEnum):
    upcoming = "upcoming"
    due = "due"
    overdue = "overdue"
    done = "done"
    snoozed = "snoozed"


class Outcome(StrEnum):
    proceed = "continue"  # continue until a date
    close = "close"
    transfer = "transfer"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request cannot be done: a catalogue key and what to fill in."""

    key: str
    params: Mapping[str, str] = field(default_factory=dict)


class PolicyError(ValueError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.key)
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class Policy:
    """When evaluations fall and how they are followed up. 0 months switches a rule off."""

    plan_review_months: int = 6
    continuation_months: int = 12
    colleague_months: int = 24
    every_months: int = 6
    process_after_sessions: int = 0  # 0: no process evaluation by session count
    session_budget: int = 0  # 0: no budget
    grace_days: int = 14  # due this long before it counts as overdue
    escalate_after_days: int = 14  # overdue this long: the coordinator hears of it
    max_snoozes: int = 2
    max_snooze_weeks: int = 8

    def to_json(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, base: Policy | None = None) -> Policy:
        """A policy from stored JSON on top of `base`; unknown keys are ignored."""
        out = base or cls()
        known = {f.name for f in fields(cls)}
        values = {k: int(v) for k, v in (data or {}).items() if k in known}
        return replace(out, **values)


# Words a coordinator types for each policy setting (Dutch and English), with limits.
POLICY_WORDS: Mapping[str, tuple[str, int, int]] = {
    "plan": ("plan_review_months", 0, 60),
    "mdo": ("continuation_months", 0, 60),
    "collega": ("colleague_months", 0, 120),
    "colleague": ("colleague_months", 0, 120),
    "elke": ("every_months", 1, 24),
    "every": ("every_months", 1, 24),
    "sessies": ("process_after_sessions", 0, 200),
    "sessions": ("process_after_sessions", 0, 200),
    "budget": ("session_budget", 0, 500),
    "marge": ("grace_days", 0, 90),
    "grace": ("grace_days", 0, 90),
    "escalatie": ("escalate_after_days", 0, 180),
    "escalate": ("escalate_after_days", 0, 180),
    "uitstel": ("max_snoozes", 0, 10),
    "snoozes": ("max_snoozes", 0, 10),
    "uitstelweken": ("max_snooze_weeks", 1, 26),
    "snoozeweeks": ("max_snooze_weeks", 1, 26),
}


def parse_policy(words: Sequence[str], base: Policy) -> Policy:
    """`["mdo=12", "elke=6", "sessies=10"]` on top of `base`. Raises PolicyError."""
    if not words:
        raise PolicyError(Refusal("policy_usage"))
    changes: dict[str, int] = {}
    for word in words:
        name, sep, raw = word.partition("=")
        setting = POLICY_WORDS.get(name.lower())
        if not sep or setting is None:
            raise PolicyError(Refusal("policy_unknown", {"word": word}))
        field_name, low, high = setting
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise PolicyError(
                Refusal("policy_range", {"word": name, "low": str(low), "high": str(high)})
            )
        changes[field_name] = int(raw)
    return replace(base, **changes)


# --------------------------------------------------------------------------- moments


@dataclass(frozen=True, slots=True, order=True)
class Moment:
    due_on: date
    kind: Kind


def add_months(start: date, months: int) -> date:
    """Calendar months, clamped to the month's end (Jan 31 + 1 -> Feb 28/29)."""
    return start + relativedelta(months=months)


def cadence(start: date, policy: Policy, until: date) -> list[Moment]:
    """Every cadence moment from `start` up to and including `until`, in date order."""
    by_month: dict[int, Kind] = {}
    fixed = (
        (policy.plan_review_months, Kind.plan_review),
        (policy.continuation_months, Kind.continuation),
        (policy.colleague_months, Kind.colleague),
    )
    for months, kind in fixed:
        if months > 0 and (months not in by_month or _RANK[kind] < _RANK[by_month[months]]):
            by_month[months] = kind
    # At least every N months: every multiple of N not named by a rule above.
    months = policy.every_months
    while add_months(start, months) <= until:
        by_month.setdefault(months, Kind.periodic)
        months += policy.every_months
    return sorted(
        Moment(add_months(start, m), kind)
        for m, kind in by_month.items()
        if add_months(start, m) <= until
    )


@dataclass(frozen=True, slots=True)
class Planned:
    """An evaluation as stored: what `replan` needs to know of it."""

    id: str
    kind: Kind
    due_on: date
    done: bool = False


@dataclass(frozen=True, slots=True)
class Replan:
    keep: tuple[str, ...]  # ids that stay as they are
    drop: tuple[str, ...]  # open, future ids no longer in the plan
    add: tuple[Moment, ...]  # moments to write down


def replan(
    start: date,
    policy: Policy,
    today: date,
    existing: Iterable[Planned] = (),
    *,
    agreed_next: date | None = None,
    horizon_months: int = HORIZON_MONTHS,
) -> Replan:
    """The evaluations a trajectory should have from `today` on.

    Done evaluations and those already due (on or before today) are history and stay.
    Future open ones are replaced by the cadence from `start` (kept where they match).
    A next date agreed at the last evaluation takes the place of every cadence moment up
    to it. When nothing is open and the latest past cadence moment was never evaluated
    (a trajectory registered late, a start date moved back), it is due today: an
    evaluation is never silently dropped.
    """
    rows = list(existing)
    until = add_months(today, horizon_months)
    wanted = [m for m in cadence(start, policy, until) if m.due_on > today]
    if agreed_next is not None and agreed_next > today:
        wanted = [m for m in wanted if m.due_on > agreed_next]
        wanted.insert(0, Moment(agreed_next, Kind.agreed))
    keep: list[str] = []
    drop: list[str] = []
    matched: set[Moment] = set()
    for row in rows:
        if row.done or row.due_on <= today:
            keep.append(row.id)
            continue
        moment = Moment(row.due_on, row.kind)
        if moment in wanted and moment not in matched:
            matched.add(moment)
            keep.append(row.id)
        elif row.kind is Kind.process:
            keep.append(row.id)  # counted sessions, not the calendar
        else:
            drop.append(row.id)
    add = [m for m in wanted if m not in matched]
    open_past = any(not r.done and r.due_on <= today for r in rows)
    last_done = max((r.due_on for r in rows if r.done), default=None)
    past = [m for m in cadence(start, policy, today) if m.due_on <= today]
    if not open_past and past and (agreed_next is None or agreed_next <= today):
        latest = past[-1]
        if last_done is None or last_done < latest.due_on:
            add.insert(0, Moment(today, latest.kind))
    return Replan(tuple(keep), tuple(drop), tuple(add))


def process_due(sessions: int, policy: Policy) -> bool:
    """After every N logged sessions a process evaluation falls due."""
    n = policy.process_after_sessions
    return n > 0 and sessions > 0 and sessions % n == 0


def budget_near(sessions: int, policy: Policy) -> bool:
    """Two sessions before the budget runs out (e.g. session 10 of 12)."""
    return policy.session_budget > 0 and sessions == max(1, policy.session_budget - 2)


# --------------------------------------------------------------------------- states


@dataclass(frozen=True, slots=True)
class Evaluation:
    """An evaluation as its lifecycle sees it."""

    due_on: date
    done: bool = False
    snoozed_until: date | None = None
    snoozes: int = 0


def effective_date(ev: Evaluation) -> date:
    """The date it is due: a snooze moves it on."""
    if ev.snoozed_until is not None and ev.snoozed_until > ev.due_on:
        return ev.snoozed_until
    return ev.due_on


def state_of(ev: Evaluation, policy: Policy, today: date) -> State:
    if ev.done:
        return State.done
    if ev.snoozed_until is not None and today < ev.snoozed_until:
        return State.snoozed
    due = effective_date(ev)
    if today < due:
        return State.upcoming
    if today <= due + timedelta(days=policy.grace_days):
        return State.due
    return State.overdue


def overdue_on(ev: Evaluation, policy: Policy) -> date:
    """The first day it counts as overdue."""
    return effective_date(ev) + timedelta(days=policy.grace_days + 1)


def escalate_on(ev: Evaluation, policy: Policy) -> date:
    """The day the coordinator hears of it, if it is still not done."""
    return overdue_on(ev, policy) + timedelta(days=policy.escalate_after_days)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Done:
    outcome: Outcome
    course: str
    next_on: date | None
    until: date | None = None


_OUTCOMES = {
    "doorgaan": Outcome.proceed,
    "verder": Outcome.proceed,
    "continue": Outcome.proceed,
    "afsluiten": Outcome.close,
    "afronden": Outcome.close,
    "close": Outcome.close,
    "overdragen": Outcome.transfer,
    "transfer": Outcome.transfer,
}
_UNTIL = {"tot", "until"}
_NEXT = {"volgende", "next"}
_COURSE = {"koers", "course"}


def parse_date(word: str) -> date | None:
    """2026-03-01 or 1-3-2026."""
    parts = word.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    try:
        if len(parts[0]) == 4:
            return date(int(parts[0]), int(parts[1]), int(parts[2]))
        if len(parts[2]) == 4:
            return date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None
    return None


def parse_done(words: Sequence[str], today: date, policy: Policy) -> Done | Refusal:
    """`doorgaan tot 2027-06-01 volgende 2027-03-01 koers <text>` -> Done, or why not.

    The outcome comes first; `tot` (continue only), `volgende` and `koers` follow in any
    order; the course is the rest of the line after `koers`."""
    if not words or words[0].lower() not in _OUTCOMES:
        return Refusal("done_outcome")
    outcome = _OUTCOMES[words[0].lower()]
    until = next_on = None
    course = ""
    rest = list(words[1:])
    i = 0
    while i < len(rest):
        word = rest[i].lower()
        if word in _COURSE:
            course = " ".join(rest[i + 1 :]).strip()
            break
        if word in _UNTIL or word in _NEXT:
            value = parse_date(rest[i + 1]) if i + 1 < len(rest) else None
            if value is None:
                return Refusal("done_bad_date", {"word": rest[i]})
            if word in _UNTIL:
                until = value
            else:
                next_on = value
            i += 2
            continue
        return Refusal("done_unknown_word", {"word": rest[i]})
    return check_done(Done(outcome, course, next_on, until), today, policy)


def check_done(done: Done, today: date, policy: Policy) -> Done | Refusal:
    """A done evaluation needs a course and the next evaluation's date (B2: it only counts
    once the next moment is agreed); continuing needs the date it continues until."""
    if done.outcome is Outcome.proceed and done.until is None:
        return Refusal("done_needs_until")
    if done.until is not None and done.until <= today:
        return Refusal("done_until_past")
    if done.outcome is not Outcome.close:
        if done.next_on is None:
            return Refusal("done_needs_next")
        if done.next_on <= today:
            return Refusal("done_next_past")
        latest = add_months(today, max(policy.every_months, 1) * 2)
        if done.next_on > latest:
            return Refusal("done_next_far", {"latest": latest.isoformat()})
        if done.until is not None and done.next_on > done.until:
            return Refusal("done_next_after_until")
    if len(done.course) < 3:
        return Refusal("done_needs_course")
    return done


@dataclass(frozen=True, slots=True)
class Snooze:
    until: date
    reason: str


def parse_snooze(
    words: Sequence[str], ev: Evaluation, today: date, policy: Policy
) -> Snooze | Refusal:
    """`2w <reason>`, `14d <reason>` or `2027-01-10 <reason>` -> Snooze, or why not."""
    if not words:
        return Refusal("snooze_usage")
    first = words[0].lower()
    until: date | None = parse_date(first)
    for suffix, per in (("w", 7), ("weken", 7), ("weeks", 7), ("d", 1), ("dagen", 1)):
        number = first.removesuffix(suffix)
        if until is None and number != first and number.isdigit():
            until = today + timedelta(days=int(number) * per)
    if until is None:
        return Refusal("snooze_usage")
    return check_snooze(Snooze(until, " ".join(words[1:]).strip()), ev, today, policy)


def check_snooze(snooze: Snooze, ev: Evaluation, today: date, policy: Policy) -> Snooze | Refusal:
    """Snoozing needs a reason, a date ahead, and stays within the policy's limits."""
    if len(snooze.reason) < 3:
        return Refusal("snooze_needs_reason")
    if snooze.until <= today:
        return Refusal("snooze_past")
    if ev.snoozes >= policy.max_snoozes:
        return Refusal("snooze_limit", {"n": str(policy.max_snoozes)})
    if snooze.until > today + timedelta(weeks=policy.max_snooze_weeks):
        return Refusal("snooze_too_long", {"weeks": str(policy.max_snooze_weeks)})
    return snooze


# --------------------------------------------------------------------------- when to nudge


NUDGE_AFTER_START = timedelta(minutes=30)


def nudge_moment(day: date, hours: WorkingHours) -> datetime:
    """The first working moment on or after `day`: half an hour after the start of the
    working day (or the start itself for a short day), in UTC. Wall-clock time in the
    person's zone, so it stays put across a DST change."""
    if not hours.days:
        raise ValueError("no working days")
    zone = ZoneInfo(hours.zone)
    offset = NUDGE_AFTER_START if hours.length > NUDGE_AFTER_START else timedelta(0)
    for n in range(8):
        candidate = day + timedelta(days=n)
        if candidate.isoweekday() in hours.days:
            local = datetime.combine(candidate, hours.start) + offset
            aware = local.replace(tzinfo=zone)
            if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
                aware = (local + timedelta(hours=1)).replace(tzinfo=zone)  # a DST gap
            return aware.astimezone(UTC)
    raise ValueError("no working days")  # pragma: no cover - days is non-empty


def months_since(start: date, today: date) -> int:
    """Whole calendar months from `start` to `today` (clamped month ends count as whole)."""
    months = (today.year - start.year) * 12 + today.month - start.month
    if months > 0 and add_months(start, months) > today:
        months -= 1
    return max(months, 0)
