"""Dates and times as people type them in commands, and when an event's trigger fires.

`/samen bezoek 2026-03-12 14:30` and `/samen afwezig tot 12-03-2026` carry a date
(ISO `2026-03-12` or Dutch `12-03-2026`) and a wall-clock time (`14:30` or `14.30`) in the
team's time zone. Anything that is not a real date or time reads as None, so the command
can say what it expected.

`read_moment` reads a moment as people write it in Dutch, Flemish and English, relative
to a `now` the caller passes in (the core has no clock): `morgen 14:00`, `overmorgen
9:00`, `vrijdag 9u30`, `14u`, `14.00`, `24 december 14:00`, `24-12 14:00`, `over 2 uur`,
`2026-12-24 14:00`, `tomorrow 2pm`. It tells an impossible date (`31-02-2026`) or time
(`24:00`) apart from words it cannot read, so that each gets its own message.

Why tables and not a parsing library: dateparser (the maintained one with Dutch) was
tried on these examples. It read `vrijdag 9u30` as 9 December 2030 and `14u` as midnight
— silently wrong for everyday Flemish —, could not tell an impossible date from an
unreadable one, reads the wall clock unless told otherwise, and costs about 0.3 s to
import and 0.3 s for its first Dutch parse. The forms people use are few; the tables
below cover them and `tests/core/test_when.py` checks each one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from bot.core.model import EventTrigger
from bot.core.timing import Offset, parse_duration, resolve_offset

__all__ = [
    "Moment",
    "WhenProblem",
    "example_day",
    "parse_date",
    "parse_when",
    "read_day",
    "read_moment",
    "trigger_moment",
]

_DATE: Final = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DUTCH_DATE: Final = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_TIME: Final = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def parse_date(word: str) -> date | None:
    """`2026-03-12` or `12-03-2026` as a date; None for anything else, such as 31-02-2026."""
    try:
        if m := _DATE.match(word):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DUTCH_DATE.match(word):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


def parse_when(words: Sequence[str], tz: str) -> datetime | None:
    """A date and a time (the first two words) as a moment in the zone `tz`; None when
    either is missing or not real (24:00, 12:60)."""
    if len(words) < 2:
        return None
    day = parse_date(words[0])
    clock = _TIME.match(words[1])
    if day is None or clock is None or int(clock[1]) > 23 or int(clock[2]) > 59:
        return None
    return datetime(day.year, day.month, day.day, int(clock[1]), int(clock[2]), tzinfo=ZoneInfo(tz))


def trigger_moment(trigger: EventTrigger, at: datetime, tz: str) -> datetime:
    """When a flow triggered by an event at `at` starts: `before` or `after` the event
    (days on the calendar of `tz`), or at the event itself."""
    if trigger.before:
        return resolve_offset(Offset(parse_duration(trigger.before), "before", "event"), at, tz)
    if trigger.after:
        return resolve_offset(Offset(parse_duration(trigger.after), "after", "event"), at, tz)
    return at


# --------------------------------------------------------------------------- read_moment


class WhenProblem(StrEnum):
    unreadable = "unreadable"  # not a date or time we know how to read
    impossible_date = "impossible_date"  # written as a date, but no such day (31-02)
    impossible_time = "impossible_time"  # written as a time, but no such time (24:00)


@dataclass(frozen=True, slots=True)
class Moment:
    """What `read_moment` read: the moment (aware, in the team's zone) and how many of
    the words it used, or the problem and the words it concerns."""

    at: datetime | None
    used: int
    problem: WhenProblem | None = None
    typed: str = ""


_MONTHS: Final = {
    **{
        m: i
        for i, m in enumerate(
            (
                "januari",
                "februari",
                "maart",
                "april",
                "mei",
                "juni",
                "juli",
                "augustus",
                "september",
                "oktober",
                "november",
                "december",
            ),
            1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            (
                "january",
                "february",
                "march",
                "april",
                "may",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
            ),
            1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"), 1
        )
    },
    "mar": 3,
    "oct": 10,
    "sept": 9,
    "febr": 2,
    "aug.": 8,
}
_WEEKDAYS: Final = {
    **{
        d: i
        for i, d in enumerate(
            ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
        )
    },
    **{d: i for i, d in enumerate(("ma", "di", "wo", "do", "vr", "za", "zo"))},
    **{
        d: i
        for i, d in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    **{d: i for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
}
_DAYS_AHEAD: Final = {
    "vandaag": 0,
    "today": 0,
    "morgen": 1,
    "tomorrow": 1,
    "overmorgen": 2,
}
_FILLERS: Final = frozenset({"om", "at", "op", "on", "de", "the", "rond", "around"})
_IN: Final = frozenset({"over", "in", "binnen"})
_UNITS: Final = {
    "min": 1,
    "minuut": 1,
    "minuten": 1,
    "minute": 1,
    "minutes": 1,
    "mins": 1,
    "uur": 60,
    "uren": 60,
    "u": 60,
    "hour": 60,
    "hours": 60,
    "h": 60,
    "dag": 1440,
    "dagen": 1440,
    "day": 1440,
    "days": 1440,
}
# 14:00, 14.00, 14u, 14u30, 9h30, 14h, 2pm, 2:30pm, 11 am (the am/pm as its own word)
_CLOCK: Final = re.compile(
    r"^(\d{1,2})(?:(?:[:.](\d{2}))|(?:[uh](\d{2})?))?(am|pm|a\.m\.|p\.m\.)?$"
)
_DAY_MONTH: Final = re.compile(r"^(\d{1,2})[-/](\d{1,2})(?:[-/](\d{4}))?$")
_ISO_DAY: Final = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_NUMBER: Final = re.compile(r"^\d{1,3}$")


def read_moment(words: Sequence[str], now: datetime, tz: str) -> Moment:
    """The moment at the start of `words`, in the zone `tz`, relative to `now`: a day (a
    date, a weekday, morgen/tomorrow; today when left out) and a time, or `over 2 uur`.
    `used` says how many words it took, so the caller can read on after them."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    folded = [w.strip().casefold().rstrip(",") for w in words]
    i = 0
    while i < len(folded) and folded[i] in _FILLERS:
        i += 1
    relative = _relative(folded, i, now)
    if relative is not None:
        return relative
    weekday = _WEEKDAYS.get(folded[i]) if i < len(folded) else None
    day, used, problem = (None, i + 1, None) if weekday is not None else _day(folded, i, local_now)
    if problem is not None:
        return Moment(None, used, problem, " ".join(words[i:used]))
    i = used
    while i < len(folded) and folded[i] in _FILLERS:
        i += 1
    clock, used, problem = _clock(folded, i)
    if problem is not None:
        return Moment(None, used, problem, " ".join(words[i:used]))
    if clock is None:
        return Moment(None, i, WhenProblem.unreadable, " ".join(words[:3]))
    if weekday is not None:
        ahead = (weekday - local_now.weekday()) % 7
        if ahead == 0 and clock <= (local_now.hour, local_now.minute):
            ahead = 7  # today's has passed: next week's
        day = local_now.date() + timedelta(days=ahead)
    elif day is None:
        day = local_now.date()
    hour, minute = clock
    return Moment(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone), used)


