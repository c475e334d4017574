"""The trajectories repository: trajectories, their evaluations, teams' cadences (issue #7).

Two doors on the same tables. `TrajectoryRepository` holds what the rest of the shell asks of
them (register one, the open ones of an owner) and is part of `Store`. `EvaluationStore`
is the evaluation desk's own repository, made from the store (`EvaluationStore(store)`):
its method names (`get`, `write`, ...) are the desk's, too general for the facade.

Same rules as the whole store: one method, one short transaction; everything a chat
command changes — the trajectory, its evaluations, their timers, the reply and the inbox
row it answers — is written by `write` in ONE transaction, or not at all. An evaluation
that is changed must still be open (compare-and-set), so a double click never marks one
done twice. Nothing here logs text; only ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update

from bot.core.timer_names import EvaluationTimer
from bot.store.database import Repository, full_row
from bot.store.database import new_id as new_id  # the desk makes evaluations' ids with it
from bot.store.inbox import mark_handled
from bot.store.outbox import insert_messages
from bot.store.tables import EvaluationRow, OutboxRow, TeamCadenceRow, TimerRow, TrajectoryRow
from bot.store.timers import insert_timers

TRAJECTORY_FIELDS = ("owner", "started_on", "status", "policy")


class EvaluationChanged(Exception):
    """The evaluation is no longer open (done or dropped meanwhile); nothing was written."""

    def __init__(self, evaluation_id: str) -> None:
        super().__init__(f"evaluation {evaluation_id} is no longer open; reload it")
        self.evaluation_id = evaluation_id


@dataclass(frozen=True, kw_only=True)
class EvaluationWrite:
    """Everything one command or timer changes, applied by `EvaluationStore.write`.

    `update` maps an OPEN evaluation's id to the fields to set (raises EvaluationChanged
    when it is not open any more); `events` adds one history entry per id; `drop` marks
    open evaluations dropped (a replan) and cancels their timers; `cancel_timers_of`
    cancels the pending timers of these evaluations (before `timers_new` is inserted)."""

    now: datetime
    trajectory_id: str | None = None
    trajectory: Mapping[str, Any] = field(default_factory=dict)
    add: Sequence[Mapping[str, Any]] = ()
    update: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    events: Mapping[str, str] = field(default_factory=dict)
    by: str | None = None
    drop: Sequence[str] = ()
    cancel_timers_of: Sequence[str] = ()
    timers_new: Sequence[Mapping[str, Any]] = ()
    outbox: Sequence[Mapping[str, Any]] = ()
    inbox_id: int | None = None


def timer_prefix(evaluation_id: str) -> str:
    return EvaluationTimer.prefix(evaluation_id)


class TrajectoryRepository(Repository):
    """Trajectories as the shell sees them (the desk has `EvaluationStore`)."""

    async def add_trajectory(
        self, team_id: str, client_ref: str, owner: str, started_on: date, *, now: datetime
    ) -> TrajectoryRow | None:
        """Register a treatment under a pseudonym; None when the team already has that
        reference (a second registration must not silently replace the first)."""
        trajectory_id = new_id()
        async with self.db.writing() as s:
            await s.execute(
                self.db.insert(TrajectoryRow)
                .values(
                    id=trajectory_id,
                    team_id=team_id,
                    client_ref=client_ref,
                    owner=owner,
                    started_on=started_on,
                    status="open",
                    policy={},
                    sessions=0,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["team_id", "client_ref"])
            )
        return await self.get_trajectory(trajectory_id)

    async def get_trajectory(self, trajectory_id: str) -> TrajectoryRow | None:
        async with self.db.reading() as s:
            return await s.get(TrajectoryRow, trajectory_id)

    async def open_trajectories(self, team_id: str, owner: str) -> list[TrajectoryRow]:
        """The team's open trajectories `owner` registered, by their reference."""
        query = (
            select(TrajectoryRow)
            .where(
                TrajectoryRow.team_id == team_id,
                TrajectoryRow.owner == owner,
                TrajectoryRow.status == "open",
            )
            .order_by(TrajectoryRow.client_ref)
        )
        async with self.db.reading() as s:
            return list(await s.scalars(query))


