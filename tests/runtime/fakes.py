"""In-memory stand-ins for the Store and an adapter, for the outbox and scheduler tests.

`FakeStore` implements the Store methods the outbox and the scheduler use (their
`OutboxStore` and `TimerStore` protocols; it has no engine, so the scheduler's
lease is always held) with the Store's semantics: `outbox_due` by priority, then id;
state changes by compare-and-set from pending; a hand-over claims pending rows only and
puts one inbox event per (platform, key), all or nothing; reads are copies that do not
follow the stored row. tests/store/test_store_protocols.py keeps it honest: that one
contract runs over this fake and the Store on SQLite and on PostgreSQL, so a change to
either that the other does not make fails there. Every method yields to the event loop
once, so that concurrent callers interleave as they would against a database.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.core.effects import Message, MessageKind
from bot.core.hours import WorkingHours
from bot.runtime.clock import FakeClock
from bot.runtime.delivery import Delivery, DeliveryResult, Limits
from bot.runtime.outbox import message_to_json
from bot.store.database import short
from bot.store.repo import TIMER_OUTCOMES, HandOver, QueuedMessage
from bot.store.tables import OutboxRow, TimerRow

TELEGRAM = Limits(per_chat=(1, 1.0), per_group=(20, 60.0), overall=(30, 1.0))
SLACK = Limits(per_chat=(1, 1.0), per_group=None, overall=(8, 1.0))


class Crash(Exception):
    """A simulated process death at a chosen point."""


@dataclass
class FakeRun:
    thread: str | None = None


@dataclass
class FakeStore:
    timers: dict[int, TimerRow] = field(default_factory=dict)
    inbox: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    outbox: dict[int, OutboxRow] = field(default_factory=dict)
    runs: dict[str, FakeRun] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    dropped: list[tuple[int, str | None]] = field(default_factory=list)  # (row id, refused)
    crash_in_hand_over: set[int] = field(default_factory=set)  # timer row ids
    yields: bool = True  # each call gives the loop a turn, as a database round trip does
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Never connected: it only tells the scheduler the dialect (SQLite: the lease is held).
    engine: AsyncEngine = field(default_factory=lambda: create_async_engine("sqlite+aiosqlite://"))

    # -- building rows

    def add_timer(
        self, kind: str, due_at: datetime, *, run_id: str = "run-1", timer: str | None = None
    ) -> TimerRow:
        row_id = next(self._ids)
        row = TimerRow(
            id=row_id,
            run_id=run_id,
            timer=timer or f"t{row_id}",
            kind=kind,
            due_at=due_at,
            status="pending",
            idempotency_key=f"{run_id}:{row_id}",
            attempts=0,
            handled_at=None,
            note="",
        )
        self.timers[row_id] = row
        return row

    def add_message(
        self,
        destination: str,
        now: datetime,
        *,
        kind: str = "say",
        priority: int = 5,
        op: str = "send",
        msg_key: str = "",
        run_id: str | None = "run-1",
        text: str = "hallo",
        platform: str = "telegram",
        thread: bool = False,
        group: bool = False,
        hours: WorkingHours | None = None,
    ) -> OutboxRow:
        message = Message(kind=MessageKind(kind), text=text)
        return self._add_outbox(
            now,
            run_id=run_id,
            platform=platform,
            destination=destination,
            op=op,
            kind=kind,
            priority=priority,
            message=message_to_json(message, thread=thread, group=group, hours=hours),
            **({"msg_key": msg_key} if msg_key else {}),
        )

    def add_delete(
        self,
        destination: str,
        ref: str | None,
        now: datetime,
        *,
        platform: str = "telegram",
        group: bool = False,
    ) -> OutboxRow:
        """A delete row as `samen forget` queues it: a platform ref, where it went, no text."""
        row = self._add_outbox(
            now,
            run_id=None,
            platform=platform,
            destination=destination,
            op="delete",
            kind="delete",
            priority=8,
            message={"group": group, "language": "nl", "for": "forgotten-0123456789"},
            platform_ref=ref,
            msg_key="",
        )
        row.idempotency_key = f"delete:{row.id}"
        return row

    def _add_outbox(self, now: datetime, **fields: Any) -> OutboxRow:
        row_id = next(self._ids)
        pending = {
            "team_id": "team-1",
            "msg_key": f"m{row_id}",
            "status": "pending",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
            "sent_at": None,
            "platform_ref": None,
            "idempotency_key": f"o{row_id}",
            "error": "",
        }
        row = OutboxRow(id=row_id, **{**pending, **fields})
        self.outbox[row_id] = row
        return row

    async def _turn(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if self.yields:
            await asyncio.sleep(0)

    # -- TimerStore

    async def hand_over(self, timers: Sequence[HandOver], now: datetime) -> set[int]:
        """As the Store's: all or nothing. A crash (`crash_in_hand_over`) writes nothing,
        nor does an unknown outcome or an event payload the inbox could not store."""
        for item in timers:
            if item.status not in TIMER_OUTCOMES:
                raise ValueError(
                    f"a timer is claimed as one of {TIMER_OUTCOMES}, not {item.status}"
                )
        await self._turn("hand_over", [t.timer_row for t in timers])
        crashed = self.crash_in_hand_over & {t.timer_row for t in timers}
        if crashed:
            self.crash_in_hand_over -= crashed
            raise Crash("process died in the hand-over transaction")
        claims: dict[int, HandOver] = {}
        for item in timers:  # one claim per row (the scheduler offers each row once)
            row = self.timers.get(item.timer_row)
            if row is not None and row.status == "pending" and row.id not in claims:
                claims[row.id] = item
        for item in claims.values():
            json.dumps(dict(item.payload))  # the Store's JSON column refuses it: TypeError
        for id, item in claims.items():
            row = self.timers[id]
            row.status, row.handled_at, row.note = item.status, now, short(item.note)
            row.attempts += 1
            key = ("timer", f"timer:{id}")
            if key not in self.inbox:
                self.inbox[key] = (next(self._ids), dict(item.payload))
        return set(claims)

    async def pending_timers(
        self,
        *,
        due_before: datetime | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[TimerRow]:
        await self._turn("pending_timers", due_before)
        rows = sorted(
            (
                r
                for r in self.timers.values()
                if r.status == "pending"
                and (due_before is None or r.due_at <= due_before)
                and (after_id is None or r.id > after_id)
            ),
            key=lambda r: (r.due_at, r.id),
        )
        return [_copy(r) for r in (rows[:limit] if limit is not None else rows)]

    async def pending_due(
        self, *, due_before: datetime, after_id: int | None = None
    ) -> list[tuple[int, datetime]]:
        await self._turn("pending_due", due_before)
        rows = await self.pending_timers(due_before=due_before, after_id=after_id)
        return [(r.id, r.due_at) for r in rows]

    async def get_timer(self, id: int) -> TimerRow | None:
        return self.timers.get(id)

    async def next_due(self) -> datetime | None:
        dues = [r.due_at for r in self.timers.values() if r.status == "pending"]
        return min(dues, default=None)

    async def oldest_overdue(self, now: datetime) -> datetime | None:
        dues = [r.due_at for r in self.timers.values() if r.status == "pending" and r.due_at < now]
        return min(dues, default=None)

    async def count_timers(self, status: str) -> int:
        return sum(1 for r in self.timers.values() if r.status == status)

    async def reschedule_timer(self, id: int, due_at: datetime, note: str) -> bool:
        await self._turn("reschedule_timer", id)
        row = self.timers.get(id)
        if row is None or row.status != "pending":
            return False
        row.due_at, row.note = due_at, short(note)
        return True

    # -- OutboxStore

    async def outbox_due(
        self,
        now: datetime,
        limit: int = 200,
        skip: Collection[tuple[str, str]] = (),
        known: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> list[QueuedMessage]:
        await self._turn("outbox_due", now)
        rows = sorted(
            (
                r
                for r in self.outbox.values()
                if r.status == "pending"
                and r.not_before <= now
                and (r.platform, r.destination) not in skip
            ),
            key=lambda r: (r.priority, r.id),
        )
        # Plain values, as the Store's: what the worker keeps does not follow the row.
        # A message the caller knows is not read again (as the Store does not open it).
        known = known or {}
        names = [f.name for f in fields(QueuedMessage)]
        return [
            replace(QueuedMessage(**{n: getattr(r, n) for n in names}), message=known[r.id])
            if r.id in known
            else QueuedMessage(**{n: getattr(r, n) for n in names})
            for r in rows[:limit]
        ]

    async def outbox_retry(self, id: int, not_before: datetime, error: str) -> bool:
        await self._turn("outbox_retry", id)
        row = self._pending_outbox(id)
        if row is None:
            return False
        row.attempts, row.not_before, row.error = row.attempts + 1, not_before, short(error)
        return True

    async def outbox_hold(self, id: int, not_before: datetime, error: str) -> bool:
        await self._turn("outbox_hold", id)
        row = self._pending_outbox(id)
        if row is None:
            return False
        row.not_before, row.error = not_before, short(error)
        return True

    async def outbox_failed(self, id: int, error: str) -> bool:
        await self._turn("outbox_failed", id)
        row = self._pending_outbox(id)
        if row is None:
            return False
        row.status, row.attempts, row.error = "failed", row.attempts + 1, short(error)
        return True

    async def outbox_wait_for_start(self, id: int, error: str) -> bool:
        await self._turn("outbox_wait_for_start", id)
        row = self._pending_outbox(id)
        if row is None:
            return False
        row.status, row.error = "waiting", short(error)
        return True

    def _pending_outbox(self, id: int) -> OutboxRow | None:
        """The row if it is still pending: the Store's transitions compare and set."""
        row = self.outbox.get(id)
        return row if row is not None and row.status == "pending" else None

    async def outbox_drop(self, id: int, now: datetime, refused: str | None = None) -> bool:
        await self._turn("outbox_drop", id)
        row = self.outbox.get(id)
        if row is None or row.op != "delete" or row.status != "pending":
            return False
        del self.outbox[id]
        self.dropped.append((id, refused))
        return True

    async def message_ref(self, run_id: str, msg_key: str) -> str | None:
        """The ref of the latest sent "send" row under the key, as the Store's."""
        for row in sorted(self.outbox.values(), key=lambda r: r.id, reverse=True):
            if (row.run_id, row.msg_key, row.op, row.status) == (run_id, msg_key, "send", "sent"):
                return row.platform_ref
        return None

    async def outbox_sent_many(
        self, sent: Sequence[tuple[int, datetime, str | None]], threads: Mapping[str, str]
    ) -> None:
        await self._turn("outbox_sent_many", [i for i, _, _ in sent])
        for id, at, ref in sent:
            row = self.outbox.get(id)  # a dropped row is gone: nothing to mark
            if row is not None and row.status == "pending":
                row.status, row.sent_at, row.platform_ref = "sent", at, ref
        for run_id, thread in threads.items():
            self.calls.append(("set_run_thread", run_id))
            run = self.runs.get(run_id)  # a run that does not exist gets no thread
            if run is not None:
                run.thread = run.thread or thread

    async def run_threads(self, run_ids: Iterable[str]) -> dict[str, str | None]:
        return {r: self.runs[r].thread for r in run_ids if r in self.runs}


