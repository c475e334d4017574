"""Working hours, for both of their users: the scheduler's catch-up (a late nudge outside
working hours waits for the morning) and the evaluation cadence (when a nudge goes out)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.cadence import nudge_moment
from bot.core.catch_up import DEFAULT_POLICIES, SHIFT_NOTE, WAIT_NOTE, Action, CatchUp, decide
from bot.core.hours import WorkingHours

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = WorkingHours.parse("Europe/Amsterdam", "1,2,3,4,5", "08:30", "17:30")
# A night shift from Monday evening to Saturday morning: Sunday and Saturday evenings free.
NIGHTS = WorkingHours.parse("Europe/Amsterdam", "1,2,3,4,5", "22:00", "07:00")
NOBODY = WorkingHours.parse("Europe/Amsterdam", "", "08:30", "17:30")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=AMS)


def test_settings_as_stored_are_read_with_spaces_and_empty_parts() -> None:
    hours = WorkingHours.parse("Europe/Brussels", " 1, 3,,5 ", "07:00", "15:30")
    assert hours == WorkingHours("Europe/Brussels", frozenset({1, 3, 5}), time(7), time(15, 30))
    assert NOBODY.days == frozenset()


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        ("2026-03-02T08:29", False),  # Monday, before the start
        ("2026-03-02T08:30", True),  # the start counts
        ("2026-03-02T17:29", True),
        ("2026-03-02T17:30", False),  # the end does not
        ("2026-03-07T10:00", False),  # Saturday
    ],
)
def test_office_hours_hold_on_working_days_between_start_and_end(
    moment: str, working: bool
) -> None:
    assert OFFICE.contains(local(moment)) is working


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        ("2026-03-02T21:59", False),  # Monday evening, before the shift
        ("2026-03-02T22:00", True),  # Monday's shift begins
        ("2026-03-03T03:00", True),  # ... and goes on after midnight
        ("2026-03-03T06:59", True),
        ("2026-03-03T07:00", False),  # it ends on Tuesday morning
        ("2026-03-03T12:00", False),  # the day between two shifts
        ("2026-03-07T03:00", True),  # Saturday night: what is left of Friday's shift
        ("2026-03-07T22:00", False),  # Saturday evening: no shift begins
        ("2026-03-08T23:00", False),  # Sunday evening: no shift begins
        ("2026-03-09T03:00", False),  # Monday night: no shift began on Sunday
    ],
)
def test_hours_that_cross_midnight_belong_to_the_day_the_shift_began(
    moment: str, working: bool
) -> None:
    assert NIGHTS.contains(local(moment)) is working


def test_without_working_days_it_is_never_working_time_and_never_starts() -> None:
    assert not NOBODY.contains(local("2026-03-02T10:00"))
    with pytest.raises(ValueError, match="no working days"):
        NOBODY.next_start(local("2026-03-02T10:00"))


def test_a_working_day_is_as_long_as_the_clock_says_also_through_the_night() -> None:
    assert OFFICE.length == timedelta(hours=9)
    assert NIGHTS.length == timedelta(hours=9)
    assert WorkingHours(start=time(9), end=time(9)).length == timedelta(0)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-03-02T12:00", "2026-03-02T22:00"),  # tonight's shift
        ("2026-03-06T23:00", "2026-03-09T22:00"),  # Friday's shift has begun: Monday's is next
        ("2026-03-07T03:00", "2026-03-09T22:00"),
    ],
)
def test_the_next_night_shift_starts_on_a_working_evening(moment: str, expected: str) -> None:
    assert NIGHTS.next_start(local(moment)) == local(expected).astimezone(UTC)


# --------------------------------------------------------------------------- the scheduler


def test_a_late_reminder_in_the_quiet_day_waits_for_the_night_shift() -> None:
    noon = local("2026-03-03T12:00")  # Tuesday, between two shifts
    evening = local("2026-03-03T22:00").astimezone(UTC)
    late = decide(DEFAULT_POLICIES["reminder"], noon - timedelta(hours=1), noon, NIGHTS)
    assert late == CatchUp(Action.shift, evening, SHIFT_NOTE)
    on_time = decide(DEFAULT_POLICIES["reminder"], noon, noon, NIGHTS)
    assert on_time == CatchUp(Action.shift, evening, WAIT_NOTE)


def test_a_late_reminder_after_midnight_in_a_night_shift_goes_out_at_once() -> None:
    night = local("2026-03-03T03:00")  # Tuesday 03:00: Monday's shift
    late = decide(DEFAULT_POLICIES["reminder"], night - timedelta(hours=1), night, NIGHTS)
    assert late.action is Action.late
    assert decide(DEFAULT_POLICIES["reminder"], night, night, NIGHTS).action is Action.fire


def test_a_team_without_working_days_has_no_quiet_hours_to_wait_for() -> None:
    sunday = local("2026-03-08T03:00")
    late = decide(DEFAULT_POLICIES["evaluation"], sunday - timedelta(hours=2), sunday, NOBODY)
    assert late.action is Action.late
    assert decide(DEFAULT_POLICIES["reminder"], sunday, sunday, NOBODY).action is Action.fire


# --------------------------------------------------------------------------- the cadence


def test_a_nudge_for_a_night_shift_goes_out_half_an_hour_into_it() -> None:
    sunday = date(2026, 3, 8)
    assert nudge_moment(sunday, NIGHTS) == local("2026-03-09T22:30").astimezone(UTC)


def test_a_nudge_needs_a_working_day() -> None:
    with pytest.raises(ValueError, match="no working days"):
        nudge_moment(date(2026, 3, 8), NOBODY)


@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    end=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    days=st.frozensets(st.integers(1, 7), min_size=1),
    zone=st.sampled_from(["Europe/Amsterdam", "Europe/Brussels", "UTC"]),
)
def test_a_nudge_always_falls_within_working_hours(
    day: date, start: time, end: time, days: frozenset[int], zone: str
) -> None:
    hours = WorkingHours(zone, days, start, end)
    assume(hours.length >= timedelta(hours=2))  # a DST change could swallow a shorter day
    moment = nudge_moment(day, hours)
    assert hours.contains(moment)
    assert day <= moment.astimezone(ZoneInfo(zone)).date() <= day + timedelta(days=8)


@pytest.mark.parametrize("hours", [OFFICE, NIGHTS, NOBODY])
def test_hours_survive_the_json_an_outbox_row_keeps(hours: WorkingHours) -> None:
    assert WorkingHours.from_json(hours.to_json()) == hours


@pytest.mark.parametrize(
    "data", [None, {}, {"zone": "Europe/Amsterdam"}, {**OFFICE.to_json(), "start": "later"}]
)
def test_hours_that_cannot_be_read_are_none(data: object) -> None:
    assert WorkingHours.from_json(data) is None


def test_a_message_after_hours_waits_until_the_next_working_morning() -> None:
    """Friday 17:00:20 after a day ending at 17:00: Monday 08:30; inside hours: no wait."""
    day = WorkingHours.parse("Europe/Amsterdam", "1,2,3,4,5", "08:30", "17:00")
    assert day.wait_until(local("2026-03-06T16:59:58")) is None
    assert day.wait_until(local("2026-03-06T17:00:20")) == local("2026-03-09T08:30")
    assert NIGHTS.wait_until(local("2026-03-03T03:00")) is None
    assert NIGHTS.wait_until(local("2026-03-03T12:00")) == local("2026-03-03T22:00")
    assert NOBODY.wait_until(local("2026-03-03T12:00")) is None  # never working time
