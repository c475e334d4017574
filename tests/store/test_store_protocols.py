"""The store as the outbox worker and the scheduler see it, one suite over every store.

The outbox worker uses the Store through its `OutboxStore` protocol (bot/runtime/outbox.py),
the scheduler through `TimerStore` (bot/runtime/scheduler.py). Their own tests run on
`FakeStore` (tests/runtime/fakes.py), because they step a fake clock a fixed number of
event-loop turns and only an in-memory store answers within those. This suite holds exactly
those protocol methods to one contract on three implementations - the fake, the Store on
SQLite and the Store on PostgreSQL - so that what the runtime tests prove on the fake holds
on the real store. The real Store's wider contract is tests/store/test_store_contract.py.

Rows are seeded through `Seeds`: the fake through its builders, the Store through its
public writes (`commit_messages`, `commit_step`, `inbox_put_many`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from bot.runtime.outbox import OutboxStore
from bot.runtime.scheduler import TimerStore
from bot.store.database import ERROR_MAX
from bot.store.repo import HandOver, StepWrite, Store
from bot.store.tables import AccessLogRow, OutboxRow, TimerRow
from tests.runtime.fakes import FakeRun, FakeStore
from tests.store.conftest import fresh_backend

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Stores(OutboxStore, TimerStore, Protocol):
    """Both protocols, and `get_timer` to look at a timer row."""

    async def get_timer(self, id: int) -> TimerRow | None: ...


@dataclass(frozen=True)
class Stored:
    """What an outbox row holds now, as the tests compare it."""

    status: str
    attempts: int
    error: str
    not_before: datetime
    sent_at: datetime | None
    platform_ref: str | None


class Seeds(Protocol):
    """Rows put in place, and looked at, the way each implementation allows."""

    store: Stores

    async def add_timer(self, due_at: datetime, kind: str = "bell") -> int: ...

    async def add_message(
        self,
        destination: str,
        not_before: datetime,
        *,
        priority: int = 5,
        platform: str = "telegram",
        op: str = "send",
        msg_key: str = "",
        run_id: str | None = None,
    ) -> int: ...

    async def add_delete(self, destination: str, ref: str) -> int: ...

    async def add_run(self, run_id: str) -> None: ...

    async def add_timer_event(self, timer_row: int, payload: dict[str, Any]) -> None: ...

    async def message(self, id: int) -> Stored | None: ...

    async def timer_events(self) -> dict[str, dict[str, Any]]:
        """The inbox events of timers, by event key (`timer:<row id>`)."""
        ...

    async def refusals(self) -> list[str]:
        """The reasons recorded for delete rows dropped as refused."""
        ...


@dataclass
class FakeSeeds:
    store: FakeStore

    async def add_timer(self, due_at: datetime, kind: str = "bell") -> int:
        return self.store.add_timer(kind, due_at).id

    async def add_message(
        self,
        destination: str,
        not_before: datetime,
        *,
        priority: int = 5,
        platform: str = "telegram",
        op: str = "send",
        msg_key: str = "",
        run_id: str | None = None,
    ) -> int:
        row = self.store.add_message(
            destination,
            not_before,
            priority=priority,
            platform=platform,
            op=op,
            msg_key=msg_key,
            run_id=run_id,
        )
        row.msg_key = msg_key  # the builder invents one when given none; the Store has ""
        return row.id

    async def add_delete(self, destination: str, ref: str) -> int:
        return self.store.add_delete(destination, ref, NOW).id

    async def add_run(self, run_id: str) -> None:
        self.store.runs[run_id] = FakeRun()

    async def add_timer_event(self, timer_row: int, payload: dict[str, Any]) -> None:
        self.store.inbox[("timer", f"timer:{timer_row}")] = (10_000 + timer_row, payload)

    async def message(self, id: int) -> Stored | None:
        row = self.store.outbox.get(id)
        return None if row is None else _stored(row)

    async def timer_events(self) -> dict[str, dict[str, Any]]:
        return {key: payload for (p, key), (_, payload) in self.store.inbox.items() if p == "timer"}

    async def refusals(self) -> list[str]:
        return [refused for _, refused in self.store.dropped if refused is not None]


@dataclass
class StoreSeeds:
    store: Store
    team_id: str
    made: int = 0

    @classmethod
    async def on(cls, store: Store) -> StoreSeeds:
        team = await store.team_for_channel("telegram", "-100", name="Team", now=NOW)
        return cls(store, team.id)

    def _key(self) -> str:
        self.made += 1
        return f"seed-{self.made}"

    async def _id_of(self, model: type[OutboxRow] | type[TimerRow], key: str) -> int:
        async with self.store.sessionmaker() as s:
            return int(
                (await s.scalars(select(model.id).where(model.idempotency_key == key))).one()
            )

    async def add_timer(self, due_at: datetime, kind: str = "bell") -> int:
        key = self._key()
        timer = {"timer": key, "kind": kind, "due_at": due_at, "idempotency_key": key}
        await self.store.commit_messages(timers_new=[timer], now=NOW)
        return await self._id_of(TimerRow, key)

    async def add_message(
        self,
        destination: str,
        not_before: datetime,
        *,
        priority: int = 5,
        platform: str = "telegram",
        op: str = "send",
        msg_key: str = "",
        run_id: str | None = None,
    ) -> int:
        key = self._key()
        row = {
            "team_id": self.team_id,
            "run_id": run_id,
            "platform": platform,
            "destination": destination,
            "op": op,
            "msg_key": msg_key,
            "kind": "say",
            "priority": priority,
            "message": {"text": "hallo"},
            "not_before": not_before,
            "idempotency_key": key,
        }
        await self.store.commit_messages(outbox=[row], now=NOW)
        return await self._id_of(OutboxRow, key)

    async def add_delete(self, destination: str, ref: str) -> int:
        key = self._key()
        row = {
            "team_id": self.team_id,
            "platform": "telegram",
            "destination": destination,
            "op": "delete",
            "kind": "delete",
            "priority": 8,
            "message": {"group": False, "language": "nl", "for": "forgotten-0123456789"},
            "platform_ref": ref,
            "idempotency_key": key,
        }
        await self.store.commit_messages(outbox=[row], now=NOW)
        return await self._id_of(OutboxRow, key)

    async def add_run(self, run_id: str) -> None:
        run = {"team_id": self.team_id, "flow_id": "intervisie", "status": "active", "state": {}}
        await self.store.commit_step(
            StepWrite(run_id=run_id, expected_version=None, run=run, now=NOW)
        )

    async def add_timer_event(self, timer_row: int, payload: dict[str, Any]) -> None:
        await self.store.inbox_put_many([("timer", f"timer:{timer_row}", payload)], NOW)

    async def message(self, id: int) -> Stored | None:
        async with self.store.sessionmaker() as s:
            row = await s.get(OutboxRow, id)
            return None if row is None else _stored(row)

    async def timer_events(self) -> dict[str, dict[str, Any]]:
        rows = await self.store.inbox_pending(limit=1000)
        return {row.event_key: row.payload for row in rows if row.platform == "timer"}

    async def refusals(self) -> list[str]:
        async with self.store.sessionmaker() as s:
            whats = await s.scalars(
                select(AccessLogRow.what)
                .where(AccessLogRow.action == "erase", AccessLogRow.actor == "outbox")
                .order_by(AccessLogRow.id)
            )
            return [what.rsplit(": ", 1)[-1] for what in whats]


def _stored(row: OutboxRow) -> Stored:
    return Stored(
        row.status, row.attempts, row.error, row.not_before, row.sent_at, row.platform_ref
    )


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
async def seeds(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Seeds]:
    """An empty store of each implementation, with its seeding adapter."""
    if request.param == "fake":
        yield FakeSeeds(FakeStore())
        return
    async with fresh_backend(request.param, tmp_path) as backend:
        store = await Store.open(backend.url, schema=backend.schema)
        try:
            yield await StoreSeeds.on(store)
        finally:
            await store.close()


async def due_ids(seeds: Seeds, now: datetime = NOW, **options: Any) -> list[int]:
    return [row.id for row in await seeds.store.outbox_due(now, **options)]


async def status_of(seeds: Seeds, id: int) -> str | None:
    stored = await seeds.message(id)
    return None if stored is None else stored.status


def claim(id: int, status: str = "sent", note: str = "", **payload: Any) -> HandOver:
    return HandOver(id, status, {"timer_row": id, **payload}, note)


# ---------------------------------------------------------------------------- outbox_due


async def test_due_messages_go_by_priority_then_in_the_order_they_were_written(
    seeds: Seeds,
) -> None:
    """Not by not_before: a message written later but held back less does not overtake."""
    first = await seeds.add_message("c1", NOW - MINUTE)
    second = await seeds.add_message("c2", NOW - 10 * MINUTE)
    bell = await seeds.add_message("c3", NOW, priority=0)
    late = await seeds.add_message("c1", NOW - 20 * MINUTE, priority=9)
    assert await due_ids(seeds) == [bell, first, second, late]


async def test_a_message_is_due_from_its_not_before_and_only_while_pending(seeds: Seeds) -> None:
    on_time = await seeds.add_message("c1", NOW)
    early = await seeds.add_message("c1", NOW + timedelta(seconds=1))
    sent = await seeds.add_message("c2", NOW)
    failed = await seeds.add_message("c3", NOW)
    waiting = await seeds.add_message("c4", NOW)
    await seeds.store.outbox_sent_many([(sent, NOW, "ref")], {})
    await seeds.store.outbox_failed(failed, "boom")
    await seeds.store.outbox_wait_for_start(waiting, "waiting for start")
    assert await due_ids(seeds) == [on_time]
    assert await due_ids(seeds, NOW + timedelta(seconds=1)) == [on_time, early]


async def test_due_leaves_out_the_conversations_in_skip(seeds: Seeds) -> None:
    parked = await seeds.add_message("c1", NOW)
    other_chat = await seeds.add_message("c2", NOW)
    same_chat_elsewhere = await seeds.add_message("c1", NOW, platform="slack")
    also_parked = await seeds.add_message("c3", NOW)
    skip = {("telegram", "c1"), ("telegram", "c3")}
    assert await due_ids(seeds, skip=skip) == [other_chat, same_chat_elsewhere]
    assert await due_ids(seeds) == [parked, other_chat, same_chat_elsewhere, also_parked]


async def test_due_gives_at_most_limit_messages_the_first_in_order(seeds: Seeds) -> None:
    rows = [await seeds.add_message(f"c{i}", NOW, priority=5 - i % 2) for i in range(5)]
    assert await due_ids(seeds, limit=3) == [rows[1], rows[3], rows[0]]


async def test_a_due_message_as_read_stays_as_it_was_while_the_row_changes(seeds: Seeds) -> None:
    """The worker keeps what it read while a delivery is in flight."""
    id = await seeds.add_message("c1", NOW, priority=3, msg_key="form", run_id="run-1")
    (read,) = await seeds.store.outbox_due(NOW)
    await seeds.store.outbox_retry(id, NOW + MINUTE, "timeout")
    assert (read.id, read.platform, read.destination, read.op) == (id, "telegram", "c1", "send")
    assert (read.priority, read.msg_key, read.run_id) == (3, "form", "run-1")
    assert (read.status, read.attempts, read.error, read.not_before) == ("pending", 0, "", NOW)


async def test_due_does_not_read_again_the_messages_the_caller_knows(seeds: Seeds) -> None:
    """A pending row's message never changes: the worker passes those it read before, and
    only the others are read (and opened) again."""
    seen = await seeds.add_message("c1", NOW)
    new = await seeds.add_message("c2", NOW)
    first = {row.id: row.message for row in await seeds.store.outbox_due(NOW)}
    assert set(first) == {seen, new}
    kept = {"text": "as the worker read it"}
    again = await seeds.store.outbox_due(NOW, known={seen: kept, 999: {"gone": True}})
    assert [(row.id, row.message) for row in again] == [(seen, kept), (new, first[new])]


# ---------------------------------------------------------------------------- outcomes


async def test_sent_many_marks_pending_messages_sent_with_their_time_and_ref(
    seeds: Seeds,
) -> None:
    a, b = await seeds.add_message("c1", NOW), await seeds.add_message("c2", NOW)
    await seeds.store.outbox_sent_many([(a, NOW + MINUTE, "ref-a"), (b, NOW, None)], {})
    assert await seeds.message(a) == Stored("sent", 0, "", NOW, NOW + MINUTE, "ref-a")
    assert await seeds.message(b) == Stored("sent", 0, "", NOW, NOW, None)
    assert await due_ids(seeds) == []


async def test_sent_many_leaves_a_settled_or_vanished_row_as_it_is(seeds: Seeds) -> None:
    failed = await seeds.add_message("c1", NOW)
    waiting = await seeds.add_message("c2", NOW)
    sent = await seeds.add_message("c3", NOW)
    dropped = await seeds.add_delete("c4", "4:1")
    await seeds.store.outbox_failed(failed, "boom")
    await seeds.store.outbox_wait_for_start(waiting, "waiting for start")
    await seeds.store.outbox_sent_many([(sent, NOW, "first")], {})
    assert await seeds.store.outbox_drop(dropped, NOW)
    later = NOW + MINUTE
    marks = [(failed, later, "x"), (waiting, later, "y"), (sent, later, "z"), (dropped, later, "w")]
    await seeds.store.outbox_sent_many(marks, {})
    assert await seeds.message(failed) == Stored("failed", 1, "boom", NOW, None, None)
    assert await seeds.message(waiting) == Stored(
        "waiting", 0, "waiting for start", NOW, None, None
    )
    assert await seeds.message(sent) == Stored("sent", 0, "", NOW, NOW, "first")
    assert await seeds.message(dropped) is None


async def test_sent_many_gives_a_run_the_first_thread_only(seeds: Seeds) -> None:
    await seeds.add_run("run-1")
    id = await seeds.add_message("C1", NOW, run_id="run-1")
    await seeds.store.outbox_sent_many([(id, NOW, "1.0")], {"run-1": "th-1"})
    await seeds.store.outbox_sent_many([], {"run-1": "th-2"})
    assert await seeds.store.run_threads(["run-1"]) == {"run-1": "th-1"}


async def test_sent_many_gives_no_thread_to_a_run_that_does_not_exist(seeds: Seeds) -> None:
    await seeds.store.outbox_sent_many([], {"gone": "th-1"})
    assert await seeds.store.run_threads(["gone"]) == {}


async def test_run_threads_gives_each_known_run_its_thread_and_leaves_out_the_unknown(
    seeds: Seeds,
) -> None:
    await seeds.add_run("run-1")
    await seeds.add_run("run-2")
    await seeds.store.outbox_sent_many([], {"run-2": "th-2"})
    found = await seeds.store.run_threads(["run-1", "run-2", "nope"])
    assert dict(found) == {"run-1": None, "run-2": "th-2"}


async def test_retry_counts_an_attempt_and_holds_the_message_until_not_before(
    seeds: Seeds,
) -> None:
    id = await seeds.add_message("c1", NOW)
    assert await seeds.store.outbox_retry(id, NOW + MINUTE, "429")
    assert await seeds.store.outbox_retry(id, NOW + 2 * MINUTE, "timeout")
    assert await seeds.message(id) == Stored("pending", 2, "timeout", NOW + 2 * MINUTE, None, None)
    assert await due_ids(seeds, NOW + MINUTE) == []
    assert await due_ids(seeds, NOW + 2 * MINUTE) == [id]


async def test_failed_counts_the_last_attempt_and_gives_up(seeds: Seeds) -> None:
    id = await seeds.add_message("c1", NOW)
    assert await seeds.store.outbox_failed(id, "chat not found")
    assert await seeds.message(id) == Stored("failed", 1, "chat not found", NOW, None, None)
    assert await due_ids(seeds, NOW + timedelta(days=1)) == []


async def test_waiting_for_start_parks_a_message_without_counting_an_attempt(
    seeds: Seeds,
) -> None:
    id = await seeds.add_message("dm:7", NOW)
    assert await seeds.store.outbox_wait_for_start(id, "waiting for start")
    assert await seeds.message(id) == Stored("waiting", 0, "waiting for start", NOW, None, None)
    assert await due_ids(seeds, NOW + timedelta(days=1)) == []


async def test_hold_moves_a_message_to_later_without_counting_an_attempt(seeds: Seeds) -> None:
    """Its turn came outside its person's working hours: it waits for their next start."""
    id = await seeds.add_message("dm:7", NOW)
    morning = NOW + timedelta(hours=15)
    assert await seeds.store.outbox_hold(id, morning, "outside working hours")
    assert await seeds.message(id) == Stored(
        "pending", 0, "outside working hours", morning, None, None
    )
    assert await due_ids(seeds, morning - MINUTE) == []
    assert await due_ids(seeds, morning) == [id]


