"""Dates and times typed in commands, and when an event's trigger fires."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.model import EventTrigger
from bot.core.when import (
    WhenProblem,
    example_day,
    example_moment,
    parse_date,
    parse_when,
    read_day,
    read_moment,
    trigger_moment,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("2026-03-12", date(2026, 3, 12)),
        ("2026-3-2", date(2026, 3, 2)),
        ("12-03-2026", date(2026, 3, 12)),
        ("2-3-2026", date(2026, 3, 2)),
        ("29-02-2028", date(2028, 2, 29)),  # a leap year
        ("31-02-2026", None),
        ("29-02-2026", None),
        ("2026-13-01", None),
        ("2026-00-10", None),
        ("00-01-2026", None),
        ("12/03/2026", None),
        ("12-03-26", None),
        ("2026-03-12T14:30", None),
        (" 2026-03-12", None),
        ("morgen", None),
        ("", None),
    ],
)
def test_a_date_is_read_in_iso_or_dutch_order_and_only_when_it_exists(
    word: str, expected: date | None
) -> None:
    assert parse_date(word) == expected


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("2026-03-12", "14:30"), datetime(2026, 3, 12, 14, 30, tzinfo=AMSTERDAM)),
        (("12-03-2026", "14.30"), datetime(2026, 3, 12, 14, 30, tzinfo=AMSTERDAM)),
        (("12-03-2026", "9:05"), datetime(2026, 3, 12, 9, 5, tzinfo=AMSTERDAM)),
        (("12-03-2026", "00:00"), datetime(2026, 3, 12, 0, 0, tzinfo=AMSTERDAM)),
        (("12-03-2026", "23:59"), datetime(2026, 3, 12, 23, 59, tzinfo=AMSTERDAM)),
        (("12-03-2026", "14:30", "extra"), datetime(2026, 3, 12, 14, 30, tzinfo=AMSTERDAM)),
        (("12-03-2026", "24:00"), None),
        (("12-03-2026", "12:60"), None),
        (("12-03-2026", "14:3"), None),
        (("12-03-2026", "14"), None),
        (("12-03-2026", "1430"), None),
        (("31-02-2026", "14:30"), None),
        (("14:30", "12-03-2026"), None),
        (("12-03-2026",), None),
        ((), None),
    ],
)
def test_a_moment_is_a_real_date_and_a_real_time_in_the_team_zone(
    words: tuple[str, ...], expected: datetime | None
) -> None:
    assert parse_when(words, "Europe/Amsterdam") == expected


def test_a_moment_keeps_the_zone_it_was_typed_in() -> None:
    at = parse_when(("2026-07-01", "09:00"), "Europe/Brussels")
    assert at is not None
    assert at.tzinfo == ZoneInfo("Europe/Brussels")
    assert at.astimezone(UTC) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # summer time


EVENT = datetime(2026, 3, 12, 14, 30, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (EventTrigger(event="visit"), EVENT),
        (EventTrigger(event="visit", before="2h"), datetime(2026, 3, 12, 11, 30, tzinfo=UTC)),
        (EventTrigger(event="visit", after="30m"), datetime(2026, 3, 12, 14, 0, tzinfo=UTC)),
        (EventTrigger(event="visit", before="1d"), datetime(2026, 3, 11, 13, 30, tzinfo=UTC)),
    ],
)
def test_an_event_trigger_fires_at_its_offset_from_the_event(
    trigger: EventTrigger, expected: datetime
) -> None:
    assert trigger_moment(trigger, EVENT, "Europe/Amsterdam") == expected


def test_a_day_before_an_event_across_the_clock_change_keeps_the_wall_time() -> None:
    # Summer time starts on 29 March 2026: a day before 14:30 on the 30th is 14:30 on
    # the 29th, 23 hours earlier.
    event = datetime(2026, 3, 30, 14, 30, tzinfo=AMSTERDAM)
    moment = trigger_moment(EventTrigger(event="visit", before="1d"), event, "Europe/Amsterdam")
    assert moment.astimezone(AMSTERDAM) == datetime(2026, 3, 29, 14, 30, tzinfo=AMSTERDAM)


# --------------------------------------------------------------------------- read_moment

# Sunday 6 December 2026, 10:00 in Amsterdam.
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=AMSTERDAM)


def _at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("morgen 14:00", _at(12, 7, 14)),
        ("overmorgen 9:00", _at(12, 8, 9)),
        ("vrijdag 9u30", _at(12, 11, 9, 30)),
        ("vr 9u30", _at(12, 11, 9, 30)),
        ("14u", _at(12, 6, 14)),
        ("14u30", _at(12, 6, 14, 30)),
        ("om 14u", _at(12, 6, 14)),
        ("14.00", _at(12, 6, 14)),
        ("14h", _at(12, 6, 14)),
        ("24 december 14:00", _at(12, 24, 14)),
        ("24 dec om 14:00", _at(12, 24, 14)),
        ("24 december 2027 14:00", _at(12, 24, 14, year=2027)),
        ("5 januari 9:00", _at(1, 5, 9, year=2027)),  # January has passed: next year's
        ("24-12 14:00", _at(12, 24, 14)),
        ("24/12 14:00", _at(12, 24, 14)),
        ("24-12-2026 14:00", _at(12, 24, 14)),
        ("2026-12-24 14:00", _at(12, 24, 14)),
        ("over 2 uur", _at(12, 6, 12)),
        ("over 30 minuten", _at(12, 6, 10, 30)),
        ("tomorrow 2pm", _at(12, 7, 14)),
        ("tomorrow at 2:30 pm", _at(12, 7, 14, 30)),
        ("friday 9:30", _at(12, 11, 9, 30)),
        ("in 2 hours", _at(12, 6, 12)),
        ("december 24 14:00", _at(12, 24, 14)),
        ("zondag 11:00", _at(12, 6, 11)),  # today, still ahead
        ("zondag 9:00", _at(12, 13, 9)),  # today's has passed: next Sunday
        ("Morgen 14:00", _at(12, 7, 14)),
    ],
)
def test_a_moment_is_read_as_people_write_it(typed: str, expected: datetime) -> None:
    read = read_moment(typed.split(), NOW, "Europe/Amsterdam")
    assert read.problem is None, read
    assert read.at == expected
    assert read.used == len(typed.split())


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("31-02-2026 14:00", WhenProblem.impossible_date),
        ("31 februari 14:00", WhenProblem.impossible_date),
        ("31-04 9:00", WhenProblem.impossible_date),
        ("morgen 24:00", WhenProblem.impossible_time),
        ("morgen 12:60", WhenProblem.impossible_time),
        ("morgen 13pm", WhenProblem.impossible_time),
        ("morgen", WhenProblem.unreadable),
        ("binnenkort", WhenProblem.unreadable),
        ("24-12", WhenProblem.unreadable),
        ("", WhenProblem.unreadable),
        ("12-03-2026 14", WhenProblem.unreadable),
    ],
)
def test_an_impossible_or_unreadable_moment_says_which(typed: str, problem: WhenProblem) -> None:
    read = read_moment(typed.split(), NOW, "Europe/Amsterdam")
    assert read.at is None and read.problem == problem


def test_the_words_after_the_moment_are_left_for_the_command() -> None:
    words = ["morgen", "14:00", "@anna", "@bram", "cliënt", "K-12"]
    read = read_moment(words, NOW, "Europe/Amsterdam")
    assert read.at == _at(12, 7, 14) and words[read.used :] == ["@anna", "@bram", "cliënt", "K-12"]


def test_the_example_in_a_message_lies_in_the_future() -> None:
    assert example_moment(NOW, "Europe/Amsterdam", "nl") == "7-12-2026 14:00"
    assert example_moment(NOW, "Europe/Amsterdam", "en") == "2026-12-07 14:00"
    read = read_moment(
        example_moment(NOW, "Europe/Amsterdam", "nl").split(), NOW, "Europe/Amsterdam"
    )
    assert read.at is not None and read.at > NOW


# Thursday 26 November 2026, 10:00 in Amsterdam.
THURSDAY = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "expected", "problem"),
    [
        ("2026-12-01", date(2026, 12, 1), None),
        ("1-12-2026", date(2026, 12, 1), None),
        ("1-12", date(2026, 12, 1), None),
        ("24 december", date(2026, 12, 24), None),
        ("december 24", date(2026, 12, 24), None),
        ("3 januari", date(2027, 1, 3), None),  # the next one from today
        ("vrijdag", date(2026, 11, 27), None),
        ("Friday", date(2026, 11, 27), None),
        ("donderdag", date(2026, 11, 26), None),  # today's weekday: today
        ("wo", date(2026, 12, 2), None),
        ("morgen", date(2026, 11, 27), None),
        ("overmorgen", date(2026, 11, 28), None),
        ("de 24 december", date(2026, 12, 24), None),
        ("31-02-2026", None, WhenProblem.impossible_date),
        ("31-02", None, WhenProblem.impossible_date),
        ("volgende", None, WhenProblem.unreadable),
        ("", None, WhenProblem.unreadable),
    ],
)
def test_a_day_as_people_write_it(
    typed: str, expected: date | None, problem: WhenProblem | None
) -> None:
    assert read_day(typed.split(), THURSDAY, "Europe/Amsterdam") == (expected, problem)


def test_an_example_day_lies_a_week_ahead_in_the_teams_order() -> None:
    assert example_day(THURSDAY, "Europe/Amsterdam", "nl") == "3-12-2026"
    assert example_day(THURSDAY, "Europe/Amsterdam", "en") == "2026-12-03"
