"""Working hours: when a team, or a person in it, can be nudged, in their own time zone.

One type for the scheduler (a late nudge outside working hours waits for the next
working morning) and for the evaluation cadence (a nudge goes out half an hour into a
working day) and for the outbox (a queued nudge whose turn comes after hours waits for
the next working morning: it carries its hours as `to_json`). Wall-clock times are read
in the zone with `zoneinfo`, so 08:30 stays 08:30 local on both sides of a DST change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["WorkingHours"]

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """A zone, the working days (ISO weekdays, Monday = 1) and the hours of a working day.

    Hours that end before they start cross midnight (a night shift, 22:00-07:00): the
    hours after midnight belong to the working day that began the evening before. With
    no working days it is never working time.
    """

    zone: str = "Europe/Amsterdam"
    days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    start: time = time(8, 30)
    end: time = time(17, 30)

    @classmethod
    def parse(cls, zone: str, days: str, start: str, end: str) -> WorkingHours:
        """From a team's settings as stored: "Europe/Amsterdam", "1,2,3,4,5", "08:30", "17:30"."""
        return cls(
            zone,
            frozenset(int(d) for d in days.replace(" ", "").split(",") if d),
            time.fromisoformat(start),
            time.fromisoformat(end),
        )

    def to_json(self) -> dict[str, Any]:
        """The hours as JSON, e.g. in an outbox row's message (`from_json` reads them)."""
        return {
            "zone": self.zone,
            "days": sorted(self.days),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any) -> WorkingHours | None:
        """The hours `to_json` wrote; None for anything else (a row that cannot say when
        its person works is not held back)."""
        try:
            return cls(
                str(data["zone"]),
                frozenset(int(d) for d in data["days"]),
                time.fromisoformat(data["start"]),
                time.fromisoformat(data["end"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def length(self) -> timedelta:
        """How long a working day is on the clock; through the night for a night shift."""
        span = datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        return span if span >= timedelta(0) else span + _DAY

    def contains(self, moment: datetime) -> bool:
        """Is `moment` (aware) working time?"""
        local = moment.astimezone(ZoneInfo(self.zone))
        clock = local.time()
        if self.start <= self.end:
            return local.isoweekday() in self.days and self.start <= clock < self.end
        if clock >= self.start:  # the evening a night shift begins
            return local.isoweekday() in self.days
        if clock < self.end:  # the morning after: the shift began the day before
            return (local - _DAY).isoweekday() in self.days
        return False

    def next_start(self, moment: datetime) -> datetime:
        """The first start of working hours after `moment`, in UTC: e.g. tomorrow 08:30
        local. Raises ValueError when there are no working days."""
        zone = ZoneInfo(self.zone)
        local = moment.astimezone(zone)
        for n in range(8):
            day = local.date() + timedelta(days=n)
            if day.isoweekday() not in self.days:
                continue
            # A wall-clock time on that date: zoneinfo gives the offset valid on that day,
            # so 08:30 stays 08:30 local across a DST change.
            candidate = datetime.combine(day, self.start, tzinfo=zone)
            if candidate > local:
                return candidate.astimezone(UTC)
        raise ValueError("no working days")

    def wait_until(self, moment: datetime) -> datetime | None:
        """None when `moment` is working time, else the next start of working hours (UTC)
        a message to the person waits for. None too with no working days: never working
        time, so there is nothing to wait for (as the scheduler's quiet hours)."""
        if not self.days or self.contains(moment):
            return None
        return self.next_start(moment)
