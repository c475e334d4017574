"""Retention for every free text (R-PRV-4): a closed trajectory goes two years after it
closed, with its evaluation texts (the course, snooze reasons) and its moments' timers;
in an open one the texts of moments done two years ago are blanked; and a run that is
still going loses the answers past its flow's retention from its state and from the
forms and summaries it delivered."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.store import privacy
from bot.store.repo import StepWrite, Store
from bot.store.tables import EvaluationRow, OutboxRow, TimerRow, TrajectoryRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COURSE = "Koers-Noorderlicht"
REASON = "Uitstel-Poollicht"
OLD = "Antwoord-Oud-Zeewier"
NEW = "Antwoord-Nieuw-Zeegras"


async def _moment(store: Store, team: str, ref: str, status: str, done: datetime) -> str:
    trajectory = await store.add_trajectory(team, ref, "bram", date(2023, 1, 5), now=done)
    assert trajectory is not None
    async with store.sessionmaker() as s, s.begin():
        s.add(
            EvaluationRow(
                id=f"ev-{ref}",
                trajectory_id=trajectory.id,
                team_id=team,
                kind="plan_review",
                due_on=done.date(),
                status="done",
                done_by="bram",
                done_at=done,
                course=COURSE,
                snooze_reason=REASON,
                history=[],
                created_at=done,
            )
        )
        row = await s.get(TrajectoryRow, trajectory.id)
        assert row is not None
        row.status = status
    await store.commit_messages(
        timers_new=[
            {
                "timer": f"evaluation:ev-{ref}:due",
                "kind": "evaluation",
                "due_at": NOW + timedelta(days=3),
                "idempotency_key": f"ev-{ref}",
            }
        ],
        now=NOW,
    )
    return trajectory.id


async def test_evaluation_texts_and_closed_trajectories_have_a_term(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        team = (await store.team_for_channel("console", "t", now=NOW)).id
        long_ago = NOW - timedelta(days=800)
        gone = await _moment(store, team, "K-1", "closed", long_ago)
        recent = await _moment(store, team, "K-2", "closed", NOW - timedelta(days=100))
        still_open = await _moment(store, team, "K-3", "open", long_ago)
        result = await privacy.purge(store, {}, now=NOW)
        assert result.counts["trajectories"] == 1 and result.counts["evaluation_texts"] == 1
        async with store.sessionmaker() as s, s.begin():
            left = {t.id for t in await s.scalars(select(TrajectoryRow))}
            moments = {e.trajectory_id: e for e in await s.scalars(select(EvaluationRow))}
            timers = {t.timer for t in await s.scalars(select(TimerRow))}
        assert left == {recent, still_open}
        assert moments[recent].course == COURSE  # within its term
        assert (moments[still_open].course, moments[still_open].snooze_reason) == ("", "")
        assert "evaluation:ev-K-1:due" not in timers and "evaluation:ev-K-2:due" in timers
        assert gone not in moments
    finally:
        await store.close()


async def test_a_running_run_loses_answers_past_its_retention(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        team = (await store.team_for_channel("console", "t", now=NOW)).id
        then = NOW - timedelta(days=120)
        answer = {"kind": "value", "answered_at": then.isoformat()}
        await store.commit_step(
            StepWrite(
                run_id="lang",
                expected_version=None,
                run={
                    "team_id": team,
                    "flow_id": "weg",  # a flow that is gone: 90 days
                    "status": "active",
                    "state": {
                        "answers": {
                            "s": {
                                "q": {
                                    "anna": {**answer, "value": OLD},
                                    "bram": {
                                        "kind": "value",
                                        "value": NEW,
                                        "answered_at": NOW.isoformat(),
                                    },
                                }
                            }
                        }
                    },
                },
                outbox=[
                    {
                        "platform": "console",
                        "destination": "t",
                        "kind": "summary",
                        "message": {"kind": "summary", "text": f"• {OLD}"},
                        "idempotency_key": "lang:summary",
                    },
                    {
                        "platform": "console",
                        "destination": "dm:anna",
                        "kind": "form",
                        "message": {"kind": "form", "questions": [{"id": "q", "current": OLD}]},
                        "idempotency_key": "lang:form:anna",
                    },
                ],
                now=then,
            )
        )
        sent = await store.outbox_due(NOW)
        await store.outbox_sent_many([(m.id, then, f"m{m.id}") for m in sent])
        result = await privacy.purge(store, {}, now=NOW)
        assert result.counts["answers_in_runs"] == 1
        run = await store.load_run("lang")
        assert run is not None
        assert set(run.state["answers"]["s"]["q"]) == {"bram"}
        async with store.sessionmaker() as s, s.begin():
            messages = [(r.message, r.platform_ref) for r in await s.scalars(select(OutboxRow))]
        assert all(OLD not in str(m) for m, _ in messages)
        assert all(ref for _, ref in messages)  # kept for later edits
    finally:
        await store.close()
