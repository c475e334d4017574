"""The inbox repository: inbound events, stored before they are acknowledged (R-ING).

An event is unique per platform and event key, so retries and duplicates are absorbed by
the insert (ON CONFLICT DO NOTHING), never by reading first. Other repositories mark the
rows a transaction answered with `mark_handled`, and the timers' hand-over puts its
events with `put_events`, in their own transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.database import Database, Repository, rowcount, short
from bot.store.sealed import bind_row
from bot.store.tables import InboxRow

log = logging.getLogger(__name__)


# The platform under which the scheduler puts fired timers into the inbox.
TIMER_PLATFORM = "timer"


# The conversation of the timers of no run: evaluation nudges, planned starts, schedules,
# the retention purge (the runs' timers are the conversation `TIMER_PLATFORM`).
FEATURE_TIMERS = f"{TIMER_PLATFORM}:features"


def conversation_of(platform: str, payload: Mapping[str, Any]) -> str:
    """The conversation an inbound event belongs to: its platform and channel (a private
    chat is a channel of its own). The runs' timers are one conversation, the timers of
    no run another (`FEATURE_TIMERS`): nothing orders one against the other, and the
    second may be handled by any process, as a chat (bot/runtime/inbox.py)."""
    if platform == TIMER_PLATFORM:
        return TIMER_PLATFORM if payload.get("run_id") else FEATURE_TIMERS
    return f"{platform}:{payload.get('channel', '')}"


def run_of(platform: str, payload: Mapping[str, Any]) -> str | None:
    """The run an inbound event is for: a run's timer, or an answer that names its run."""
    if platform == TIMER_PLATFORM:
        run_id = payload.get("run_id")
    else:
        run_id = payload.get("run") if payload.get("kind") == "answer" else None
    return str(run_id) if run_id else None


@dataclass(frozen=True, slots=True)
class Waiting:
    """An unhandled inbox row as listed without its payload (`inbox_waiting`)."""

    id: int
    platform: str
    conversation: str
    received_at: datetime
    run_id: str | None


# The order in which unhandled events are listed: the runs' timers (bells) first, then
# the timers of no run, then the chats; each oldest first. A backlog of evaluation nudges
# (which other processes take first, as chats) never keeps a bell out of the listing.
_TIMERS_FIRST = case(
    (InboxRow.conversation == TIMER_PLATFORM, 0),
    (InboxRow.platform == TIMER_PLATFORM, 1),  # also a timer stored before 0011
    else_=2,
)

# The columns of a `Waiting`, in its order.
_WAITING = (
    InboxRow.id,
    InboxRow.platform,
    InboxRow.conversation,
    InboxRow.received_at,
    InboxRow.run_id,
)