@pytest.mark.parametrize("transition", ["retry", "failed", "wait_for_start", "hold"])
async def test_a_settled_or_missing_message_is_not_moved_again(
    seeds: Seeds, transition: str
) -> None:
    """Compare-and-set from pending: a row another worker settled stays as it is."""
    sent = await seeds.add_message("c1", NOW)
    failed = await seeds.add_message("c2", NOW)
    await seeds.store.outbox_sent_many([(sent, NOW, "ref")], {})
    await seeds.store.outbox_failed(failed, "boom")
    before = [await seeds.message(sent), await seeds.message(failed)]
    for id in (sent, failed, 999_999):
        if transition == "retry":
            moved = await seeds.store.outbox_retry(id, NOW + MINUTE, "late")
        elif transition == "failed":
            moved = await seeds.store.outbox_failed(id, "late")
        elif transition == "hold":
            moved = await seeds.store.outbox_hold(id, NOW + MINUTE, "late")
        else:
            moved = await seeds.store.outbox_wait_for_start(id, "late")
        assert moved is False
    assert [await seeds.message(sent), await seeds.message(failed)] == before


async def test_an_error_is_stored_on_one_line_cut_to_its_column(seeds: Seeds) -> None:
    retried, failed = await seeds.add_message("c1", NOW), await seeds.add_message("c2", NOW)
    error = "line one\n  line two " + "x" * 300
    await seeds.store.outbox_retry(retried, NOW, error)
    await seeds.store.outbox_failed(failed, error)
    for id in (retried, failed):
        stored = await seeds.message(id)
        assert stored is not None
        assert stored.error == ("line one line two " + "x" * 300)[:ERROR_MAX]


