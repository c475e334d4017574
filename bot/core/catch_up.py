"""What to do with a timer that falls due late: fire it, mark it late, skip it, or move it
to the team's next working morning. Pure: the scheduler passes the moments in.

Lateness is `now - due_at`; each kind of timer has a `CatchUpPolicy` (`DEFAULT_POLICIES`,
`FALLBACK_POLICY` for any other kind):

| kind | fire (no marker) | late (with marker) | beyond | outside working hours |
| --- | --- | --- | --- | --- |
| bell, warning | <= 2 min | — | skipped: "not rung", the chair is told | — |
| reminder, schedule | <= 5 s | <= 12 h | skipped, recorded | shifted to the next working morning |
| deadline, turn, timeout, wait | <= 5 s | always | never skipped (state transitions) | — |
| evaluation | <= 5 s | always | never skipped | shifted to the next working morning |

Working hours count only for kinds that merely nudge people: shifting a deadline or a
round's turn would stall a flow until morning. A team with no working days has no quiet
hours to respect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.hours import WorkingHours

__all__ = [
    "DEFAULT_POLICIES",
    "FALLBACK_POLICY",
    "SHIFT_NOTE",
    "WAIT_NOTE",
    "Action",
    "CatchUp",
    "CatchUpPolicy",
    "decide",
]

# The notes a shifted row carries: a late nudge moved out of quiet hours (delivered with
# the late marker when it fires), and an on-time one that waits for the morning.
SHIFT_NOTE = "shifted: quiet hours"
WAIT_NOTE = "waited: working hours"


class Action(StrEnum):
    """What becomes of a timer that is due."""

    fire = "fire"  # on time, or nearly
    late = "late"  # delivered with a late marker
    skip = "skip"  # not delivered; recorded (and a skipped bell is told to the chair)
    shift = "shift"  # quiet hours: moved to the next working morning, still pending


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What to do with a timer that is due: `new_due` only for a shift; `note` for the row."""

    action: Action
    new_due: datetime | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class CatchUpPolicy:
    """How a kind of timer is handled when it fires late.

    Up to `fire_within` late it fires normally; up to `late_within` it is delivered with
    a late marker (or shifted, see `shift_in_quiet_hours`); beyond that it is skipped,
    unless `never_skip`, in which case it is delivered late however late it is.
    """

    fire_within: timedelta
    late_within: timedelta
    never_skip: bool = False
    shift_in_quiet_hours: bool = False


_BELL = CatchUpPolicy(fire_within=timedelta(minutes=2), late_within=timedelta(minutes=2))
_REMINDER = CatchUpPolicy(
    fire_within=timedelta(seconds=5), late_within=timedelta(hours=12), shift_in_quiet_hours=True
)
_TRANSITION = CatchUpPolicy(
    fire_within=timedelta(seconds=5), late_within=timedelta(hours=12), never_skip=True
)
_EVALUATION = CatchUpPolicy(
    fire_within=timedelta(seconds=5),
    late_within=timedelta(hours=12),
    never_skip=True,
    shift_in_quiet_hours=True,
)

DEFAULT_POLICIES: Mapping[str, CatchUpPolicy] = {
    "bell": _BELL,
    "warning": _BELL,
    "reminder": _REMINDER,
    "deadline": _TRANSITION,
    "turn": _TRANSITION,
    "timeout": _TRANSITION,
    "wait": _TRANSITION,
    "evaluation": _EVALUATION,
    "schedule": _REMINDER,  # a periodic flow (a team check-in) missed by long: the next one
}
FALLBACK_POLICY = _REMINDER


def decide(
    policy: CatchUpPolicy,
    due_at: datetime,
    now: datetime,
    quiet: WorkingHours | None = None,
    *,
    shifted: bool = False,
) -> CatchUp:
    """The catch-up for a timer due at `due_at` handled at `now`. Pure."""
    lateness = now - due_at
    seconds = int(lateness.total_seconds())
    quiet_now = (
        policy.shift_in_quiet_hours
        and quiet is not None
        and quiet.days  # a team with no working days has no quiet hours to respect
        and not quiet.contains(now)
    )
    if quiet_now and lateness <= policy.fire_within and quiet is not None:
        # A nudge due at night waits for the team's next working morning (it is not late:
        # it keeps its plain form when it goes out then).
        return CatchUp(Action.shift, new_due=quiet.next_start(now), note=WAIT_NOTE)
    if lateness <= policy.fire_within:
        # A row shifted out of quiet hours is on time for its new due moment but still
        # late for the team: it keeps the late marker.
        return CatchUp(Action.late, note="late: quiet hours") if shifted else CatchUp(Action.fire)
    if lateness > policy.late_within and not policy.never_skip:
        return CatchUp(Action.skip, note=f"skipped: {seconds}s late")
    if quiet_now and quiet is not None:
        return CatchUp(Action.shift, new_due=quiet.next_start(now), note=SHIFT_NOTE)
    return CatchUp(Action.late, note=f"late: {seconds}s")
