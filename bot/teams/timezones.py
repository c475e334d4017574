"""People's own time zones: remembered from their platform profile, used for their nudges.

A team has one zone and one set of working hours. A person may live elsewhere (a
co-worker on Curaçao in a Dutch team): when a platform tells us their zone (Slack's
users.info `tz`), it is stored on their member rows, and a nudge meant for that one person
waits for working hours in THEIR zone. Nudges for several people keep the team's zone.

`quiet_hours_for` is the scheduler's `quiet_hours` lookup (see bot/runtime/scheduler.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.hours import WorkingHours
from bot.core.run import Run
from bot.store.repo import Store
from bot.store.tables import TeamRow, TimerRow

log = logging.getLogger("samen.timezones")


async def remember_timezones(
    store: Store, platform: str, zones: Sequence[tuple[str, str]]
) -> list[bool]:
    """Store each person's zone on each of their teams on `platform`, all in one
    transaction. For each (user, zone) pair: False when that person is in no team yet (the
    caller tries again later). An unknown zone name is ignored (logged) and counts as
    done: asking again would not make it understood."""
    known: dict[str, str] = {}
    for user, timezone in zones:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("member time zone not understood; their teams keep their own")
            continue
        known[user] = timezone
    stored = await store.set_timezones(platform, known)
    return [user not in known or user in stored for user, _ in zones]


async def quiet_hours_for(store: Store, row: TimerRow) -> WorkingHours | None:
    """The working hours a timer's nudge should respect: its team's days and hours, in the
    zone of the one person it is for when that person's zone is known, else the team's."""
    team, person = await _team_and_person(store, row)
    if team is None:
        return None
    zone = team.timezone
    if person is not None:
        member = await store.get_member(team.id, person)
        if member is not None and member.timezone:
            zone = member.timezone
    return WorkingHours.parse(zone, team.work_days, team.work_start, team.work_end)


async def _team_and_person(store: Store, row: TimerRow) -> tuple[TeamRow | None, str | None]:
    if row.run_id is None:
        # A planned flow's start or a scheduled flow: not a nudge. (Evaluation timers have
        # their own hours, in the owner's zone: bot/trajectories/desk.py.)
        return None, None
    found = await store.load_run(row.run_id)
    if found is None:
        return None, None
    team = await store.get_team(found.team_id)
    if row.kind != "reminder":
        return team, None
    run = Run.model_validate(found.state)
    state = run.state
    if state is None:
        return team, None
    answered = {
        member for by_member in run.answers.get(run.step or "", {}).values() for member in by_member
    }
    waiting = [m for m in state.recipients if m not in answered]
    return team, waiting[0] if len(waiting) == 1 else None


__all__ = ["quiet_hours_for", "remember_timezones"]