def _copy(row: TimerRow) -> TimerRow:
    """A detached copy, as the Store reads one: it does not follow the stored row."""
    return TimerRow(**{a.key: getattr(row, a.key) for a in inspect(TimerRow).column_attrs})


Response = DeliveryResult | Exception | None  # None: the default answer (sent)


@dataclass
class RecordingAdapter:
    """A platform at the transport seam: records every delivery with the clock's time and
    answers from `respond` (by delivery), `sent` with a ref by default."""

    clock: FakeClock
    platform: str = "telegram"
    limits: Limits = TELEGRAM
    respond: Callable[[Delivery], Response] = lambda d: None
    deliveries: list[tuple[datetime, Delivery]] = field(default_factory=list)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        self.deliveries.append((self.clock.now(), delivery))
        answer = self.respond(delivery)
        if isinstance(answer, Exception):
            raise answer
        return answer if answer is not None else DeliveryResult.sent(ref=f"ref-{delivery.id}")

    def times(self, row_id: int) -> list[datetime]:
        return [at for at, d in self.deliveries if d.id == row_id]

    def order(self, chat: str | None = None) -> list[int]:
        return [d.id for _, d in self.deliveries if chat is None or d.chat == chat]


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def at(start: datetime, **delta: float) -> datetime:
    return start + timedelta(**delta)
