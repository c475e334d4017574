"""The evaluation store's contract, on SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.store.evaluations import EvaluationChanged, EvaluationStore, EvaluationWrite
from bot.store.repo import Store

NOW = datetime(2026, 5, 25, 8, 0, tzinfo=UTC)


async def setup(store: Store) -> tuple[EvaluationStore, str, str]:
    team = await store.team_for_channel("slack", "C1", name="Team", now=NOW)
    trajectory = await store.add_trajectory(team.id, "T-0412", "anna", date(2025, 11, 24), now=NOW)
    assert trajectory is not None
    return EvaluationStore(store), team.id, trajectory.id


def timer(evaluation_id: str, what: str, due: datetime) -> dict[str, object]:
    return {
        "timer": f"evaluation:{evaluation_id}:{what}",
        "kind": "evaluation",
        "due_at": due,
        "idempotency_key": f"evaluation:{evaluation_id}:{what}:{due.isoformat()}",
    }


async def test_a_plan_is_written_with_its_timers_and_read_back_in_due_order(store: Store) -> None:
    evaluations, team_id, trajectory_id = await setup(store)
    await evaluations.write(
        EvaluationWrite(
            now=NOW,
            by="anna",
            add=[
                {
                    "trajectory_id": trajectory_id,
                    "team_id": team_id,
                    "kind": "continuation",
                    "due_on": date(2026, 11, 24),
                },
                {
                    "trajectory_id": trajectory_id,
                    "team_id": team_id,
                    "kind": "plan_review",
                    "due_on": date(2026, 5, 24),
                },
            ],
        )
    )
    rows = await evaluations.evaluations(trajectory_id=trajectory_id)
    assert [(r.kind, r.due_on, r.status) for r in rows] == [
        ("plan_review", date(2026, 5, 24), "open"),
        ("continuation", date(2026, 11, 24), "open"),
    ]
    assert rows[0].history[0]["what"] == "planned" and rows[0].history[0]["by"] == "anna"
    due = await evaluations.evaluations(team_id=team_id, status="open", due_by=date(2026, 6, 1))
    assert [r.id for r in due] == [rows[0].id]
    first = rows[0].id
    await evaluations.write(
        EvaluationWrite(now=NOW, timers_new=[timer(first, "due", NOW + timedelta(days=1))])
    )
    assert [t.timer for t in await evaluations.pending_timers_of(first)] == [
        f"evaluation:{first}:due"
    ]


async def test_done_is_compare_and_set_and_dropping_cancels_timers(store: Store) -> None:
    evaluations, team_id, trajectory_id = await setup(store)
    base = {"trajectory_id": trajectory_id, "team_id": team_id, "kind": "periodic"}
    await evaluations.write(
        EvaluationWrite(
            now=NOW,
            add=[{**base, "due_on": date(2026, 5, 24)}, {**base, "due_on": date(2026, 11, 24)}],
        )
    )
    one, two = await evaluations.evaluations(trajectory_id=trajectory_id)
    await evaluations.write(
        EvaluationWrite(
            now=NOW,
            timers_new=[timer(two.id, "due", NOW + timedelta(days=180))],
        )
    )
    done = {
        "status": "done",
        "outcome": "continue",
        "course": "zo door",
        "done_by": "anna",
        "done_at": NOW,
        "next_on": date(2026, 9, 1),
    }
    await evaluations.write(
        EvaluationWrite(
            now=NOW, by="anna", update={one.id: done}, events={one.id: "done"}, drop=[two.id]
        )
    )
    with pytest.raises(EvaluationChanged):
        await evaluations.write(EvaluationWrite(now=NOW, update={one.id: done}))
    one_after, two_after = await evaluations.get(one.id), await evaluations.get(two.id)
    assert one_after is not None and one_after.status == "done"
    assert one_after.next_on == date(2026, 9, 1)
    assert [h["what"] for h in one_after.history] == ["planned", "done"]
    assert two_after is not None and two_after.status == "dropped"
    assert await evaluations.pending_timers_of(two.id) == []


async def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:
    evaluations, team_id, trajectory_id = await setup(store)
    with pytest.raises(EvaluationChanged):
        await evaluations.write(
            EvaluationWrite(
                now=NOW,
                trajectory_id=trajectory_id,
                trajectory={"started_on": date(2020, 1, 1)},
                add=[
                    {
                        "trajectory_id": trajectory_id,
                        "team_id": team_id,
                        "kind": "agreed",
                        "due_on": date(2026, 9, 1),
                    }
                ],
                update={"missing": {"status": "done"}},
            )
        )
    assert await evaluations.evaluations(trajectory_id=trajectory_id) == []
    row = await store.get_trajectory(trajectory_id)
    assert row is not None and row.started_on == date(2025, 11, 24)


async def test_trajectories_sessions_and_team_policies(store: Store) -> None:
    evaluations, team_id, trajectory_id = await setup(store)
    assert (await evaluations.find_trajectory(team_id, "t-0412")).id == trajectory_id  # type: ignore[union-attr]
    assert await evaluations.find_trajectory(team_id, "T-9") is None
    assert [await evaluations.log_session(trajectory_id) for _ in range(3)] == [1, 2, 3]
    await evaluations.write(
        EvaluationWrite(now=NOW, trajectory_id=trajectory_id, trajectory={"status": "closed"})
    )
    assert await evaluations.trajectories(team_id) == []
    assert [t.status for t in await evaluations.trajectories(team_id, None)] == ["closed"]
    assert await evaluations.team_policy(team_id) == {}
    await evaluations.set_team_policy(team_id, {"every_months": 4}, NOW)
    await evaluations.set_team_policy(team_id, {"every_months": 3}, NOW)
    assert await evaluations.team_policy(team_id) == {"every_months": 3}
