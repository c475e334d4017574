"""The timers repository: every nudge and bell, the source of truth for time (R-SCH).

Timers change state by compare-and-set (`WHERE status = 'pending'`), so two sweeps or
two processes never both hand one over (R-SCH-3, -6). New timers are inserted with
`insert_timers` inside the transaction of the step or command that sets them; a known
idempotency key is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.database import Database, Repository, count_in, rowcount, short
from bot.store.inbox import TIMER_PLATFORM, new_event, put_events
from bot.store.tables import TimerRow

TIMER_OUTCOMES = ("sent", "skipped", "failed")


@dataclass(frozen=True)
class HandOver:
    """A due timer the scheduler hands to the inbox (`Store.hand_over`): claimed as
    `status` ("sent" or "skipped") with `note`, its inbox event `payload` stored under
    the key `timer:<timer_row>`."""

    timer_row: int
    status: str
    payload: Mapping[str, Any]
    note: str = ""


class TimerRepository(Repository):
    """Timers: arming reads, the hand-over of due ones, moves and cancellations."""

    async def pending_timers(
        self,
        *,
        due_before: datetime | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[TimerRow]:
        """Pending timers, soonest first; with `due_before`, only those due at or before it;
        with `after_id`, only rows inserted after that one."""
        query = (
            select(TimerRow)
            .where(*_pending(due_before, after_id))
            .order_by(TimerRow.due_at, TimerRow.id)
            .limit(limit)
        )
        async with self.db.reading() as s:
            return list(await s.scalars(query))

    async def pending_due(
        self, *, due_before: datetime, after_id: int | None = None
    ) -> list[tuple[int, datetime]]:
        """(id, due time) of the pending timers due at or before `due_before`; with
        `after_id`, only rows inserted after that one. What arming needs and no more: a
        full arming reads every timer of the coming minutes, a thousand in a busy hour."""
        query = (
            select(TimerRow.id, TimerRow.due_at)
            .where(*_pending(due_before, after_id))
            .order_by(TimerRow.due_at, TimerRow.id)
        )
        async with self.db.reading() as s:
            return [(id, due_at) for id, due_at in await s.execute(query)]

    async def get_timer(self, id: int) -> TimerRow | None:
        async with self.db.reading() as s:
            return await s.get(TimerRow, id)

    async def hand_over(self, timers: Sequence[HandOver], now: datetime) -> set[int]:
        """Claim due timers and put their inbox events, in ONE transaction; return the ids
        claimed. A timer no longer pending (handed over by another sweep or process, or
        cancelled) is not claimed and gets no inbox event; a crash writes nothing, so the
        next sweep simply tries again (R-SCH-1, -6, -7). One statement per outcome and
        one insert for all the events: a burst of due timers costs a few round trips."""
        for item in timers:
            if item.status not in TIMER_OUTCOMES:
                raise ValueError(
                    f"a timer is claimed as one of {', '.join(TIMER_OUTCOMES)}, not {item.status!r}"
                )
        if not timers:
            return set()
        by_outcome: dict[tuple[str, str], list[int]] = {}
        for item in timers:
            by_outcome.setdefault((item.status, short(item.note)), []).append(item.timer_row)
        claimed: set[int] = set()
        async with self.db.writing() as s:
            for (status, note), ids in by_outcome.items():
                result = await s.execute(
                    update(TimerRow)
                    .where(TimerRow.id.in_(ids), TimerRow.status == "pending")
                    .values(
                        status=status, handled_at=now, note=note, attempts=TimerRow.attempts + 1
                    )
                    .returning(TimerRow.id)
                    .execution_options(synchronize_session=False)
                )
                claimed.update(result.scalars())
            events = [
                new_event(TIMER_PLATFORM, f"timer:{item.timer_row}", item.payload, now)
                for item in timers
                if item.timer_row in claimed
            ]
            if events:
                await put_events(self.db, s, events)
        return claimed

    async def reschedule_timer(self, id: int, due_at: datetime, note: str = "") -> bool:
        """Move a pending timer to `due_at` (catch-up: shifted out of quiet hours). False
        when it is no longer pending."""
        async with self.db.writing() as s:
            result = await s.execute(
                update(TimerRow)
                .where(TimerRow.id == id, TimerRow.status == "pending")
                .values(due_at=due_at, note=short(note))
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1

    async def cancel_run_timers(self, run_id: str, now: datetime) -> int:
        """Cancel every pending timer of a run in one transaction (R-SCH-9); returns how many."""
        async with self.db.writing() as s:
            result = await s.execute(
                update(TimerRow)
                .where(TimerRow.run_id == run_id, TimerRow.status == "pending")
                .values(status="cancelled", handled_at=now)
                .execution_options(synchronize_session=False)
            )
            return rowcount(result)

    async def next_due(self) -> datetime | None:
        """When the soonest pending timer is due."""
        async with self.db.reading() as s:
            return await s.scalar(
                select(func.min(TimerRow.due_at)).where(TimerRow.status == "pending")
            )

    async def oldest_overdue(self, now: datetime) -> datetime | None:
        """The due time of the oldest pending timer that is past due at `now`."""
        async with self.db.reading() as s:
            return await s.scalar(
                select(func.min(TimerRow.due_at)).where(
                    TimerRow.status == "pending", TimerRow.due_at < now
                )
            )

    async def count_timers(self, status: str) -> int:
        async with self.db.reading() as s:
            return await count_in(s, TimerRow, TimerRow.status == status)

    async def pending_timers_of_kind(self, kind: str, *, limit: int = 1000) -> list[TimerRow]:
        """Pending timers of one kind ("evaluation", ...), soonest first."""
        query = (
            select(TimerRow)
            .where(TimerRow.status == "pending", TimerRow.kind == kind)
            .order_by(TimerRow.due_at, TimerRow.id)
            .limit(limit)
        )
        async with self.db.reading() as s:
            return list(await s.scalars(query))


async def insert_timers(db: Database, s: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert timer rows (`database.full_row`) in `s`'s transaction; one whose
    idempotency key is known is skipped."""
    if rows:
        await s.execute(
            db.insert(TimerRow).on_conflict_do_nothing(index_elements=["idempotency_key"]), rows
        )


def _pending(due_before: datetime | None, after_id: int | None) -> list[Any]:
    """Pending timers, due at or before `due_before` and inserted after `after_id`."""
    where: list[Any] = [TimerRow.status == "pending"]
    if due_before is not None:
        where.append(TimerRow.due_at <= due_before)
    if after_id is not None:
        where.append(TimerRow.id > after_id)
    return where
