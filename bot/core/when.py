"""Dates and times as people type them in commands, and when an event's trigger fires.

`/samen bezoek 2026-03-12 14:30` and `/samen afwezig tot 12-03-2026` carry a date
(ISO `2026-03-12` or Dutch `12-03-2026`) and a wall-clock time (`14:30` or `14.30`) in the
team's time zone. Anything that is not a real date or time reads as None, so the command
can say what it expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from bot.core.model import EventTrigger
from bot.core.timing import Offset, parse_duration, resolve_offset

__all__ = ["parse_date", "parse_when", "trigger_moment"]

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