def read_day(
    words: Sequence[str], now: datetime, tz: str
) -> tuple[date | None, WhenProblem | None]:
    """A day from today on, as people write it: a date (`24-12`, `24 december`,
    `2026-12-24`, `24-12-2026`), a weekday (the next one, today's included) or
    vandaag/morgen/overmorgen (today/tomorrow). (None, why) when it is not one."""
    local = now.astimezone(ZoneInfo(tz))
    folded = [w.strip().casefold().rstrip(",") for w in words]
    i = 0
    while i < len(folded) and folded[i] in _FILLERS:
        i += 1
    if i < len(folded) and (weekday := _WEEKDAYS.get(folded[i])) is not None:
        return local.date() + timedelta(days=(weekday - local.weekday()) % 7), None
    day, _, problem = _day(folded, i, local)
    if day is None and problem is None:
        return None, WhenProblem.unreadable
    return day, problem


def example_day(now: datetime, tz: str, language: str, days: int = 7) -> str:
    """A day to show in a message's example, `days` from today, in the team's order."""
    day = now.astimezone(ZoneInfo(tz)).date() + timedelta(days=days)
    if language.split("-", 1)[0] == "en":
        return day.isoformat()
    return f"{day.day}-{day.month}-{day.year}"


def _relative(words: list[str], i: int, now: datetime) -> Moment | None:
    """`over 2 uur`, `in 30 minutes`, `over 2 dagen`: from now, to the minute."""
    if i + 2 >= len(words) or words[i] not in _IN or not _NUMBER.match(words[i + 1]):
        return None
    unit = _UNITS.get(words[i + 2])
    if unit is None:
        return None
    at = (now + timedelta(minutes=int(words[i + 1]) * unit)).replace(second=0, microsecond=0)
    return Moment(at, i + 3)