# ---------------------------------------------------------------------------- deletes


async def test_drop_removes_a_pending_delete_row(seeds: Seeds) -> None:
    id = await seeds.add_delete("dm:7", "7:42")
    assert await seeds.store.outbox_drop(id, NOW)
    assert await seeds.message(id) is None
    assert await due_ids(seeds) == []
    assert await seeds.refusals() == []


async def test_drop_with_a_refusal_removes_the_row_and_records_the_reason(seeds: Seeds) -> None:
    id = await seeds.add_delete("dm:7", "7:42")
    assert await seeds.store.outbox_drop(id, NOW, refused="message_cant_be_deleted")
    assert await seeds.message(id) is None
    assert await seeds.refusals() == ["message_cant_be_deleted"]


async def test_drop_leaves_a_send_row_a_settled_delete_and_a_dropped_one(seeds: Seeds) -> None:
    send = await seeds.add_message("c1", NOW)
    failed = await seeds.add_delete("dm:7", "7:42")
    dropped = await seeds.add_delete("dm:8", "8:42")
    await seeds.store.outbox_failed(failed, "boom")
    assert await seeds.store.outbox_drop(dropped, NOW)
    for id in (send, failed, dropped, 999_999):
        assert await seeds.store.outbox_drop(id, NOW, refused="again") is False
    assert await status_of(seeds, send) == "pending"
    assert await status_of(seeds, failed) == "failed"
    assert await seeds.refusals() == []


