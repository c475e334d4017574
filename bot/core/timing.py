"""Durations, offsets, cadences and cron checks, DST-safe and calendar-aware.

Clock units (minutes, hours, days, weeks) are exact spans of time. Calendar units
(months, years) are added to the local calendar date in the team's time zone, so that
Jan 31 + 1 month is Feb 28 (or 29) and Feb 29 + 12 months is Feb 28. Days are added to the
local date as well, so "1d" after 09:00 the day before a DST change is 09:00 again.
Everything here is pure: time is always an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

_UNITS: dict[str, str] = {
    # English and Dutch spellings a care coordinator may write.
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "minuut": "minutes",
    "minuten": "minutes",
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "hours": "hours",
    "u": "hours",
    "uur": "hours",
    "uren": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "dag": "days",
    "dagen": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "weken": "weeks",
    "month": "months",
    "months": "months",
    "maand": "months",
    "maanden": "months",
    "mo": "months",
    "y": "years",
    "year": "years",
    "years": "years",
    "jaar": "years",
    "jaren": "years",
}

# Every spelling of a unit a duration may use (docs/flows.md lists them all).
UNIT_SPELLINGS: tuple[str, ...] = tuple(_UNITS)


_DURATION = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")
_OFFSET = re.compile(r"^\s*(.+?)\s+(before|after|voor|voor het|na)\s+(\w+)\s*$")


class TimingError(ValueError):
    """A duration, offset or cron expression that cannot be read. The message says why."""


@dataclass(frozen=True, slots=True)
class Duration:
    amount: int
    unit: str  # minutes | hours | days | weeks | months | years

    @property
    def calendar(self) -> bool:
        return self.unit in ("days", "weeks", "months", "years")

    def approx(self) -> timedelta:
        """A fixed-length estimate, for comparisons such as 'warning longer than phase'."""
        per = {
            "minutes": 60,
            "hours": 3600,
            "days": 86400,
            "weeks": 604800,
            "months": 30 * 86400,
            "years": 365 * 86400,
        }
        return timedelta(seconds=self.amount * per[self.unit])

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


def parse_duration(text: str) -> Duration:
    """'25m', '2h', '3d', '12 months', '1 jaar' -> Duration. Raises TimingError."""
    m = _DURATION.match(str(text))
    if not m:
        raise TimingError(
            f"'{text}' is not a duration; write a number and a unit, e.g. 25m, 2h, 3d, 12 months"
        )
    unit = _UNITS.get(m.group(2).lower())
    if unit is None:
        raise TimingError(f"'{m.group(2)}' is not a time unit; use m, h, d, w, months or years")
    return Duration(int(m.group(1)), unit)


def add(moment: datetime, duration: Duration, tz: str = "Europe/Amsterdam") -> datetime:
    """`moment` + `duration`, calendar units on the local calendar of `tz`. UTC out."""
    if moment.tzinfo is None:
        raise ValueError("aware datetimes only")
    if not duration.calendar:
        return (moment + duration.approx()).astimezone(UTC)
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone).replace(tzinfo=None)
    # The unit is one of relativedelta's keywords (days, weeks, months, years); mypy cannot
    # tell a keyword dict from the positional dt1 argument.
    delta = relativedelta(**{duration.unit: duration.amount})  # type: ignore[arg-type]
    shifted = local + delta
    # Re-attach the zone: a wall time that falls in a DST gap moves forward by an hour.
    aware = shifted.replace(tzinfo=zone)
    roundtrip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if roundtrip != shifted:
        aware = (shifted + timedelta(hours=1)).replace(tzinfo=zone)
    return aware.astimezone(UTC)


def subtract(moment: datetime, duration: Duration, tz: str = "Europe/Amsterdam") -> datetime:
    return add(moment, Duration(-duration.amount, duration.unit), tz)


@dataclass(frozen=True, slots=True)
class Offset:
    """'2h before event' -> Offset(Duration(2, hours), 'before', 'event')."""

    duration: Duration
    direction: str  # "before" | "after"
    anchor: str  # "event", "deadline", "start", ...


def parse_offset(text: str) -> Offset:
    m = _OFFSET.match(str(text))
    if not m:
        raise TimingError(
            f"'{text}' is not an offset; write e.g. '2h before event' or '30m after event'"
        )
    direction = "before" if m.group(2) in ("before", "voor", "voor het") else "after"
    return Offset(parse_duration(m.group(1)), direction, m.group(3))


def resolve_offset(offset: Offset, anchor: datetime, tz: str = "Europe/Amsterdam") -> datetime:
    if offset.direction == "before":
        return subtract(anchor, offset.duration, tz)
    return add(anchor, offset.duration, tz)


def parse_deadline(text: str) -> Duration | Offset:
    """A deadline is a duration after the step starts, or an offset from the event."""
    if re.search(r"\s(before|after|voor|na)\s", f" {text} "):
        return parse_offset(text)
    return parse_duration(text)


# --------------------------------------------------------------------------- cron

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {n: i + 1 for i, n in enumerate(_MONTHS)},
    ),
    ("day of week", 0, 7, {n: i for i, n in enumerate(_DAYS)}),
)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed 5-field cron expression: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # of the month
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday (7 is read as 0)
    any_day: bool  # the day-of-month field is '*'
    any_weekday: bool  # the day-of-week field is '*'

    def matches_date(self, day: date) -> bool:
        """Cron's rule: when both day fields are restricted, either one may match."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = day.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week