class InboxRepository(Repository):
    """Inbound events of every platform, and of timers that fell due."""

    async def inbox_put(
        self, platform: str, event_key: str, payload: dict[str, Any], now: datetime
    ) -> int | None:
        """Store an inbound event before it is acknowledged (R-ING-3). Returns its id, or
        None when this platform event was stored before: a duplicate, to be dropped."""
        (inbox_id,) = await self.inbox_put_many([(platform, event_key, payload)], now)
        return inbox_id

    async def inbox_put_many(
        self, events: Sequence[tuple[str, str, dict[str, Any]]], now: datetime
    ) -> list[int | None]:
        """`inbox_put` for a burst of (platform, event key, payload), in one statement and
        one transaction: an id per event, None for a duplicate (of an event stored before
        or of one earlier in `events`)."""
        first: dict[tuple[str, str], int] = {}
        for n, (platform, key, _) in enumerate(events):
            first.setdefault((platform, key), n)
        if not first:
            return []
        async with self.db.writing() as s:
            result = await put_events(
                self.db, s, [new_event(*events[n], now) for n in first.values()]
            )
            stored = {(platform, key): id for id, platform, key in result}
        return [
            stored.get((platform, key)) if first[(platform, key)] == n else None
            for n, (platform, key, _) in enumerate(events)
        ]

    async def inbox_pending(self, limit: int = 100) -> list[InboxRow]:
        """Events not yet handled: the runs' timers first, then the timers of no run, then
        the rest, each oldest first (`_TIMERS_FIRST`). A bell must not wait behind a
        backlog of answers or of evaluation nudges (P7 in docs/performance.md); within a
        conversation the order is the order of arrival."""
        query = (
            select(InboxRow)
            .where(InboxRow.status == "new")
            .order_by(_TIMERS_FIRST, InboxRow.id)
            .limit(limit)
        )
        async with self.db.reading() as s:
            return list(await s.scalars(query))

    async def inbox_waiting(self, limit: int = 100) -> list[Waiting]:
        """`inbox_pending` without the payloads (in the same order): enough to choose the
        conversations to handle, whose rows `inbox_new_among` then reads in full. Rows
        stored before their routing had columns (0011) are read from their payload."""
        query = (
            select(*_WAITING)
            .where(InboxRow.status == "new")
            .order_by(_TIMERS_FIRST, InboxRow.id)
            .limit(limit)
        )
        routes: dict[int, tuple[str, str | None]] = {}
        async with self.db.reading() as s:
            found = (await s.execute(query)).all()
            unrouted = [id for id, _, conversation, _, _ in found if conversation is None]
            if unrouted:
                rows = await s.scalars(select(InboxRow).where(InboxRow.id.in_(unrouted)))
                routes = {
                    r.id: (conversation_of(r.platform, r.payload), run_of(r.platform, r.payload))
                    for r in rows
                }
        waiting = []
        for id, platform, conversation, at, run_id in found:
            if conversation is None:
                conversation, run_id = routes[id]
            waiting.append(Waiting(id, platform, conversation, at, run_id))
        return waiting

    async def inbox_answers_waiting(self, run_ids: Iterable[str]) -> list[Waiting]:
        """The answers to `run_ids` still unhandled, oldest first, listed without their
        payloads (a run's timer waits for the answers given before it fell due)."""
        wanted = sorted(set(run_ids))
        if not wanted:
            return []
        query = (
            select(*_WAITING)
            .where(
                InboxRow.status == "new",
                InboxRow.platform != TIMER_PLATFORM,
                InboxRow.run_id.in_(wanted),
            )
            .order_by(InboxRow.id)
        )
        async with self.db.reading() as s:
            found = (await s.execute(query)).all()
        return [Waiting(*row) for row in found if row.conversation is not None]

    async def inbox_new_in(self, conversations: Iterable[str], up_to: int) -> list[InboxRow]:
        """The unhandled events of `conversations` up to the event `up_to`, oldest first:
        what stands before an answer a run's timer waits for, however long the inbox."""
        wanted = sorted(set(conversations))
        if not wanted:
            return []
        query = (
            select(InboxRow)
            .where(
                InboxRow.status == "new",
                InboxRow.conversation.in_(wanted),
                InboxRow.id <= up_to,
            )
            .order_by(InboxRow.id)
        )
        async with self.db.reading() as s:
            return list(await s.scalars(query))

    async def inbox_new_among(self, ids: Sequence[int]) -> list[InboxRow]:
        """Those of the events `ids` still unhandled, read anew, oldest first: what is left
        of a batch once this process holds its conversations (another may have handled
        some of them in between)."""
        if not ids:
            return []
        query = (
            select(InboxRow)
            .where(InboxRow.id.in_(list(ids)), InboxRow.status == "new")
            .order_by(InboxRow.id)
        )
        async with self.db.reading() as s:
            return list(await s.scalars(query))

    async def inbox_done(self, id: int, now: datetime, error: str = "") -> None:
        """Mark an event handled: done, or failed with a short reason (no message text).
        What it carried besides its routing is scrubbed (`handled_payload`)."""
        async with self.db.writing() as s:
            await _scrub(s, [id])
            await s.execute(
                update(InboxRow)
                .where(InboxRow.id == id)
                .values(status="failed" if error else "done", handled_at=now, error=short(error))
                .execution_options(synchronize_session=False)
            )

    async def inbox_set_payload(self, id: int, payload: Mapping[str, Any]) -> None:
        """Replace an event's payload (the answer guard blanks a text it held back)."""
        async with self.db.writing() as s:
            row = await s.get(InboxRow, id)
            if row is not None:
                row.payload = dict(payload)  # bound to its row by the flush

    async def purge_inbox(self, older_than: datetime) -> int:
        """Delete handled (done or failed) events received before `older_than`; returns
        how many. Unhandled events are kept whatever their age: deleting them loses work."""
        async with self.db.writing() as s:
            result = await s.execute(
                delete(InboxRow)
                .where(InboxRow.received_at < older_than, InboxRow.status != "new")
                .execution_options(synchronize_session=False)
            )
            count = rowcount(result)
        log.info("purged %d inbox rows received before %s", count, older_than.isoformat())
        return count