# ---------------------------------------------------------------------------- message_ref


async def test_message_ref_is_the_ref_of_the_latest_sent_send_under_the_key(
    seeds: Seeds,
) -> None:
    first = await seeds.add_message("U1", NOW, msg_key="form", run_id="run-1")
    again = await seeds.add_message("U1", NOW, msg_key="form", run_id="run-1")
    unsent = await seeds.add_message("U1", NOW, msg_key="form", run_id="run-1")
    edit = await seeds.add_message("U1", NOW, op="edit", msg_key="form", run_id="run-1")
    assert await seeds.store.message_ref("run-1", "form") is None
    await seeds.store.outbox_sent_many([(again, NOW, "ref-again"), (first, NOW, "ref-first")], {})
    await seeds.store.outbox_sent_many([(edit, NOW, "ref-edit")], {})
    assert await seeds.store.message_ref("run-1", "form") == "ref-again"
    assert await seeds.store.message_ref("run-2", "form") is None
    assert await seeds.store.message_ref("run-1", "other") is None
    assert await status_of(seeds, unsent) == "pending"


# ---------------------------------------------------------------------------- timers: reads


async def test_pending_timers_come_soonest_first_then_in_the_order_written(seeds: Seeds) -> None:
    later = await seeds.add_timer(NOW + MINUTE)
    a = await seeds.add_timer(NOW)
    b = await seeds.add_timer(NOW)
    soonest = await seeds.add_timer(NOW - MINUTE)
    claimed = await seeds.add_timer(NOW - 2 * MINUTE)
    await seeds.store.hand_over([claim(claimed)], NOW)
    rows = await seeds.store.pending_timers()
    assert [r.id for r in rows] == [soonest, a, b, later]
    assert (rows[0].due_at, rows[0].status) == (NOW - MINUTE, "pending")


