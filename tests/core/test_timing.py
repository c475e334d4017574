"""Durations, offsets, cadences and cron checks (R-SCH-8: DST in Europe/Amsterdam)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.timing import (
    Duration,
    TimingError,
    add,
    check_cron,
    cron_next,
    parse_cron,
    parse_deadline,
    parse_duration,
    parse_offset,
    resolve_offset,
)

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25m", Duration(25, "minutes")),
        ("2h", Duration(2, "hours")),
        ("3d", Duration(3, "days")),
        ("2w", Duration(2, "weeks")),
        ("12 months", Duration(12, "months")),
        ("1 year", Duration(1, "years")),
        ("25 min", Duration(25, "minutes")),
        ("2 uur", Duration(2, "hours")),
        ("3 dagen", Duration(3, "days")),
        ("12 maanden", Duration(12, "months")),
        ("1 jaar", Duration(1, "years")),
    ],
)
def test_durations_read_in_english_and_dutch(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "25", "m25", "3 fortnights", "-5m"])
def test_a_bad_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(TimingError, match=r"25m|unit"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (datetime(2025, 1, 31, 9, tzinfo=AMS), "1 month", datetime(2025, 2, 28, 9, tzinfo=AMS)),
        (datetime(2024, 1, 31, 9, tzinfo=AMS), "1 month", datetime(2024, 2, 29, 9, tzinfo=AMS)),
        (datetime(2024, 2, 29, 9, tzinfo=AMS), "12 months", datetime(2025, 2, 28, 9, tzinfo=AMS)),
        (datetime(2024, 2, 29, 9, tzinfo=AMS), "1 year", datetime(2025, 2, 28, 9, tzinfo=AMS)),
        (datetime(2024, 2, 29, 9, tzinfo=AMS), "4 years", datetime(2028, 2, 29, 9, tzinfo=AMS)),
    ],
)
def test_calendar_units_follow_the_calendar(
    start: datetime, duration: str, expected: datetime
) -> None:
    assert add(start, parse_duration(duration)) == expected


def test_a_day_across_the_spring_dst_change_keeps_the_wall_clock() -> None:
    # The last Sunday of March 2026 is the 29th: 02:00 -> 03:00.
    saturday = datetime(2026, 3, 28, 9, 0, tzinfo=AMS)
    sunday = add(saturday, parse_duration("1d"))
    assert sunday.astimezone(AMS).hour == 9
    assert (sunday - saturday).total_seconds() == 23 * 3600


def test_a_day_across_the_autumn_dst_change_keeps_the_wall_clock() -> None:
    # The last Sunday of October 2026 is the 25th: 03:00 -> 02:00.
    saturday = datetime(2026, 10, 24, 9, 0, tzinfo=AMS)
    sunday = add(saturday, parse_duration("1d"))
    assert sunday.astimezone(AMS).hour == 9
    assert (sunday - saturday).total_seconds() == 25 * 3600


def test_clock_units_are_exact_across_dst() -> None:
    before = datetime(2026, 3, 29, 1, 30, tzinfo=AMS)
    after = add(before, parse_duration("1h"))
    assert (after - before).total_seconds() == 3600
    assert after.astimezone(AMS).hour == 3  # 02:30 does not exist that night


def test_a_wall_time_inside_the_dst_gap_moves_forward() -> None:
    start = datetime(2026, 3, 28, 2, 30, tzinfo=AMS)
    landed = add(start, parse_duration("1d")).astimezone(AMS)
    assert (landed.day, landed.hour, landed.minute) == (29, 3, 30)


def test_results_are_in_utc() -> None:
    assert add(datetime(2026, 1, 1, tzinfo=AMS), parse_duration("1d")).tzinfo == UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add(datetime(2026, 1, 1), parse_duration("1d"))


def test_offsets_before_and_after_an_event() -> None:
    visit = datetime(2026, 11, 24, 14, 0, tzinfo=AMS)
    assert resolve_offset(parse_offset("2h before event"), visit) == datetime(
        2026, 11, 24, 12, 0, tzinfo=AMS
    )
    assert resolve_offset(parse_offset("30m after event"), visit) == datetime(
        2026, 11, 24, 14, 30, tzinfo=AMS
    )
    assert parse_offset("1d voor event").direction == "before"


def test_a_deadline_is_a_duration_or_an_offset() -> None:
    assert parse_deadline("3d") == Duration(3, "days")
    assert parse_deadline("2h before event").anchor == "event"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "expr", ["0 9 * * mon", "*/15 8-17 * * 1-5", "30 8 1 jan,jul *", "0 0 * * 0,7"]
)
def test_valid_cron_expressions_pass(expr: str) -> None:
    check_cron(expr)


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("0 9 * *", "5"),
        ("60 9 * * *", "minute"),
        ("0 25 * * *", "hour"),
        ("0 9 * * maandag", "day of week"),
        ("*/0 * * * *", "step"),
    ],
)
def test_invalid_cron_expressions_say_which_field(expr: str, complaint: str) -> None:
    with pytest.raises(TimingError, match=complaint):
        check_cron(expr)


# --------------------------------------------------------------------------- cron_next

AMS_TZ = "Europe/Amsterdam"


def _ams(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(AMS_TZ))


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # Mondays at nine, local time, in winter and in summer.
        ("0 9 * * mon", _ams(2026, 11, 23, 8, 0), _ams(2026, 11, 23, 9, 0)),
        ("0 9 * * mon", _ams(2026, 11, 23, 9, 0), _ams(2026, 11, 30, 9, 0)),
        ("0 9 * * 1", _ams(2026, 6, 30, 12, 0), _ams(2026, 7, 6, 9, 0)),
        # Every 15 minutes from :05; the first of the month; the last weekday range.
        ("5/15 * * * *", _ams(2026, 1, 1, 10, 21), _ams(2026, 1, 1, 10, 35)),
        ("30 8 1 * *", _ams(2026, 1, 31, 9, 0), _ams(2026, 2, 1, 8, 30)),
        ("0 17 * * 1-5", _ams(2026, 11, 27, 18, 0), _ams(2026, 11, 30, 17, 0)),
        # Both day fields restricted: either one matches (cron's rule).
        ("0 9 13 * fri", _ams(2026, 11, 1, 0, 0), _ams(2026, 11, 6, 9, 0)),
        # Sunday as 7 and as 0.
        ("0 12 * * 7", _ams(2026, 11, 23, 0, 0), _ams(2026, 11, 29, 12, 0)),
        # Feb 29 only in leap years.
        ("0 9 29 feb *", _ams(2026, 3, 1, 0, 0), _ams(2028, 2, 29, 9, 0)),
    ],
)
def test_cron_next_names_the_next_local_moment(
    expr: str, after: datetime, expected: datetime
) -> None:
    assert cron_next(expr, after, AMS_TZ) == expected.astimezone(UTC)


def test_cron_next_across_the_clock_changes() -> None:
    # 29 March 2026: 02:00 -> 03:00. The skipped 02:30 fires at 03:30 local (01:30 UTC).
    assert cron_next("30 2 * * *", _ams(2026, 3, 29, 0, 0), AMS_TZ) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    # 25 October 2026: 03:00 -> 02:00. 02:30 happens twice and fires once, the first time.
    first = cron_next("30 2 * * *", _ams(2026, 10, 25, 0, 0), AMS_TZ)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert cron_next("30 2 * * *", first, AMS_TZ) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_cron_next_refuses_a_schedule_that_never_comes() -> None:
    with pytest.raises(TimingError, match="names no moment"):
        cron_next("0 9 31 feb *", _ams(2026, 1, 1, 0, 0), AMS_TZ)


@pytest.mark.parametrize(
    ("expr", "message"),
    [("0 9 * *", "needs 5"), ("0 25 * * *", "valid hour"), ("0 9 * * 5-1", "is empty")],
)
def test_a_bad_schedule_says_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(TimingError, match=message):
        parse_cron(expr)
