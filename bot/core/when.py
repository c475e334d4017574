"""Dates and times as people type them in chat (`2026-11-24`, `24-11-2026 14:00`), and the
moment an event-triggered flow starts. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.core.model import EventTrigger
from bot.core.timing import Offset, parse_duration, resolve_offset

_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DUTCH_DATE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def parse_date(word: str) -> date | None:
    """`2026-11-24` or `24-11-2026`; None for anything else or an impossible date."""
    try:
        if m := _DATE.match(word):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DUTCH_DATE.match(word):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


def parse_when(words: Sequence[str], tz: str) -> datetime | None:
    """A date and a time (`14:00`, `14.00`) in the zone `tz`; None when either is unclear."""
    if len(words) < 2:
        return None
    day = parse_date(words[0])
    clock = _TIME.match(words[1])
    if day is None or clock is None or int(clock[1]) > 23 or int(clock[2]) > 59:
        return None
    return datetime(day.year, day.month, day.day, int(clock[1]), int(clock[2]), tzinfo=ZoneInfo(tz))


def trigger_moment(trigger: EventTrigger, at: datetime, tz: str) -> datetime:
    """When a flow triggered by an event at `at` starts (`before: 2h`, `after: 1d`)."""
    if trigger.before:
        return resolve_offset(Offset(parse_duration(trigger.before), "before", "event"), at, tz)
    if trigger.after:
        return resolve_offset(Offset(parse_duration(trigger.after), "after", "event"), at, tz)
    return at