class EvaluationStore(Repository):
    """The evaluation desk's reads and writes, on the database of `store` (the `Store`)."""

    def __init__(self, store: Repository) -> None:
        super().__init__(store.db)

    # ------------------------------------------------------------------ policies

    async def team_policy(self, team_id: str) -> dict[str, Any]:
        async with self.db.reading() as s:
            row = await s.get(TeamCadenceRow, team_id)
            return dict(row.policy) if row is not None else {}

    async def set_team_policy(self, team_id: str, policy: Mapping[str, Any], now: datetime) -> None:
        stmt = (
            self.db.insert(TeamCadenceRow)
            .values(team_id=team_id, policy=dict(policy), updated_at=now)
            .on_conflict_do_update(
                index_elements=["team_id"], set_={"policy": dict(policy), "updated_at": now}
            )
        )
        async with self.db.writing() as s:
            await s.execute(stmt)

    # ------------------------------------------------------------------ trajectories

    async def find_trajectory(self, team_id: str, client_ref: str) -> TrajectoryRow | None:
        """A team's trajectory by its reference (case-insensitive)."""
        async with self.db.reading() as s:
            rows = await s.scalars(select(TrajectoryRow).where(TrajectoryRow.team_id == team_id))
            for row in rows:
                if row.client_ref.lower() == client_ref.lower():
                    return row
            return None

    async def trajectories(self, team_id: str, status: str | None = "open") -> list[TrajectoryRow]:
        stmt = select(TrajectoryRow).where(TrajectoryRow.team_id == team_id)
        if status is not None:
            stmt = stmt.where(TrajectoryRow.status == status)
        async with self.db.reading() as s:
            return list(await s.scalars(stmt.order_by(TrajectoryRow.client_ref)))

    async def log_session(self, trajectory_id: str) -> int:
        """Count one more session, atomically; the new count."""
        async with self.db.writing() as s:
            await s.execute(
                update(TrajectoryRow)
                .where(TrajectoryRow.id == trajectory_id)
                .values(sessions=TrajectoryRow.sessions + 1)
                .execution_options(synchronize_session=False)
            )
            count = await s.scalar(
                select(TrajectoryRow.sessions).where(TrajectoryRow.id == trajectory_id)
            )
            return int(count or 0)

    # ------------------------------------------------------------------ evaluations

    async def get(self, evaluation_id: str) -> EvaluationRow | None:
        async with self.db.reading() as s:
            return await s.get(EvaluationRow, evaluation_id)

    async def evaluations(
        self,
        *,
        trajectory_id: str | None = None,
        team_id: str | None = None,
        status: str | None = None,
        due_by: date | None = None,
    ) -> list[EvaluationRow]:
        """Evaluations in due order (then creation order), filtered as asked."""
        stmt = select(EvaluationRow)
        if trajectory_id is not None:
            stmt = stmt.where(EvaluationRow.trajectory_id == trajectory_id)
        if team_id is not None:
            stmt = stmt.where(EvaluationRow.team_id == team_id)
        if status is not None:
            stmt = stmt.where(EvaluationRow.status == status)
        if due_by is not None:
            stmt = stmt.where(EvaluationRow.due_on <= due_by)
        stmt = stmt.order_by(EvaluationRow.due_on, EvaluationRow.created_at, EvaluationRow.id)
        async with self.db.reading() as s:
            return list(await s.scalars(stmt))

    async def write(self, w: EvaluationWrite) -> None:
        """Apply everything in `w` in one transaction; EvaluationChanged rolls it all back."""
        now = w.now
        async with self.db.writing() as s:
            if w.trajectory_id is not None and w.trajectory:
                unknown = set(w.trajectory) - set(TRAJECTORY_FIELDS)
                if unknown:
                    raise ValueError(f"not trajectory fields: {', '.join(sorted(unknown))}")
                await s.execute(
                    update(TrajectoryRow)
                    .where(TrajectoryRow.id == w.trajectory_id)
                    .values(**w.trajectory)
                    .execution_options(synchronize_session=False)
                )
            for evaluation_id, values in w.update.items():
                row = await s.scalar(
                    select(EvaluationRow)
                    .where(EvaluationRow.id == evaluation_id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
                if row is None or row.status != "open":
                    raise EvaluationChanged(evaluation_id)
                for key, value in values.items():
                    setattr(row, key, value)
            for evaluation_id in w.drop:
                row = await s.get(EvaluationRow, evaluation_id)
                if row is not None and row.status == "open":
                    row.status = "dropped"
            touched = {*w.update, *w.drop}
            for evaluation_id in touched | set(w.events):
                row = await s.get(EvaluationRow, evaluation_id)
                what = w.events.get(evaluation_id, "dropped" if evaluation_id in w.drop else "")
                if row is not None and what:
                    entry = {"at": now.isoformat(), "what": what, "by": w.by}
                    row.history = [*row.history, entry]
            for values in w.add:
                s.add(
                    EvaluationRow(
                        **{
                            "id": new_id(),
                            "status": "open",
                            "snoozes": 0,
                            "snooze_reason": "",
                            "outcome": "",
                            "course": "",
                            "history": [{"at": now.isoformat(), "what": "planned", "by": w.by}],
                            "created_at": now,
                            **values,
                        }
                    )
                )
            await s.flush()
            for evaluation_id in {*w.cancel_timers_of, *w.drop}:
                await s.execute(
                    update(TimerRow)
                    .where(
                        TimerRow.run_id.is_(None),
                        TimerRow.timer.startswith(timer_prefix(evaluation_id)),
                        TimerRow.status == "pending",
                    )
                    .values(status="cancelled", handled_at=now)
                    .execution_options(synchronize_session=False)
                )
            await insert_timers(
                self.db, s, [full_row(TimerRow, t, {"run_id": None}) for t in w.timers_new]
            )
            await insert_messages(
                self.db,
                s,
                [
                    full_row(OutboxRow, o, {"run_id": None, "created_at": now, "not_before": now})
                    for o in w.outbox
                ],
            )
            await mark_handled(s, [w.inbox_id] if w.inbox_id is not None else [], now)

    async def pending_timers_of(self, evaluation_id: str) -> list[TimerRow]:
        async with self.db.reading() as s:
            return list(
                await s.scalars(
                    select(TimerRow)
                    .where(
                        TimerRow.timer.startswith(timer_prefix(evaluation_id)),
                        TimerRow.status == "pending",
                    )
                    .order_by(TimerRow.due_at)
                )
            )