async def test_pending_timers_due_before_is_inclusive_after_id_exclusive_and_limit_caps(
    seeds: Seeds,
) -> None:
    ids = [await seeds.add_timer(NOW + i * MINUTE) for i in range(4)]
    store = seeds.store
    assert [r.id for r in await store.pending_timers(due_before=NOW + MINUTE)] == ids[:2]
    assert [r.id for r in await store.pending_timers(after_id=ids[1])] == ids[2:]
    assert [r.id for r in await store.pending_timers(limit=3)] == ids[:3]
    both = await store.pending_timers(due_before=NOW + 2 * MINUTE, after_id=ids[0], limit=1)
    assert [r.id for r in both] == [ids[1]]


async def test_pending_due_gives_ids_and_due_times_with_the_same_filters(seeds: Seeds) -> None:
    ids = [await seeds.add_timer(NOW + i * MINUTE) for i in (2, 0, 1, 3)]
    await seeds.store.hand_over([claim(ids[2])], NOW)
    due = await seeds.store.pending_due(due_before=NOW + 2 * MINUTE)
    assert list(due) == [(ids[1], NOW), (ids[0], NOW + 2 * MINUTE)]
    after = await seeds.store.pending_due(due_before=NOW + 3 * MINUTE, after_id=ids[1])
    assert list(after) == [(ids[3], NOW + 3 * MINUTE)]


