"""The outbox and working hours: a nudge is delivered inside its person's hours, judged
when its turn comes (see "Working hours" in bot/runtime/outbox.py).

On a FakeClock against the FakeStore, as tests/runtime/test_outbox.py. The worker polls
once an hour here, so that a night passes in a few dozen passes rather than one a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.core.hours import WorkingHours
from bot.runtime.clock import FakeClock
from bot.runtime.delivery import Delivery
from bot.runtime.outbox import Outbox

from .fakes import FakeStore, RecordingAdapter, Response

AMS = ZoneInfo("Europe/Amsterdam")
# The team's day ends at 17:00 in Amsterdam (UTC+1 in March).
DAY = WorkingHours("Europe/Amsterdam", frozenset({1, 2, 3, 4, 5}), time(8, 30), time(17, 0))


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=AMS).astimezone(UTC)


@contextlib.asynccontextmanager
async def running(
    store: FakeStore, clock: FakeClock, respond: Callable[[Delivery], Response] | None = None
) -> AsyncIterator[tuple[RecordingAdapter, Outbox]]:
    adapter = RecordingAdapter(clock, respond=respond or (lambda d: None))
    outbox = Outbox(
        store, {adapter.platform: adapter}, clock, rng=random.Random(1), poll_interval=3600.0
    )
    task = asyncio.create_task(outbox.run())
    await clock.settle()
    try:
        yield adapter, outbox
    finally:
        outbox.stop()
        await asyncio.wait_for(task, 5)


async def test_a_nudge_whose_turn_comes_after_hours_waits_for_the_next_working_morning() -> None:
    """Queued at 16:59:58 behind 22 messages to the same person (one a second), its turn
    comes at 17:00:20: held to Wednesday 08:30, no attempt counted; the message written
    after it and the other chat's go that evening; the nudge goes in the morning."""
    clock = FakeClock(local("2026-03-03T16:59:58"))  # a Tuesday
    store = FakeStore()
    queue = [store.add_message("dm:7", clock.now()) for _ in range(22)]
    nudge = store.add_message("dm:7", clock.now(), kind="reminder", hours=DAY)
    after = store.add_message("dm:7", clock.now(), kind="reply")
    other = store.add_message("c2", clock.now())
    async with running(store, clock) as (adapter, _):
        await clock.advance(60)
        assert adapter.times(queue[-1].id) == [local("2026-03-03T17:00:19")]
        assert adapter.times(nudge.id) == []
        assert (nudge.status, nudge.attempts) == ("pending", 0)
        assert nudge.not_before == local("2026-03-04T08:30")
        assert adapter.times(after.id) == [local("2026-03-03T17:00:20")]
        assert adapter.times(other.id) == [local("2026-03-03T16:59:58")]

        await clock.advance((local("2026-03-04T09:00") - clock.now()).total_seconds())
    assert adapter.times(nudge.id) == [local("2026-03-04T08:30")]
    assert (nudge.status, nudge.attempts) == ("sent", 0)


async def test_a_nudge_whose_turn_comes_in_the_last_second_of_the_day_waits_too() -> None:
    """It would arrive after the day's end (`ARRIVAL_MARGIN`)."""
    clock = FakeClock(local("2026-03-03T16:59:59.500"))
    store = FakeStore()
    nudge = store.add_message("dm:7", clock.now(), kind="reminder", hours=DAY)
    async with running(store, clock) as (adapter, _):
        await clock.advance(5)
        assert adapter.times(nudge.id) == []
        assert nudge.not_before == local("2026-03-04T08:30")


async def test_a_nudge_inside_hours_goes_at_once() -> None:
    clock = FakeClock(local("2026-03-03T16:59:58"))
    store = FakeStore()
    nudge = store.add_message("dm:7", clock.now(), kind="reminder", hours=DAY)
    async with running(store, clock) as (adapter, _):
        await clock.advance(5)
    assert adapter.times(nudge.id) == [local("2026-03-03T16:59:58")]
    assert nudge.not_before == local("2026-03-03T16:59:58")


