"""Evaluation cadences: calendar arithmetic, lifecycle states, done and snooze rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.cadence import (
    Done,
    Evaluation,
    Kind,
    Moment,
    Outcome,
    Planned,
    Policy,
    PolicyError,
    Refusal,
    Snooze,
    State,
    add_months,
    cadence,
    check_done,
    escalate_on,
    months_since,
    nudge_moment,
    overdue_on,
    parse_done,
    parse_policy,
    parse_snooze,
    process_due,
    replan,
    state_of,
)
from bot.core.hours import WorkingHours

POLICY = Policy()
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


# ---------------------------------------------------------------------------- calendar


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # leap day + a year
        (date(2024, 2, 29), 48, date(2028, 2, 29)),  # ... and back to a leap year
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # clamp to month end
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 1, 31), 3, date(2025, 4, 30)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 11, 24), 6, date(2026, 5, 24)),
    ],
)
def test_months_are_calendar_months_clamped_to_the_month_end(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


def test_the_default_cadence_follows_the_sources() -> None:
    moments = cadence(date(2024, 1, 31), POLICY, date(2027, 12, 31))
    assert moments == [
        Moment(date(2024, 7, 31), Kind.plan_review),
        Moment(date(2025, 1, 31), Kind.continuation),
        Moment(date(2025, 7, 31), Kind.periodic),
        Moment(date(2026, 1, 31), Kind.colleague),
        Moment(date(2026, 7, 31), Kind.periodic),
        Moment(date(2027, 1, 31), Kind.periodic),
        Moment(date(2027, 7, 31), Kind.periodic),
    ]


def test_every_moment_is_counted_from_the_start_so_month_ends_never_drift() -> None:
    monthly = Policy(plan_review_months=0, continuation_months=0, colleague_months=0)
    monthly = Policy(**{**monthly.to_json(), "every_months": 1})
    days = [m.due_on for m in cadence(date(2025, 1, 31), monthly, date(2025, 6, 30))]
    assert days == [
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
        date(2025, 5, 31),
        date(2025, 6, 30),
    ]


def test_a_rule_set_to_zero_is_off_and_coinciding_rules_name_the_moment_once() -> None:
    policy = Policy(plan_review_months=12, continuation_months=12, colleague_months=0)
    moments = cadence(date(2025, 3, 1), policy, date(2026, 9, 1))
    assert moments == [
        Moment(date(2025, 9, 1), Kind.periodic),
        Moment(date(2026, 3, 1), Kind.continuation),
        Moment(date(2026, 9, 1), Kind.periodic),
    ]


@given(start=dates, years=st.integers(min_value=0, max_value=10))
def test_cadence_properties(start: date, years: int) -> None:
    until = add_months(start, 12 * years + 7)
    moments = cadence(start, POLICY, until)
    days = [m.due_on for m in moments]
    assert days == sorted(days) and len(set(days)) == len(days)
    assert all(start < d <= until for d in days)
    # At least every 6 months (a clamped month end may make it a day or three shorter).
    for a, b in zip([start, *days], days, strict=False):
        assert b <= add_months(a, 6) + timedelta(days=3)
    # Each moment's day is the start's day, or the end of a shorter month.
    for d in days:
        assert d.day == start.day or (d.day < start.day and (d + timedelta(days=1)).day == 1)


@given(start=dates, today=dates)
def test_months_since_matches_add_months(start: date, today: date) -> None:
    months = months_since(start, today)
    if today >= start:
        assert add_months(start, months) <= today < add_months(start, months + 1)
    else:
        assert months == 0


# ---------------------------------------------------------------------------- replanning


def test_registering_late_makes_the_latest_missed_moment_due_today() -> None:
    plan = replan(date(2024, 1, 10), POLICY, date(2026, 2, 1))
    assert plan.add[0] == Moment(date(2026, 2, 1), Kind.colleague)  # the 24 months one
    assert plan.add[1] == Moment(date(2026, 7, 10), Kind.periodic)
    assert plan.keep == () and plan.drop == ()


def test_a_start_date_change_replaces_future_moments_and_keeps_history() -> None:
    today = date(2026, 3, 1)
    existing = [
        Planned("done-1", Kind.plan_review, date(2025, 9, 1), done=True),
        Planned("due-1", Kind.continuation, date(2026, 3, 1)),
        Planned("future-1", Kind.colleague, date(2027, 3, 1)),
        Planned("future-2", Kind.periodic, date(2027, 9, 1)),
    ]
    plan = replan(date(2025, 4, 15), POLICY, today, existing)
    assert set(plan.keep) == {"done-1", "due-1"}
    assert set(plan.drop) == {"future-1", "future-2"}
    assert plan.add[0] == Moment(date(2026, 4, 15), Kind.continuation)
    unchanged = replan(date(2025, 3, 1), POLICY, today, existing)
    assert set(unchanged.keep) == {"done-1", "due-1", "future-1", "future-2"}
    assert not unchanged.drop


def test_an_agreed_next_date_takes_the_place_of_the_cadence_up_to_it() -> None:
    today = date(2025, 6, 1)
    existing = [Planned("a", Kind.plan_review, date(2025, 5, 1), done=True)]
    plan = replan(date(2024, 11, 1), POLICY, today, existing, agreed_next=date(2025, 12, 1))
    assert plan.add[0] == Moment(date(2025, 12, 1), Kind.agreed)
    assert all(m.due_on > date(2025, 12, 1) for m in plan.add[1:])
    assert Moment(date(2025, 11, 1), Kind.continuation) not in plan.add


@given(start=dates, offset=st.integers(min_value=0, max_value=4000))
def test_replan_is_stable(start: date, offset: int) -> None:
    """Replanning what was just planned changes nothing."""
    today = start + timedelta(days=offset)
    if today.year > 2090:
        return
    first = replan(start, POLICY, today)
    rows = [Planned(str(i), m.kind, m.due_on) for i, m in enumerate(first.add)]
    again = replan(start, POLICY, today, rows)
    assert again.add == () and again.drop == ()
    assert sorted(again.keep) == sorted(r.id for r in rows)


def test_process_evaluations_after_every_n_sessions() -> None:
    policy = Policy(process_after_sessions=5)
    assert [n for n in range(1, 16) if process_due(n, policy)] == [5, 10, 15]
    assert not any(process_due(n, POLICY) for n in range(1, 30))


# ---------------------------------------------------------------------------- states


def test_the_lifecycle_upcoming_due_overdue_done() -> None:
    ev = Evaluation(date(2026, 5, 25))
    assert state_of(ev, POLICY, date(2026, 5, 24)) is State.upcoming
    assert state_of(ev, POLICY, date(2026, 5, 25)) is State.due
    assert state_of(ev, POLICY, date(2026, 6, 8)) is State.due
    assert overdue_on(ev, POLICY) == date(2026, 6, 9)
    assert state_of(ev, POLICY, date(2026, 6, 9)) is State.overdue
    assert escalate_on(ev, POLICY) == date(2026, 6, 23)
    assert state_of(Evaluation(date(2026, 5, 25), done=True), POLICY, date(2027, 1, 1)) is (
        State.done
    )


def test_a_snooze_holds_until_its_date_and_then_the_evaluation_is_due_again() -> None:
    ev = Evaluation(date(2026, 5, 25), snoozed_until=date(2026, 7, 1), snoozes=1)
    assert state_of(ev, POLICY, date(2026, 6, 30)) is State.snoozed
    assert state_of(ev, POLICY, date(2026, 7, 1)) is State.due
    assert state_of(ev, POLICY, date(2026, 7, 16)) is State.overdue


@given(due=dates, today=dates, snooze=st.one_of(st.none(), dates), done=st.booleans())
def test_exactly_one_state_and_it_moves_forward(
    due: date, today: date, snooze: date | None, done: bool
) -> None:
    ev = Evaluation(due, done=done, snoozed_until=snooze)
    order = [State.upcoming, State.due, State.overdue]
    state = state_of(ev, POLICY, today)
    if done:
        assert state is State.done
        return
    tomorrow = state_of(ev, POLICY, today + timedelta(days=1))
    if state in order and tomorrow in order:
        assert order.index(tomorrow) >= order.index(state)
    if state is State.snoozed:
        assert snooze is not None and today < snooze


# ---------------------------------------------------------------------------- done, snooze

TODAY = date(2026, 11, 25)


LINE = "doorgaan tot 2027-06-01 volgende 2027-03-01 koers wekelijks, netwerk erbij"


def test_done_with_everything_is_accepted() -> None:
    done = parse_done(
        LINE.split(" "),
        TODAY,
        POLICY,
    )
    assert done == Done(
        Outcome.proceed, "wekelijks, netwerk erbij", date(2027, 3, 1), date(2027, 6, 1)
    )


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("", "done_outcome"),
        ("beter", "done_outcome"),
        ("doorgaan volgende 2027-03-01 koers verder zo", "done_needs_until"),
        ("doorgaan tot 2027-06-01 koers verder zo", "done_needs_next"),
        ("overdragen koers naar de huisarts", "done_needs_next"),
        ("doorgaan tot 2027-06-01 volgende 2026-11-01 koers x y z", "done_next_past"),
        ("doorgaan tot 2027-06-01 volgende 2027-03-01", "done_needs_course"),
        ("doorgaan tot 2027-06-01 volgende 2028-03-01 koers abc", "done_next_far"),
        ("doorgaan tot 2027-02-01 volgende 2027-03-01 koers abc", "done_next_after_until"),
        ("doorgaan tot morgen", "done_bad_date"),
        ("doorgaan misschien", "done_unknown_word"),
    ],
)
def test_done_is_refused_with_the_reason(typed: str, key: str) -> None:
    result = parse_done(typed.split(), TODAY, POLICY)
    assert isinstance(result, Refusal) and result.key == key


def test_closing_needs_a_course_but_no_next_date() -> None:
    assert check_done(Done(Outcome.close, "afronding besproken", None), TODAY, POLICY) == Done(
        Outcome.close, "afronding besproken", None
    )


def test_snooze_rules() -> None:
    ev = Evaluation(TODAY)
    ok = parse_snooze(["2w", "cliënt", "op", "vakantie"], ev, TODAY, POLICY)
    assert ok == Snooze(TODAY + timedelta(weeks=2), "cliënt op vakantie")
    assert parse_snooze(["2027-01-05", "ziek"], ev, TODAY, POLICY) == Snooze(
        date(2027, 1, 5), "ziek"
    )

    def key(words: list[str], evaluation: Evaluation = ev) -> str:
        result = parse_snooze(words, evaluation, TODAY, POLICY)
        assert isinstance(result, Refusal)
        return result.key

    assert key(["2w"]) == "snooze_needs_reason"
    assert key(["9w", "lang", "weg"]) == "snooze_too_long"
    assert key(["2026-11-01", "te", "laat"]) == "snooze_past"
    assert key(["soms"]) == "snooze_usage"
    assert key(["1w", "weer", "niet"], Evaluation(TODAY, snoozes=2)) == "snooze_limit"


def test_policies_are_typed_by_coordinators_and_checked() -> None:
    policy = parse_policy(["mdo=9", "elke=4", "sessies=10", "uitstel=1"], POLICY)
    assert (policy.continuation_months, policy.every_months) == (9, 4)
    assert (policy.process_after_sessions, policy.max_snoozes) == (10, 1)
    assert Policy.from_json(policy.to_json()) == policy
    for bad, key in (
        ([], "policy_usage"),
        (["foo=1"], "policy_unknown"),
        (["elke=0"], "policy_range"),
    ):
        with pytest.raises(PolicyError) as caught:
            parse_policy(bad, POLICY)
        assert caught.value.refusal.key == key


# ---------------------------------------------------------------------------- nudges

HOURS = WorkingHours("Europe/Amsterdam", frozenset({1, 2, 3, 4, 5}), time(8, 30), time(17, 30))


def test_a_nudge_waits_for_a_working_morning_across_dst() -> None:
    # Saturday 28 March 2026; DST starts on Sunday 29 March.
    moment = nudge_moment(date(2026, 3, 28), HOURS)
    assert moment == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # Monday 09:00 CEST
    winter = nudge_moment(date(2026, 10, 26), HOURS)
    assert winter == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)  # Monday 09:00 CET


@given(day=dates, zone=st.sampled_from(["Europe/Amsterdam", "Europe/Brussels", "UTC"]))
def test_nudges_always_fall_within_working_hours(day: date, zone: str) -> None:
    hours = WorkingHours(zone, HOURS.days, HOURS.start, HOURS.end)
    moment = nudge_moment(day, hours)
    assert hours.contains(moment)
    local = moment.astimezone(ZoneInfo(zone))
    assert day <= local.date() <= day + timedelta(days=3)