def parse_cron(expr: str) -> Cron:
    """Read a 5-field cron expression (min hour dom mon dow); TimingError says what is wrong."""
    fields = str(expr).split()
    if len(fields) != 5:
        raise TimingError(
            f"'{expr}' has {len(fields)} fields; a schedule needs 5: "
            "minute hour day-of-month month day-of-week, e.g. '0 9 * * mon'"
        )
    sets: list[frozenset[int]] = []
    for raw, (name, lo, hi, names) in zip(fields, _CRON_FIELDS, strict=True):
        values: set[int] = set()
        for part in raw.split(","):
            rng, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                raise TimingError(f"step '{step}' in the {name} field of '{expr}' must be > 0")
            if rng == "*":
                first, last = lo, hi
            else:
                bounds = []
                for bound in rng.split("-", 1):
                    value = (
                        names.get(bound.lower())
                        if bound.isalpha()
                        else (int(bound) if bound.isdigit() else None)
                    )
                    if value is None or not lo <= value <= hi:
                        raise TimingError(
                            f"'{bound}' is not a valid {name} in '{expr}' (allowed {lo}-{hi})"
                        )
                    bounds.append(value)
                first, last = bounds[0], bounds[-1]
                if step and len(bounds) == 1:
                    last = hi  # '5/15': from 5 to the end, every 15
                if first > last:
                    raise TimingError(f"the range '{rng}' in the {name} field of '{expr}' is empty")
            values.update(range(first, last + 1, int(step) if step else 1))
        sets.append(frozenset(values))
    weekdays = frozenset(v % 7 for v in sets[4])
    return Cron(sets[0], sets[1], sets[2], sets[3], weekdays, fields[2] == "*", fields[4] == "*")


def check_cron(expr: str) -> None:
    """Raise TimingError unless `expr` is a 5-field cron expression (min hour dom mon dow)
    that names some moment (not '0 9 31 feb *')."""
    cron_next(parse_cron(expr), datetime(2000, 1, 1, tzinfo=UTC), "UTC")


def cron_next(expr: str | Cron, after: datetime, tz: str = "Europe/Amsterdam") -> datetime:
    """The first moment strictly after `after` that the schedule names, in UTC.

    The fields are read in the team's local time. A local time that does not exist (the
    hour skipped when summer time starts) fires at the same wall-clock minute an hour
    later; a local time that happens twice (when it ends) fires once, the first time.
    Raises TimingError when nothing matches within eight years (e.g. '0 9 31 2 *').
    """
    cron = expr if isinstance(expr, Cron) else parse_cron(expr)
    zone = ZoneInfo(tz)
    start = after.astimezone(zone)
    day = start.date()
    for _ in range(366 * 8):
        if cron.matches_date(day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    # fold=0: in the gap this reads as the same minute an hour later; in
                    # the hour that happens twice, the first one.
                    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                    moment = wall.astimezone(UTC)
                    if moment > after.astimezone(UTC):
                        return moment
        day += timedelta(days=1)
    shown = f"'{expr}'" if isinstance(expr, str) else "this schedule"
    raise TimingError(f"{shown} names no moment in the next eight years")


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("aware datetimes only")
    return moment.astimezone(UTC)