@pytest.mark.parametrize("kind", ["reminder", "bell", "reply"])
async def test_a_row_without_hours_goes_after_hours_as_before(kind: str) -> None:
    clock = FakeClock(local("2026-03-03T22:00"))
    store = FakeStore()
    row = store.add_message("dm:7", clock.now(), kind=kind)
    async with running(store, clock) as (adapter, _):
        await clock.advance(5)
    assert adapter.times(row.id) == [local("2026-03-03T22:00")]


async def test_held_nudges_do_not_hold_up_their_chat_before_the_morning_and_keep_their_order() -> (
    None
):
    """Held until 08:30, the nudges are read again from 07:30 (the worker looks an hour
    ahead) but stand aside: a bell at 08:00 to the same chat goes at once. At 08:30 the
    nudges go in the order they were written, a second apart."""
    clock = FakeClock(local("2026-03-03T20:00"))
    store = FakeStore()
    first = store.add_message("team", clock.now(), kind="reminder", hours=DAY)
    second = store.add_message("team", clock.now(), kind="reminder", hours=DAY)
    async with running(store, clock) as (adapter, outbox):
        await clock.advance(60)
        assert adapter.order() == []
        assert first.not_before == second.not_before == local("2026-03-04T08:30")
        await clock.advance((local("2026-03-04T08:00") - clock.now()).total_seconds())
        bell = store.add_message("team", clock.now(), kind="bell", priority=0)
        outbox.notify()
        await clock.advance(5)
        assert adapter.times(bell.id) == [local("2026-03-04T08:00")]
        await clock.advance((local("2026-03-04T08:31") - clock.now()).total_seconds())
    assert adapter.order("team") == [bell.id, first.id, second.id]
    assert adapter.times(first.id) == [local("2026-03-04T08:30")]
    assert adapter.times(second.id) == [local("2026-03-04T08:30:01")]


async def test_a_nudge_and_the_first_question_of_its_flow_keep_their_order() -> None:
    """A flow's preface and first question carry the same hours (Runs.start_flow): held
    together after hours, they go in their order in the morning; and a preface waiting
    for a retry inside hours keeps its place - only a row held for its hours stands aside."""
    clock = FakeClock(local("2026-03-03T17:00:20"))
    store = FakeStore()
    preface = store.add_message("dm:7", clock.now(), kind="say", hours=DAY)
    form = store.add_message("dm:7", clock.now(), kind="form", msg_key="form:x:7", hours=DAY)
    failed_once: set[int] = set()

    def respond(delivery: Delivery) -> Response:
        if delivery.id == preface.id and not failed_once:
            failed_once.add(delivery.id)
            return ConnectionError()
        return None

    async with running(store, clock, respond) as (adapter, _):
        await clock.advance(60)
        assert adapter.order() == []
        assert preface.not_before == form.not_before == local("2026-03-04T08:30")
        await clock.advance((local("2026-03-04T08:31") - clock.now()).total_seconds())
    assert adapter.order("dm:7") == [preface.id, preface.id, form.id]
    assert (preface.status, preface.attempts, form.status) == ("sent", 1, "sent")
    assert adapter.times(preface.id)[0] == local("2026-03-04T08:30")


async def test_a_held_nudge_is_logged_by_id_only(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(local("2026-03-03T17:00:20"))
    store = FakeStore()
    nudge = store.add_message(
        "dm:7", clock.now(), kind="reminder", text="Evaluatiemoment T-7", hours=DAY
    )
    with caplog.at_level(logging.INFO, logger="samen.outbox"):
        async with running(store, clock):
            await clock.advance(5)
    held = [r.getMessage() for r in caplog.records if "held" in r.getMessage()]
    assert held == [f"outbox row {nudge.id} (reminder): outside working hours, held"]