async def test_a_timer_as_read_stays_as_it_was_while_the_row_changes(seeds: Seeds) -> None:
    id = await seeds.add_timer(NOW)
    (read,) = await seeds.store.pending_timers()
    assert await seeds.store.reschedule_timer(id, NOW + MINUTE, "moved")
    await seeds.store.hand_over([claim(id)], NOW)
    assert (read.status, read.due_at, read.note, read.attempts) == ("pending", NOW, "", 0)


async def test_next_due_is_the_soonest_pending_timer(seeds: Seeds) -> None:
    assert await seeds.store.next_due() is None
    claimed = await seeds.add_timer(NOW - MINUTE)
    await seeds.add_timer(NOW + MINUTE)
    await seeds.add_timer(NOW)
    assert await seeds.store.next_due() == NOW - MINUTE
    await seeds.store.hand_over([claim(claimed)], NOW)
    assert await seeds.store.next_due() == NOW


async def test_oldest_overdue_counts_only_pending_timers_already_past_due(seeds: Seeds) -> None:
    claimed = await seeds.add_timer(NOW - 2 * MINUTE)
    await seeds.add_timer(NOW)
    assert await seeds.store.oldest_overdue(NOW) == NOW - 2 * MINUTE
    await seeds.store.hand_over([claim(claimed)], NOW)
    assert await seeds.store.oldest_overdue(NOW) is None  # due right now is not overdue
    assert await seeds.store.oldest_overdue(NOW + timedelta(seconds=1)) == NOW


async def test_count_timers_counts_the_timers_in_one_status(seeds: Seeds) -> None:
    ids = [await seeds.add_timer(NOW) for _ in range(5)]
    await seeds.store.hand_over(
        [claim(ids[0]), claim(ids[1]), claim(ids[2], "skipped", "late")], NOW
    )
    counts = [await seeds.store.count_timers(s) for s in ("pending", "sent", "skipped", "failed")]
    assert counts == [2, 2, 1, 0]


# ---------------------------------------------------------------------------- timers: writes


