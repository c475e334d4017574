"""The inbox is drained per conversation: in arrival order within a channel, channels side
by side (`Inbox.drain`, P1 in docs/performance.md). The real store and service; the
handling of each event is watched (and one is held up) by wrapping `Inbox._handle`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.store.tables import InboxRow
from bot.teams.commands import TeamCommands
from bot.wiring import Runtime
from tests.harness.console import console_world


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    async with console_world(tmp_path, start=start, data=tmp_path / "data") as world:
        yield world.runtime


async def mention(runtime: Runtime, channel: str, n: int) -> None:
    payload = {"kind": "mention", "channel": channel, "user": "anna", "n": n}
    assert await runtime.inbox.receive("console", f"{channel}:{n}", payload)


def recorded(runtime: Runtime) -> list[str]:
    """What the inbox handles from now on, in order: each event's timer name or answer
    value (the event is only marked done, not dispatched)."""
    handled: list[str] = []

    async def watched(row: InboxRow) -> None:
        handled.append(str(row.payload.get("timer") or row.payload.get("value")))
        await runtime.store.inbox_done(row.id, runtime.clock.now())

    runtime.inbox._handle = watched  # type: ignore[method-assign]
    return handled


async def test_a_slow_channel_holds_up_only_itself(runtime: Runtime) -> None:
    service = runtime.inbox
    handled: list[tuple[str, int]] = []
    held = asyncio.Event()
    original = service._handle

    async def watched(row: InboxRow) -> None:
        channel, n = str(row.payload["channel"]), int(row.payload["n"])
        if (channel, n) == ("#traag", 0):
            await held.wait()  # e.g. a long export for this team
        await original(row)
        handled.append((channel, n))

    service._handle = watched  # type: ignore[method-assign]
    for n in range(3):
        await mention(runtime, "#traag", n)
        await mention(runtime, "#vlot", n)
    drain = asyncio.create_task(service.drain())
    for _ in range(200):
        if len(handled) == 3:
            break
        await asyncio.sleep(0.01)
    assert handled == [("#vlot", 0), ("#vlot", 1), ("#vlot", 2)]  # not behind #traag
    held.set()
    assert await drain == 6
    assert [n for channel, n in handled if channel == "#traag"] == [0, 1, 2]  # in order
    assert await runtime.store.inbox_pending() == []


async def test_a_batch_reads_its_teams_at_once_and_later_events_see_what_earlier_ones_changed(
    runtime: Runtime,
) -> None:
    service, store = runtime.inbox, runtime.store
    for channel in ("#a", "#b", "#c"):  # the teams exist, anna is in each
        await mention(runtime, channel, 0)
    await service.drain()
    reads: list[list[tuple[str, str, str]]] = []  # the keys of each read of teams
    read = store.teams_and_members

    async def counted(keys: Iterable[tuple[str, str, str]]) -> Any:
        reads.append(sorted(keys))
        return await read(reads[-1])

    store.teams_and_members = counted  # type: ignore[method-assign]
    # In #a anna switches the team to English, then mentions the bot: the second event
    # must see the first one's change, not the team as the batch found it.
    setting = {"kind": "command", "channel": "#a", "user": "anna", "command": "samen"}
    assert await service.receive("console", "#a:taal", {**setting, "args": "taal en"})
    await mention(runtime, "#a", 1)
    await mention(runtime, "#b", 1)
    await mention(runtime, "#c", 1)
    assert await service.drain() == 4
    # One read for the three conversations' first events, one for #a's second.
    assert reads == [
        [("console", "#a", "anna"), ("console", "#b", "anna"), ("console", "#c", "anna")],
        [("console", "#a", "anna")],
    ]
    texts = [
        str(q.message.get("text", ""))
        for q in await store.outbox_due(datetime(2026, 11, 24, tzinfo=UTC))
    ]
    team_a = await store.team_for_channel("console", "#a", now=datetime.now(UTC))
    assert team_a.language == "en"
    teams = TeamCommands(store, runtime.runs.flows, runtime.runs, runtime.outgoing)
    help_en, help_nl = teams.help_text("en"), teams.help_text("nl")
    assert help_en != help_nl
    assert texts.count(help_en) == 1  # #a's answer after the switch, in English
    assert texts.count(help_nl) == 5  # the first three, and #b's and #c's now


async def test_a_timer_that_falls_due_mid_batch_goes_before_the_rest_of_the_batch(
    runtime: Runtime,
) -> None:
    """A bell must not wait for a batch of a hundred answers: the lanes stop at their
    next event and the drain reads again, timers first (P7 in docs/performance.md)."""
    service = runtime.inbox
    handled: list[str] = []
    original = service._handle

    async def watched(row: InboxRow) -> None:
        await original(row)
        handled.append("timer" if row.platform == "timer" else str(row.payload["n"]))
        if len(handled) == 2:  # the scheduler fires a timer while the batch is in hand
            now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
            await runtime.store.inbox_put("timer", "timer:bel", {"timer": "bel"}, now)
            await service.timer_due()

    service._handle = watched  # type: ignore[method-assign]
    for n in range(20):
        await mention(runtime, "#druk", n)
    assert await service.drain() == 21
    # The event in flight finishes; then the timer; then the rest, still in order.
    assert handled[:3] == ["0", "1", "timer"]
    assert handled[3:] == [str(n) for n in range(2, 20)]
    assert await runtime.store.inbox_pending() == []


async def test_an_event_whose_database_connection_broke_stays_new_and_is_handled_next_time(
    runtime: Runtime,
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    service = runtime.inbox
    original = service._handle
    broke: list[int] = []

    async def breaking(row: InboxRow) -> None:
        if not broke:  # the first try: the server restarted under it
            broke.append(row.id)
            raise DBAPIError("SELECT 1", {}, ConnectionError("gone"), connection_invalidated=True)
        await original(row)

    service._handle = breaking  # type: ignore[method-assign]
    await mention(runtime, "#a", 0)
    await mention(runtime, "#a", 1)
    assert await service.drain() == 0  # stopped at the broken one, nothing failed
    pending = await runtime.store.inbox_pending()
    assert [row.id for row in pending][:1] == broke and len(pending) == 2
    assert await service.drain() == 2  # the next drain handles both, in order
    assert await runtime.store.inbox_pending() == []
    async with runtime.store.engine.connect() as conn:
        failed = await conn.scalar(text("SELECT count(*) FROM inbox WHERE status != 'done'"))
    assert failed == 0


async def test_the_runs_timers_go_before_a_batch_of_feature_timers_that_fell_due_first(
    runtime: Runtime,
) -> None:
    service = runtime.inbox
    handled = recorded(runtime)
    for n in range(3):  # evaluation nudges fell due first: timers of no run
        payload = {"kind": "timer", "timer": f"evaluation:e{n}:due"}
        assert await service.receive("timer", f"e{n}", payload)
    bell = {"kind": "timer", "timer": "bell:r1:fase-1", "run_id": "r1"}
    assert await service.receive("timer", "r1", bell)
    assert await service.drain() == 4
    assert handled == [
        "bell:r1:fase-1",
        "evaluation:e0:due",
        "evaluation:e1:due",
        "evaluation:e2:due",
    ]


@pytest.mark.parametrize("batch", [100, 4], ids=["all-listed", "backlog-beyond-the-listing"])
async def test_a_runs_timer_waits_for_the_answers_to_its_run_received_before_it(
    runtime: Runtime, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer acknowledged before a deadline counts, even when the deadline's timer
    reaches the inbox before the answer was handled (timers go first): the timer waits
    for it. Answers to other runs, answers received after it and a wait past
    `ANSWERS_FIRST` hold no timer up. With a backlog larger than one listing the answers
    are looked up in the inbox."""
    from datetime import timedelta

    from bot.runtime import inbox
    from bot.runtime.inbox import ANSWERS_FIRST

    monkeypatch.setattr(inbox, "BATCH", batch)  # 4: the listing holds the timers and a1 only
    service, store = runtime.inbox, runtime.store
    handled = recorded(runtime)
    now = runtime.clock.now()
    second = timedelta(seconds=1)

    def answer(run: str, value: str) -> dict[str, str]:
        return {"kind": "answer", "channel": "dm:anna", "user": "anna", "run": run} | {
            "step": "afstemming",
            "question": "rol",
            "value": value,
        }

    def timer(run: str, name: str) -> dict[str, str]:
        return {"kind": "timer", "timer": name, "run_id": run}

    await store.inbox_put("console", "a1", answer("r1", "in time"), now - second)
    await store.inbox_put("console", "a2", answer("r2", "other run"), now - second)
    await store.inbox_put("timer", "t1", timer("r1", "afstemming:deadline"), now)
    await store.inbox_put("timer", "t1b", timer("r1", "afstemming:remind"), now)
    await store.inbox_put("timer", "t3", timer("r3", "x:deadline"), now)
    await store.inbox_put("console", "a3", answer("r3", "after its timer"), now + second)
    for n in range(5):  # anna goes on answering another run
        await store.inbox_put("console", f"b{n}", answer("r5", f"later {n}"), now + second)
    assert await service.drain() == 11
    # r3's timer goes first: its answer came after it. r1's timers wait for r1's answer,
    # in their own order, and go as soon as it is handled, not after anna's later
    # answers; r2's answer holds nothing up.
    assert handled[0] == "x:deadline"
    at = handled.index("in time")
    assert handled[at + 1 : at + 3] == ["afstemming:deadline", "afstemming:remind"]
    assert handled[-5:] == [f"later {n}" for n in range(5)]

    # A timer waits no longer than ANSWERS_FIRST (the answer's conversation may be stuck).
    handled.clear()
    late = now - ANSWERS_FIRST - second
    await store.inbox_put("console", "a4", answer("r4", "stuck"), late - second)
    await store.inbox_put("timer", "t4", timer("r4", "y:deadline"), late)
    assert await service.drain() == 2
    assert handled == ["y:deadline", "stuck"]


