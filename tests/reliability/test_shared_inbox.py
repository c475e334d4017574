"""Two processes on one PostgreSQL share the inbox: every process handles events, each
conversation in one process at a time (`ConversationLocks`, issue #18's P7).

Each `Runtime` here stands for one `samen run` process: its own engine, connections and
conversation locks, on a database of its own (`database` in conftest.py). Whichever
process received an event, each is handled once, and a conversation's events in the
order they arrived, even while the other process is busy with a slow one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from bot.config import Settings
from bot.runtime.clock import FakeClock
from bot.store.lease import ConversationLocks
from bot.store.sealed import new_key_text
from bot.store.tables import InboxRow
from bot.wiring import Runtime, build_runtime
from tests.harness.world import FLOWS

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
async def two(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two runtimes ("processes") on one PostgreSQL, with one data and audit key."""
    for name in ("SAMEN_DATA_KEY", "SAMEN_AUDIT_KEY"):
        monkeypatch.setenv(name, new_key_text())
    made: list[Runtime] = []
    try:
        for name in ("a", "b"):
            settings = Settings(data_dir=tmp_path / name, flows_dir=FLOWS, database_url=database)
            made.append(
                await build_runtime(
                    settings,
                    clock=FakeClock(START),
                    adapters=[ConsoleAdapter(out=lambda _: None)],
                    use_apscheduler=False,
                )
            )
        yield made[0], made[1]
    finally:
        for runtime in made:
            await runtime.stop()


def watch(runtime: Runtime, name: str, handled: list[tuple[str, str, int]]) -> asyncio.Event:
    """Record each event `runtime` handles as (process, channel, n); the returned event
    holds up its handling of #traag 0 until set."""
    held = asyncio.Event()
    original = runtime.inbox._handle

    async def watched(row: InboxRow) -> None:
        channel, n = str(row.payload["channel"]), int(row.payload["n"])
        if (name, channel, n) == ("a", "#traag", 0):
            await held.wait()
        await original(row)
        handled.append((name, channel, n))

    runtime.inbox._handle = watched  # type: ignore[method-assign]
    return held


async def test_both_processes_handle_the_inbox_each_event_once_and_in_order(
    two: tuple[Runtime, Runtime],
) -> None:
    a, b = two
    handled: list[tuple[str, str, int]] = []
    held = watch(a, "a", handled)
    watch(b, "b", handled)
    channels = ("#traag", "#een", "#twee", "#drie")
    for n in range(5):  # received by either process, as a load balancer spreads them
        for i, channel in enumerate(channels):
            receiver = (a, b)[(n + i) % 2]
            payload = {"kind": "mention", "channel": channel, "user": "anna", "n": n}
            assert await receiver.inbox.receive("console", f"{channel}:{n}", payload)

    first = asyncio.create_task(a.inbox.drain())  # takes every conversation, hangs on one
    for _ in range(1000):
        if len(handled) == 3 * 5:  # all but #traag handled
            break
        await asyncio.sleep(0.01)
    assert a.inbox.draining and len(handled) == 3 * 5
    # Meanwhile more arrives, at b: #traag stays a's, the others a has given back.
    for n in range(5, 8):
        for channel in channels:
            payload = {"kind": "mention", "channel": channel, "user": "anna", "n": n}
            assert await b.inbox.receive("console", f"{channel}:{n}", payload)
    assert await b.inbox.drain() == 3 * 3
    assert not any(channel == "#traag" for name, channel, _ in handled if name == "b")
    held.set()
    await first
    while await a.inbox.drain() + await b.inbox.drain():
        pass

    assert sorted((c, n) for _, c, n in handled) == sorted(
        (c, n) for c in channels for n in range(8)
    )  # each once
    for channel in channels:
        assert [n for _, c, n in handled if c == channel] == list(range(8))  # in order
    assert await a.store.inbox_pending() == []


async def test_a_conversation_is_one_process_at_a_time_and_free_again_when_it_dies(
    database: str,
) -> None:
    from bot.store.db import open_engine

    first, second = await open_engine(database), await open_engine(database)
    try:
        mine, theirs = ConversationLocks(first), ConversationLocks(second)
        assert mine.shared and theirs.shared
        assert await mine.take(["slack:C1", "timer"]) == {"slack:C1", "timer"}
        assert await theirs.take(["slack:C1", "slack:C2", "timer"]) == {"slack:C2"}
        await mine.give_back(["slack:C1"])
        assert await theirs.take(["slack:C1", "timer"]) == {"slack:C1"}
        await mine.close()  # the process died: its connection, and its locks, are gone
        assert await theirs.take(["timer"]) == {"timer"}
        await theirs.close()
    finally:
        await first.dispose()
        await second.dispose()


async def test_on_sqlite_the_one_process_holds_every_conversation(tmp_path: Path) -> None:
    locks = ConversationLocks()
    assert not locks.shared
    assert await locks.take(["slack:C1", "timer"]) == {"slack:C1", "timer"}


async def test_the_sender_hears_when_another_process_commits_messages(database: str) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.store.db import open_engine
    from bot.store.signals import OUTBOX_CHANNEL, Listener, notify

    sender, other = await open_engine(database), await open_engine(database)
    heard = asyncio.Event()
    listener = Listener(sender)
    try:
        assert await listener.listen(OUTBOX_CHANNEL, heard.set)
        async with AsyncSession(other) as s, s.begin():
            await notify(s, OUTBOX_CHANNEL)
            await asyncio.sleep(0.2)
            assert not heard.is_set()  # not before the commit
        await asyncio.wait_for(heard.wait(), 5)  # at the commit
    finally:
        await listener.close()
        await sender.dispose()
        await other.dispose()