def _day(words: list[str], i: int, now: datetime) -> tuple[date | None, int, WhenProblem | None]:
    """A day at `words[i]`: (the day or None when no day is written, words used, problem)."""
    if i >= len(words):
        return None, i, None
    word = words[i]
    if word in _DAYS_AHEAD:
        return now.date() + timedelta(days=_DAYS_AHEAD[word]), i + 1, None
    if m := _ISO_DAY.match(word):
        return _checked(int(m[1]), int(m[2]), int(m[3]), i + 1)
    if m := _DAY_MONTH.match(word):
        year = int(m[3]) if m[3] else None
        return _dated(int(m[1]), int(m[2]), year, now, i + 1)
    if word.isdigit() and i + 1 < len(words) and words[i + 1].rstrip(".") in _MONTHS:
        month = _MONTHS[words[i + 1].rstrip(".")]
        year_word = words[i + 2] if i + 2 < len(words) else ""
        if re.fullmatch(r"\d{4}", year_word):
            return _checked(int(year_word), month, int(word), i + 3)
        return _dated(int(word), month, None, now, i + 2)
    if word.rstrip(".") in _MONTHS and i + 1 < len(words) and words[i + 1].isdigit():
        # "december 24" (English order)
        return _dated(int(words[i + 1]), _MONTHS[word.rstrip(".")], None, now, i + 2)
    return None, i, None


def _dated(
    day: int, month: int, year: int | None, now: datetime, used: int
) -> tuple[date | None, int, WhenProblem | None]:
    """A day and month, in the year given, else the first such day from today on."""
    if year is not None:
        return _checked(year, month, day, used)
    found, _, problem = _checked(now.year, month, day, used)
    if problem is not None and not (month == 2 and day == 29):
        return None, used, problem
    if found is None or found < now.date():
        for later in range(now.year + 1, now.year + 5):  # 29-02: the next leap year
            found, _, problem = _checked(later, month, day, used)
            if found is not None:
                break
    return found, used, None if found is not None else WhenProblem.impossible_date


def _checked(
    year: int, month: int, day: int, used: int
) -> tuple[date | None, int, WhenProblem | None]:
    try:
        return date(year, month, day), used, None
    except ValueError:
        return None, used, WhenProblem.impossible_date


def _clock(words: list[str], i: int) -> tuple[tuple[int, int] | None, int, WhenProblem | None]:
    """A time of day at `words[i]` (`14:00`, `9u30`, `14u`, `2pm`, `2 pm`)."""
    if i >= len(words):
        return None, i, None
    m = _CLOCK.match(words[i])
    if m is None:
        return None, i, None
    used = i + 1
    suffix = m[4]
    if suffix is None and used < len(words) and words[used] in ("am", "pm", "a.m.", "p.m."):
        suffix, used = words[used], used + 1
    if m[2] is None and m[3] is None and words[i].isdigit() and suffix is None:
        return None, i, None  # a bare number is not a time (it may be a day)
    hour, minute = int(m[1]), int(m[2] or m[3] or 0)
    if suffix is not None:
        if not 1 <= hour <= 12:
            return None, used, WhenProblem.impossible_time
        hour = hour % 12 + (12 if suffix.startswith("p") else 0)
    if hour > 23 or minute > 59:
        return None, used, WhenProblem.impossible_time
    return (hour, minute), used, None


def example_moment(now: datetime, tz: str, language: str) -> str:
    """A moment to show in a message's example, always in the future: tomorrow at 14:00,
    written as a date in the team's order."""
    day = now.astimezone(ZoneInfo(tz)).date() + timedelta(days=1)
    if language.split("-", 1)[0] == "en":
        return f"{day.isoformat()} 14:00"
    return f"{day.day}-{day.month}-{day.year} 14:00"