async def test_an_answer_a_timer_waits_for_beyond_the_listing_is_fetched_and_goes_first(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a listing holds only timers that wait, and what they wait for lies beyond it
    (a backlog longer than one listing), the answer is read from the inbox with what
    stands before it in its conversation, and handled before the timers."""
    from datetime import timedelta

    from bot.runtime import inbox

    monkeypatch.setattr(inbox, "BATCH", 2)
    service, store = runtime.inbox, runtime.store
    handled = recorded(runtime)
    now = runtime.clock.now()
    answer = {"kind": "answer", "channel": "dm:anna", "user": "anna", "run": "r1", "value": "a"}
    earlier = {**answer, "run": "r9", "value": "before a"}
    await store.inbox_put("console", "a0", earlier, now - timedelta(seconds=2))
    await store.inbox_put("console", "a1", answer, now - timedelta(seconds=1))
    for name in ("x:deadline", "x:remind"):
        await store.inbox_put("timer", name, {"timer": name, "run_id": "r1"}, now)
    assert await service.drain() == 4
    assert handled == ["before a", "a", "x:deadline", "x:remind"]


async def test_a_handled_timer_keeps_its_event_as_it_was_and_an_answer_is_scrubbed(
    runtime: Runtime,
) -> None:
    """Once handled, an event keeps its routing only: an answer loses its text; a timer's
    event is routing only, so it is neither read back nor written again."""
    from sqlalchemy import text

    store, now = runtime.store, runtime.clock.now()
    timer = {"kind": "timer", "timer": "x:bell", "run_id": "r1", "timer_row": 7}
    answer = {"kind": "answer", "channel": "dm:anna", "user": "anna", "run": "r1", "value": "moe"}
    timer_id = await store.inbox_put("timer", "timer:7", timer, now)
    answer_id = await store.inbox_put("console", "a1", answer, now)
    assert timer_id is not None and answer_id is not None

    async def raw() -> dict[int, str]:
        async with store.engine.connect() as conn:
            found = await conn.execute(text("SELECT id, payload FROM inbox"))
            return {int(id): str(payload) for id, payload in found}

    before = await raw()
    for id in (timer_id, answer_id):
        await store.inbox_done(id, now)
    after = await raw()
    assert after[timer_id] == before[timer_id]  # the same ciphertext: not rewritten
    assert after[answer_id] != before[answer_id]
    assert await store.inbox_new_among([timer_id, answer_id]) == []  # handled both
    async with store.sessionmaker() as s:
        payloads = {row.id: row.payload for row in await s.scalars(select(InboxRow))}
    assert payloads[timer_id] == timer
    assert "value" not in payloads[answer_id]


async def test_a_bell_is_listed_before_a_backlog_of_timers_of_no_run(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More evaluation nudges waiting than one drain lists (other processes take them
    first, as chats, and are behind) must not keep a bell that fell due later out of the
    listing: the runs' timers are listed first."""
    from bot.runtime import inbox

    monkeypatch.setattr(inbox, "BATCH", 3)
    service, store = runtime.inbox, runtime.store
    handled = recorded(runtime)
    now = runtime.clock.now()
    for n in range(5):
        nudge = {"kind": "timer", "timer": f"evaluation:e{n}:due"}
        await store.inbox_put("timer", f"e{n}", nudge, now)
    bell = {"kind": "timer", "timer": "fase-1:bell", "run_id": "r1"}
    await store.inbox_put("timer", "bell", bell, now)
    assert [row.payload["timer"] for row in await store.inbox_pending(limit=1)] == ["fase-1:bell"]
    assert await service.drain() == 6
    assert handled[0] == "fase-1:bell"