async def test_the_process_that_fires_and_sends_leaves_fresh_chats_to_the_others(
    two: tuple[Runtime, Runtime],
) -> None:
    a, b = two
    a.inbox.fires_timers = lambda: True  # a holds the timer lease (and sends)
    b.inbox.fires_timers = lambda: False
    assert await b.inbox.conversations.others() == 0  # b is here now; a is not yet
    assert await a.inbox.conversations.others() == 1  # a counts b

    payload = {"kind": "mention", "channel": "#een", "user": "anna", "n": 0}
    assert await a.inbox.receive("console", "#een:0", payload)
    assert await a.inbox.drain() == 0  # fresh: b's to handle
    assert await b.inbox.drain() == 1

    payload = {**payload, "n": 1}
    assert await a.inbox.receive("console", "#een:1", payload)
    assert await a.inbox.drain() == 0
    await a.clock.advance(3)  # b did not take it (gone, or busy): a does, after the grace
    assert await a.inbox.drain() == 1
    assert await a.store.inbox_pending() == []


async def test_alone_the_process_that_fires_and_sends_handles_every_chat_at_once(
    two: tuple[Runtime, Runtime],
) -> None:
    a, _ = two
    a.inbox.fires_timers = lambda: True
    payload = {"kind": "mention", "channel": "#een", "user": "anna", "n": 0}
    assert await a.inbox.receive("console", "#een:0", payload)
    assert await a.inbox.drain() == 1  # the other runtime never drained: no one else here


@pytest.mark.parametrize("listed", [100, 1], ids=["all-listed", "beyond-the-listing"])
async def test_the_process_that_fires_takes_at_once_a_fresh_answer_a_timer_waits_for(
    two: tuple[Runtime, Runtime], listed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh chat is left to the other processes, but not one with an answer a run's
    timer waits for: the process that fires the timers takes that answer at once, and
    then the timer (`Inbox._answers_first`), also when the answer lies beyond the rows
    one drain lists (read from the inbox then)."""
    from bot.runtime import inbox

    monkeypatch.setattr(inbox, "BATCH", listed)
    monkeypatch.setattr(inbox, "WINDOW", 1)
    a, b = two
    a.inbox.fires_timers = lambda: True
    b.inbox.fires_timers = lambda: False
    assert await b.inbox.conversations.others() == 0
    assert await a.inbox.conversations.others() == 1  # a counts b: fresh chats are b's
    handled: list[str] = []

    async def watched(row: InboxRow) -> None:
        handled.append(str(row.payload.get("timer") or row.payload.get("channel")))
        await a.store.inbox_done(row.id, a.clock.now())

    a.inbox._handle = watched  # type: ignore[method-assign]
    now = a.clock.now()
    answer = {"kind": "answer", "channel": "dm:anna", "user": "anna", "run": "r1"}
    assert await a.store.inbox_put("console", "a1", answer, now)
    other = {"kind": "mention", "channel": "#een", "user": "bram", "n": 0}
    assert await a.store.inbox_put("console", "m1", other, now)
    timer = {"kind": "timer", "timer": "afstemming:deadline", "run_id": "r1"}
    assert await a.store.inbox_put("timer", "t1", timer, now + timedelta(seconds=1))
    assert await a.inbox.drain() == 2
    assert handled == ["dm:anna", "afstemming:deadline"]  # the fresh mention is b's


async def test_the_process_that_fires_leaves_fresh_timers_of_no_run_to_the_others(
    two: tuple[Runtime, Runtime],
) -> None:
    """The runs' timers (bells) are the firing process's; an evaluation nudge, which
    starts a flow, is a conversation of its own that the others take first, as a chat."""
    a, b = two
    a.inbox.fires_timers = lambda: True
    b.inbox.fires_timers = lambda: False
    assert await b.inbox.conversations.others() == 0
    assert await a.inbox.conversations.others() == 1
    handled: list[tuple[str, str]] = []
    for name, runtime in (("a", a), ("b", b)):

        async def watched(row: InboxRow, name: str = name, runtime: Runtime = runtime) -> None:
            handled.append((name, str(row.payload["timer"])))
            await runtime.store.inbox_done(row.id, runtime.clock.now())

        runtime.inbox._handle = watched  # type: ignore[method-assign]
    now = a.clock.now()
    nudge = {"kind": "timer", "timer": "evaluation:e1:due"}
    bell = {"kind": "timer", "timer": "fase-1:bell", "run_id": "r1"}
    assert await a.store.inbox_put("timer", "timer:1", nudge, now)
    assert await a.store.inbox_put("timer", "timer:2", bell, now)
    assert await b.inbox.drain() == 1  # b never takes a run's timer
    assert await a.inbox.drain() == 1
    assert sorted(handled) == [("a", "fase-1:bell"), ("b", "evaluation:e1:due")]
    # Alone, or once the others left it waiting, the firing process takes it too.
    assert await a.store.inbox_put("timer", "timer:3", {**nudge, "timer": "e2"}, now)
    assert await a.inbox.drain() == 0
    await a.clock.advance(3)
    assert await a.inbox.drain() == 1
