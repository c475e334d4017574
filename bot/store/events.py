"""The events repository: registered visits, MDOs and meetings that flows hang on.

An event's label never holds a client's name. The flows an event starts wait as timers
without a run, named `start:<flow>:<event id>:...`; moving or cancelling the event finds
them by that name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from bot.store.database import Repository, new_id, rowcount
from bot.store.tables import EventRow, TimerRow


class EventRepository(Repository):
    """Planned visits, MDOs and meetings."""

    async def add_event(
        self,
        team_id: str,
        kind: str,
        at: datetime,
        *,
        label: str = "",
        created_by: str | None = None,
        participants: Sequence[str] = (),
        now: datetime,
    ) -> EventRow:
        """Register a visit, MDO or meeting. `label` must never hold a client's name;
        `participants` (member ids) take part in the flows it starts."""
        event = EventRow(
            id=new_id(),
            team_id=team_id,
            kind=kind,
            at=at,
            label=label,
            created_by=created_by,
            created_at=now,
            participants=" ".join(participants),
        )
        async with self.db.writing() as s:
            s.add(event)
        return event

    async def get_event(self, event_id: str) -> EventRow | None:
        async with self.db.reading() as s:
            return await s.get(EventRow, event_id)

    async def event_start_timers(self, event_id: str) -> list[TimerRow]:
        """The pending timers that will start a flow for this event (`start:<flow>:<id>:...`),
        soonest first."""
        async with self.db.reading() as s:
            rows = await s.scalars(
                select(TimerRow)
                .where(
                    TimerRow.run_id.is_(None),
                    TimerRow.status == "pending",
                    TimerRow.timer.like(f"start:%:{event_id}:%"),
                )
                .order_by(TimerRow.due_at, TimerRow.id)
            )
            return list(rows)

    async def move_event(self, event_id: str, at: datetime) -> EventRow | None:
        """Give an event a new moment; None when there is no such event. The caller moves
        its start timers (their offsets depend on the flows)."""
        async with self.db.writing() as s:
            event = await s.get(EventRow, event_id)
            if event is None:
                return None
            event.at = at
            return event

    async def cancel_event(self, event_id: str, now: datetime) -> int:
        """Remove an event and cancel the flows it would still start, in one transaction;
        returns how many starts were cancelled (-1 when there is no such event)."""
        async with self.db.writing() as s:
            event = await s.get(EventRow, event_id)
            if event is None:
                return -1
            result = await s.execute(
                update(TimerRow)
                .where(
                    TimerRow.run_id.is_(None),
                    TimerRow.status == "pending",
                    TimerRow.timer.like(f"start:%:{event_id}:%"),
                )
                .values(status="cancelled", handled_at=now)
                .execution_options(synchronize_session=False)
            )
            await s.delete(event)
            return rowcount(result)

    async def events(self, team_id: str, *, after: datetime | None = None) -> list[EventRow]:
        """The team's events in time order; with `after`, only those later than it."""
        query = select(EventRow).where(EventRow.team_id == team_id)
        if after is not None:
            query = query.where(EventRow.at > after)
        async with self.db.reading() as s:
            return list(await s.scalars(query.order_by(EventRow.at, EventRow.id)))