async def put_events(db: Database, s: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> Any:
    """Insert new inbox rows (`new_event`) in `s`'s transaction, skipping known
    (platform, event key): the rows stored, as (id, platform, event key)."""
    return await s.execute(
        db.insert(InboxRow)
        .on_conflict_do_nothing(index_elements=["platform", "event_key"])
        .returning(InboxRow.id, InboxRow.platform, InboxRow.event_key),
        [bind_row(InboxRow, row, insert=True) for row in rows],
    )


# What a handled event keeps: its routing, for the duplicate filter's week, for an export
# of whose events these were and for `forget`. The answer, the typed words, display names
# and group titles go once the event is handled (the answer is in `answers` by then, the
# only place it is kept; an anonymous answer then no longer sits beside its person).
ROUTING_KEYS = frozenset(
    {"kind", "channel", "user", "run", "step", "question", "answer_kind", "command"}
    | {"to", "timer", "run_id", "catch_up", "timer_row"}
)


def handled_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """An inbox payload as it is kept once handled: routing only, no free text."""
    if not isinstance(payload, Mapping):
        return {}
    return {k: v for k, v in payload.items() if k in ROUTING_KEYS and not isinstance(v, list)}


async def _scrub(s: AsyncSession, inbox_ids: Sequence[int]) -> None:
    columns = (InboxRow.id, InboxRow.platform, InboxRow.event_key, InboxRow.payload)
    # A timer's event carries routing only (`ROUTING_KEYS`): nothing to scrub.
    query = select(*columns).where(InboxRow.id.in_(inbox_ids), InboxRow.platform != TIMER_PLATFORM)
    rows = (await s.execute(query)).all()
    changed = [
        bind_row(
            InboxRow,
            {"id": i, "payload": handled_payload(v)},
            identity={"platform": p, "event_key": k},
        )
        for i, p, k, v in rows
        if handled_payload(v) != v
    ]
    if changed:
        await s.execute(update(InboxRow).execution_options(synchronize_session=False), changed)


async def mark_handled(s: AsyncSession, inbox_ids: Sequence[int], now: datetime) -> None:
    """The inbox rows a transaction answered: done, and scrubbed (`handled_payload`)."""
    if inbox_ids:
        await _scrub(s, list(inbox_ids))
        await s.execute(
            update(InboxRow)
            .where(InboxRow.id.in_(list(inbox_ids)))
            .values(status="done", handled_at=now, error="")
            .execution_options(synchronize_session=False)
        )


def new_event(platform: str, key: str, payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An inbox row as it is first stored: new, unhandled."""
    return {
        "platform": platform,
        "event_key": key,
        "payload": dict(payload),
        "status": "new",
        "received_at": now,
        "error": "",
        "conversation": conversation_of(platform, payload),
        "run_id": run_of(platform, payload),
    }
