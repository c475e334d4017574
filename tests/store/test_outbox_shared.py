"""Two processes on one PostgreSQL: one outbox sends, the other takes over when it dies.

Each `Store` here stands for one `samen run` process (its own engine and connections).
The outbox lease makes exactly one of them the sender, so every message goes out once
and the platforms' limits are counted in one place.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.effects import Message, MessageKind
from bot.runtime.clock import SystemClock
from bot.runtime.delivery import Delivery, DeliveryResult, Limits
from bot.runtime.outbox import Outbox, message_to_json
from bot.store.lease import Lease
from bot.store.repo import StepWrite, Store
from tests.store.conftest import Backend

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Platform:
    """A courier that records what it was asked to deliver."""

    platform = "slack"
    limits = Limits(per_chat=(100, 1.0), overall=(1000, 1.0))

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        await asyncio.sleep(0)
        self.texts.append(delivery.message.text)
        return DeliveryResult.sent(ref=f"ts-{len(self.texts)}")


def rows(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "platform": "slack",
            "destination": f"C{i % 40}",
            "kind": "say",
            "priority": 5,
            "message": message_to_json(Message(MessageKind.say, f"{prefix}{i}")),
            "idempotency_key": f"{prefix}{i}",
        }
        for i in range(n)
    ]


async def drained(store: Store, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while await store.outbox_backlog():
            await asyncio.sleep(0.05)


# PostgreSQL only: on SQLite (one process) every lease is always held.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_processes_send_every_message_once_and_one_takes_over(
    backend: Backend, store: Store
) -> None:
    other = await Store.open(backend.url, schema=backend.schema)
    key = random.randrange(1 << 40)  # not the production key: a running Samen is not disturbed
    leases = [Lease(s.engine, key, "outbox") for s in (store, other)]
    platforms = [Platform(), Platform()]
    outboxes = [
        Outbox(s, {"slack": p}, SystemClock(), lease=lease, poll_interval=0.05)
        for s, p, lease in zip((store, other), platforms, leases, strict=True)
    ]
    tasks = [asyncio.create_task(o.run()) for o in outboxes]
    try:
        team = await store.team_for_channel("slack", "C1", name="Team", now=NOW)
        run = {"team_id": team.id, "flow_id": "f", "status": "active", "version": 1, "state": {}}
        await store.commit_step(
            StepWrite(
                run_id="run-1", expected_version=None, run=run, outbox=rows("a", 300), now=NOW
            )
        )
        await drained(store)
        sent = Counter(platforms[0].texts + platforms[1].texts)
        assert sent == Counter(f"a{i}" for i in range(300))  # each exactly once
        assert sorted(len(p.texts) for p in platforms) == [0, 300]  # by one sender

        # The sender's process dies: its task ends and its lease connection is gone.
        holder = 0 if platforms[0].texts else 1
        tasks[holder].cancel()
        conn = leases[holder]._conn
        assert conn is not None
        raw = await conn.get_raw_connection()
        await raw.driver_connection.close()  # type: ignore[union-attr]

        later = [{**row, "team_id": team.id} for row in rows("b", 100)]
        await store.commit_messages(outbox=later, now=NOW)
        await drained(store)
        assert Counter(platforms[1 - holder].texts) == Counter(f"b{i}" for i in range(100))
    finally:
        for outbox in outboxes:
            outbox.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lease in leases:
            await lease.release()
        await other.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_tasks_checking_one_lease_at_once_keep_it(
    backend: Backend, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    lease = Lease(store.engine, random.randrange(1 << 40), "inbox")
    assert await lease.check()
    # The inbox's two drains (chats and timers) check the one lease side by side.
    for _ in range(20):
        assert all(await asyncio.gather(*(lease.check() for _ in range(4))))
    assert lease.held
    assert "lease lost" not in caplog.text
    await lease.release()
    assert not lease.held