async def test_hand_over_claims_pending_timers_and_puts_one_event_each(seeds: Seeds) -> None:
    bell, late = await seeds.add_timer(NOW - MINUTE), await seeds.add_timer(NOW - 3 * MINUTE)
    claimed = await seeds.store.hand_over(
        [claim(bell, kind="bell"), claim(late, "skipped", "skipped: 3 min late")], NOW
    )
    assert claimed == {bell, late}
    for id, status, note in ((bell, "sent", ""), (late, "skipped", "skipped: 3 min late")):
        row = await seeds.store.get_timer(id)
        assert row is not None
        assert (row.status, row.note, row.handled_at, row.attempts) == (status, note, NOW, 1)
    assert await seeds.timer_events() == {
        f"timer:{bell}": {"timer_row": bell, "kind": "bell"},
        f"timer:{late}": {"timer_row": late},
    }
    assert await seeds.store.hand_over([], NOW) == set()


async def test_hand_over_leaves_a_claimed_timer_as_it_is_and_puts_no_second_event(
    seeds: Seeds,
) -> None:
    """Another sweep or process claimed it first: this hand-over claims the rest."""
    first, other = await seeds.add_timer(NOW), await seeds.add_timer(NOW)
    assert await seeds.store.hand_over([claim(first, "sent", "", by="one")], NOW) == {first}
    later = NOW + MINUTE
    claimed = await seeds.store.hand_over(
        [claim(first, "skipped", "late", by="two"), claim(other, by="two")], later
    )
    assert claimed == {other}
    row = await seeds.store.get_timer(first)
    assert row is not None
    assert (row.status, row.note, row.handled_at, row.attempts) == ("sent", "", NOW, 1)
    events = await seeds.timer_events()
    assert events == {
        f"timer:{first}": {"timer_row": first, "by": "one"},
        f"timer:{other}": {"timer_row": other, "by": "two"},
    }


async def test_hand_over_keeps_an_event_already_stored_under_the_timers_key(
    seeds: Seeds,
) -> None:
    id = await seeds.add_timer(NOW)
    await seeds.add_timer_event(id, {"timer_row": id, "by": "before"})
    assert await seeds.store.hand_over([claim(id, by="now")], NOW) == {id}
    assert await seeds.timer_events() == {f"timer:{id}": {"timer_row": id, "by": "before"}}


async def test_hand_over_with_an_unknown_outcome_claims_nothing(seeds: Seeds) -> None:
    ok, odd = await seeds.add_timer(NOW), await seeds.add_timer(NOW)
    with pytest.raises(ValueError):
        await seeds.store.hand_over([claim(ok), claim(odd, "done")], NOW)
    assert await seeds.store.count_timers("pending") == 2
    assert await seeds.timer_events() == {}


async def test_hand_over_whose_events_cannot_be_stored_claims_nothing(seeds: Seeds) -> None:
    """All or nothing: the claims of a hand-over whose inbox write fails are undone."""
    ok, bad = await seeds.add_timer(NOW), await seeds.add_timer(NOW)
    with pytest.raises((TypeError, StatementError)):
        await seeds.store.hand_over([claim(ok), claim(bad, when=object())], NOW)
    assert await seeds.store.count_timers("pending") == 2
    assert await seeds.timer_events() == {}


async def test_only_a_pending_timer_is_rescheduled(seeds: Seeds) -> None:
    moving, claimed = await seeds.add_timer(NOW), await seeds.add_timer(NOW)
    await seeds.store.hand_over([claim(claimed)], NOW)
    assert await seeds.store.reschedule_timer(moving, NOW + MINUTE, "shifted out of quiet hours")
    assert not await seeds.store.reschedule_timer(claimed, NOW + MINUTE, "too late")
    assert not await seeds.store.reschedule_timer(999_999, NOW + MINUTE, "gone")
    moved, kept = await seeds.store.get_timer(moving), await seeds.store.get_timer(claimed)
    assert moved is not None and kept is not None
    assert (moved.status, moved.due_at, moved.note) == (
        "pending",
        NOW + MINUTE,
        "shifted out of quiet hours",
    )
    assert (kept.status, kept.due_at, kept.note) == ("sent", NOW, "")


async def test_a_note_is_stored_on_one_line_cut_to_its_column(seeds: Seeds) -> None:
    moved, claimed = await seeds.add_timer(NOW), await seeds.add_timer(NOW)
    note = "shifted\nout of " + "quiet hours " * 30
    await seeds.store.reschedule_timer(moved, NOW + MINUTE, note)
    await seeds.store.hand_over([claim(claimed, "skipped", note)], NOW)
    for id in (moved, claimed):
        row = await seeds.store.get_timer(id)
        assert row is not None
        assert row.note == " ".join(note.split())[:ERROR_MAX]
