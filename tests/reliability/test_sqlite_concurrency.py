"""SQLite under 10,000 concurrent operations (R-OPS-4): no "database is locked", nothing lost.

Many tasks at once on one store, the way one busy process uses it: inbox puts (with
duplicates), flow steps that write a run with its outbox rows and mark their inbox row
done, and outbox transitions (retry, then sent).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.effects import Message, MessageKind
from bot.runtime.outbox import message_to_json
from bot.store.repo import StepWrite, Store
from bot.store.tables import InboxRow, OutboxRow, RunRow

EVENTS = 2000  # each: 2 inbox puts (one a duplicate), 1 step, 1 retry, 1 sent = 5 operations
TASKS = 64
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_10k_concurrent_operations_on_sqlite_lose_nothing_and_never_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}", migrate=True)
    try:
        team = await store.team_for_channel("console", "team", name="Team", now=NOW)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(EVENTS):
            queue.put_nowait(i)
        operations = 0

        async def worker() -> None:
            nonlocal operations
            while not queue.empty():
                i = queue.get_nowait()
                key = f"event-{i}"
                first = await store.inbox_put("console", key, {"kind": "text", "n": i}, NOW)
                again = await store.inbox_put("console", key, {"kind": "text", "n": i}, NOW)
                assert first is not None and again is None
                inbox_id = first if isinstance(first, int) else first.id
                run = {
                    "team_id": team.id,
                    "flow_id": "f",
                    "status": "active",
                    "version": 1,
                    "state": {},
                }
                outbox = [
                    {
                        "platform": "console",
                        "destination": f"C{i % 50}",
                        "kind": "say",
                        "priority": 5,
                        "message": message_to_json(Message(MessageKind.say, f"m{i}")),
                        "idempotency_key": f"m{i}",
                    }
                ]
                await store.commit_step(
                    StepWrite(
                        run_id=f"run-{i}",
                        expected_version=None,
                        run=run,
                        outbox=outbox,
                        inbox_id=inbox_id,
                        now=NOW,
                    )
                )
                async with store.sessionmaker() as s:
                    row_id = await s.scalar(
                        select(OutboxRow.id).where(OutboxRow.idempotency_key == f"m{i}")
                    )
                assert row_id is not None
                assert await store.outbox_retry(row_id, NOW + timedelta(seconds=1), "Timeout")
                await store.outbox_sent_many([(row_id, NOW, f"ref-{i}")])
                operations += 5

        async with asyncio.timeout(120):
            await asyncio.gather(*(worker() for _ in range(TASKS)))
        assert operations == 5 * EVENTS

        async with store.sessionmaker() as s:
            assert await s.scalar(select(func.count()).select_from(InboxRow)) == EVENTS
            assert await s.scalar(select(func.count()).where(InboxRow.status != "done")) == 0
            assert await s.scalar(select(func.count()).select_from(RunRow)) == EVENTS
            statuses = (
                await s.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))
            ).all()
        assert dict(statuses) == {"sent": EVENTS}
        assert "database is locked" not in caplog.text
    finally:
        await store.close()
