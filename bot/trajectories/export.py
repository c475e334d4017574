"""`samen export trajectories`: trajectories and their evaluation history, for a coordinator.

Pseudonyms only: the client reference a clinician chose, the owners' platform ids, dates,
kinds, states and outcomes. Free text (the course until the next evaluation, a snooze's
reason) stays in the database: it may say more about a client than a code does.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from bot.core.cadence import Policy, state_of
from bot.store.evaluations import EvaluationStore
from bot.store.repo import Store
from bot.trajectories.desk import lifecycle

FORMATS = ("csv", "json")
TRAJECTORY_COLUMNS = (
    "team",
    "trajectory",
    "client_ref",
    "owner",
    "started_on",
    "status",
    "sessions",
)
EVALUATION_COLUMNS = (
    "evaluation",
    "kind",
    "due_on",
    "state",
    "snoozes",
    "snoozed_until",
    "on_mdo_agenda",
    "outcome",
    "continue_until",
    "next_on",
    "done_by",
    "done_on",
)


async def trajectory_records(
    store: Store, today: date, team: str | None = None
) -> list[dict[str, Any]]:
    """Every trajectory (of `team`, by id, channel or name, if given) with its evaluations
    (open and done; dropped ones were never due and are left out)."""
    evaluations = EvaluationStore(store)
    teams = await store.teams(by_name=True)
    if team is not None:
        teams = [t for t in teams if team in (t.id, t.channel, t.name)]
    out: list[dict[str, Any]] = []
    for row in teams:
        base = Policy.from_json(await evaluations.team_policy(row.id))
        for trajectory in await evaluations.trajectories(row.id, status=None):
            policy = Policy.from_json(trajectory.policy, base)
            history = []
            for ev in await evaluations.evaluations(trajectory_id=trajectory.id):
                if ev.status == "dropped":
                    continue
                history.append(
                    {
                        "evaluation": ev.id,
                        "kind": ev.kind,
                        "due_on": _iso(ev.due_on),
                        "state": state_of(lifecycle(ev), policy, today).value,
                        "snoozes": ev.snoozes,
                        "snoozed_until": _iso(ev.snoozed_until),
                        "on_mdo_agenda": _iso(ev.on_mdo_agenda),
                        "outcome": ev.outcome or None,
                        "continue_until": _iso(ev.continue_until),
                        "next_on": _iso(ev.next_on),
                        "done_by": ev.done_by,
                        "done_on": _iso(ev.done_at.date()) if ev.done_at else None,
                    }
                )
            out.append(
                {
                    "team": row.name or row.channel,
                    "trajectory": trajectory.id,
                    "client_ref": trajectory.client_ref,
                    "owner": trajectory.owner,
                    "started_on": _iso(trajectory.started_on),
                    "status": trajectory.status,
                    "sessions": trajectory.sessions,
                    "evaluations": history,
                }
            )
    return out


def render(records: list[dict[str, Any]], fmt: str) -> str:
    """JSON: one object per trajectory with its evaluations. CSV: one line per evaluation
    (a trajectory without any gets one line with the evaluation columns empty)."""
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown format '{fmt}'; use csv or json")
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=[*TRAJECTORY_COLUMNS, *EVALUATION_COLUMNS], lineterminator="\n"
    )
    writer.writeheader()
    for record in records:
        head = {k: record[k] for k in TRAJECTORY_COLUMNS}
        for ev in record["evaluations"] or [{}]:
            writer.writerow({**head, **{k: ev.get(k) for k in EVALUATION_COLUMNS}})
    return buffer.getvalue()


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
