"""The outbox worker: order, fairness, 429s, retries, edits and threads (R-OUT-1..4).

Every test drives the worker on a FakeClock against a FakeStore and a RecordingAdapter;
only `test_a_call_that_hangs_times_out_and_is_retried` waits (at most 2 s) in real time,
because the call timeout is about real network time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.effects import Message, MessageKind, OptionView, QuestionView
from bot.runtime.clock import FakeClock
from bot.runtime.delivery import Delivery, DeliveryResult, Limits
from bot.runtime.outbox import Courier, Outbox, message_from_json, message_to_json
from bot.runtime.ratelimit import windows_for
from bot.store.tables import OutboxRow

from .fakes import SLACK, TELEGRAM, FakeRun, FakeStore, RecordingAdapter, Response, at, seconds

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DELETE_LIMIT = (50, 60.0)  # Slack's chat.delete, Tier 3 (the Slack adapter declares it)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@contextlib.asynccontextmanager
async def running(outbox: Outbox, clock: FakeClock) -> AsyncIterator[Outbox]:
    task = asyncio.create_task(outbox.run())
    await clock.settle()
    try:
        yield outbox
    finally:
        outbox.stop()
        await asyncio.wait_for(task, 5)


def make(store: FakeStore, clock: FakeClock, *adapters: Courier, **options: object) -> Outbox:
    by_platform: Mapping[str, Courier] = {a.platform: a for a in adapters}
    options.setdefault("rng", random.Random(1))
    return Outbox(store, by_platform, clock, **options)  # type: ignore[arg-type]


def max_in_window(times: list[datetime], per: float) -> int:
    """The most sends in any window of `per` seconds."""
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if seconds(first, t) < per) for i, first in enumerate(times)),
        default=0,
    )


def test_a_message_survives_the_json_round_trip_with_its_questions() -> None:
    message = Message(
        kind=MessageKind.form,
        text="Hoe sta je erin?",
        questions=(
            QuestionView(
                step="s1",
                id="rol",
                type="choice",
                text="Welke rol?",
                options=(OptionView("leiden", "Leiden"), OptionView("obs", "Observeren")),
                current="leiden",
            ),
            QuestionView(
                step="s1",
                id="schaal",
                type="scale",
                text="Energie",
                help="1-5",
                min=1,
                max=5,
                labels=((1, "leeg"), (5, "vol")),
                optional=True,
                not_applicable=True,
                current=("a", "b"),
            ),
        ),
        controls=("pause", "extend"),
        closed=True,
        late=True,
    )
    data = message_to_json(message, thread=True, group=True, user="U1")
    assert message_from_json(data) == message
    assert (data["thread"], data["group"], data["user"]) == (True, True, "U1")
    assert message_from_json(message_to_json(Message(MessageKind.say, "hoi"))) == Message(
        MessageKind.say, "hoi"
    )


async def test_messages_to_one_conversation_go_out_in_order_and_a_second_apart(
    store: FakeStore, clock: FakeClock
) -> None:
    """R-OUT-4: a later bell to the same chat does not overtake the older messages."""
    adapter = RecordingAdapter(clock)
    a = [store.add_message("c1", T0) for _ in range(4)]
    b = [store.add_message("c2", T0) for _ in range(2)]
    a.append(store.add_message("c1", T0, kind="bell", priority=0))
    async with running(make(store, clock, adapter), clock):
        await clock.advance(10)
    assert adapter.order("c1") == [r.id for r in a]
    assert adapter.order("c2") == [r.id for r in b]
    times = [t for t, d in adapter.deliveries if d.chat == "c1"]
    assert all(seconds(x, y) >= 1.0 for x, y in itertools.pairwise(times))
    assert all(r.status == "sent" and r.platform_ref == f"ref-{r.id}" for r in a + b)


async def test_a_bell_is_not_starved_behind_a_hundred_reminders_to_other_chats(
    store: FakeStore, clock: FakeClock
) -> None:
    """R-OUT-4 under Slack's workspace cap of 8/s: the bell goes first although newest."""
    adapter = RecordingAdapter(clock, platform="slack", limits=SLACK)
    for i in range(100):
        store.add_message(f"C{i}", T0, kind="reminder", platform="slack")
    bell = store.add_message("Cmeeting", T0, kind="bell", priority=0, platform="slack")
    async with running(make(store, clock, adapter), clock):
        await clock.advance(0.5)
        assert adapter.order()[0] == bell.id
        assert adapter.times(bell.id) == [T0]
        await clock.advance(15)
    assert len(adapter.deliveries) == 101
    assert max_in_window([t for t, _ in adapter.deliveries], 1.0) <= 8


async def test_a_telegram_group_gets_at_most_twenty_messages_a_minute(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(clock)
    rows = [store.add_message("-100", T0, group=True) for _ in range(25)]
    async with running(make(store, clock, adapter), clock):
        await clock.advance(30)
        assert len(adapter.deliveries) == 20
        await clock.advance(40)
    assert adapter.order() == [r.id for r in rows]
    assert max_in_window([t for t, _ in adapter.deliveries], 60.0) <= 20
    assert all(d.group for _, d in adapter.deliveries)


async def test_a_429_pauses_only_that_chat_for_at_least_retry_after(
    store: FakeStore, clock: FakeClock
) -> None:
    """R-OUT-2: the throttled chat waits Retry-After; the others keep flowing."""
    said_429: list[int] = []

    def respond(d: Delivery) -> DeliveryResult | None:
        if d.chat == "c1" and not said_429:
            said_429.append(d.id)
            return DeliveryResult(retry_after=30)
        return None

    adapter = RecordingAdapter(clock, respond=respond)
    r1, r2 = store.add_message("c1", T0), store.add_message("c1", T0)
    others = [store.add_message(f"c{i}", T0) for i in range(2, 6)] + [store.add_message("c2", T0)]
    outbox = make(store, clock, adapter)
    async with running(outbox, clock):
        await clock.advance(5)
        assert {d.id for _, d in adapter.deliveries} == {r1.id} | {r.id for r in others}
        await clock.advance(24.9)
        assert adapter.order("c1") == [r1.id]
        await clock.advance(10)
    first, again = adapter.times(r1.id)
    assert seconds(first, again) >= 30
    assert adapter.order("c1") == [r1.id, r1.id, r2.id]
    assert seconds(again, adapter.times(r2.id)[0]) >= 1
    assert outbox.stats["telegram"].last_429 == T0
    assert (r1.status, r1.attempts, r1.error) == ("sent", 1, "429")


async def test_a_failing_call_is_retried_with_backoff_and_failed_after_max_attempts(
    store: FakeStore, clock: FakeClock
) -> None:
    """R-OUT-3: bounded retries with jitter, then failed with the reason."""
    adapter = RecordingAdapter(
        clock, respond=lambda d: ConnectionError("reset") if d.chat == "c1" else None
    )
    doomed = store.add_message("c1", T0)
    fine = store.add_message("c2", T0)
    outbox = make(store, clock, adapter, max_attempts=5)
    async with running(outbox, clock):
        await clock.advance(300)
    times = adapter.times(doomed.id)
    assert len(times) == 5
    for attempt, (x, y) in enumerate(itertools.pairwise(times), start=1):
        assert 0.5 * 2**attempt <= seconds(x, y) <= 1.5 * 2**attempt + 1.0
    assert (doomed.status, doomed.error) == ("failed", "ConnectionError")
    assert fine.status == "sent" and adapter.times(fine.id) == [T0]
    assert outbox.status()["telegram"] == {"sent": 1, "retried": 4, "failed": 1, "last_429": None}


async def test_the_backoff_is_jittered(store: FakeStore, clock: FakeClock) -> None:
    gaps = []
    for seed in (1, 2):
        clock, store = FakeClock(T0), FakeStore()
        adapter = RecordingAdapter(clock, respond=lambda d: OSError())
        row = store.add_message("c1", T0)
        async with running(make(store, clock, adapter, rng=random.Random(seed)), clock):
            await clock.advance(30)
        times = adapter.times(row.id)
        gaps.append(seconds(times[0], times[1]))
    assert gaps[0] != gaps[1]


async def test_a_call_that_hangs_times_out_and_is_retried(
    store: FakeStore, clock: FakeClock
) -> None:
    """The one real-time test of the call timeout: 50 ms, bounded by 2 s."""
    calls: list[int] = []

    class Hanging:
        platform, limits = "telegram", TELEGRAM

        async def deliver(self, delivery: Delivery) -> DeliveryResult:
            calls.append(delivery.id)
            if len(calls) == 1:
                await asyncio.Event().wait()  # never answers
            return DeliveryResult.sent(ref="late-but-fine")

    row = store.add_message("c1", T0)
    async with running(make(store, clock, Hanging(), call_timeout=0.05), clock):
        async with asyncio.timeout(2):
            while row.attempts == 0:
                await asyncio.sleep(0.01)
        assert (row.status, row.error) == ("pending", "timeout")
        await clock.advance(4)
    assert calls == [row.id, row.id]
    assert (row.status, row.platform_ref) == ("sent", "late-but-fine")


async def test_an_edit_waits_for_its_original_and_carries_its_ref(
    store: FakeStore, clock: FakeClock
) -> None:
    throttled: list[int] = []

    def respond(d: Delivery) -> DeliveryResult | None:
        if d.op == "send" and not throttled:
            throttled.append(d.id)
            return DeliveryResult(retry_after=10)
        return None

    adapter = RecordingAdapter(clock, respond=respond)
    original = store.add_message("U1", T0, kind="form", msg_key="form")
    edit = store.add_message("U1", T0, kind="form", op="edit", msg_key="form")
    async with running(make(store, clock, adapter), clock):
        await clock.advance(9)
        assert adapter.order() == [original.id]
        await clock.advance(5)
    assert adapter.order() == [original.id, original.id, edit.id]
    ((_, delivered),) = [(t, d) for t, d in adapter.deliveries if d.id == edit.id]
    assert delivered.op == "edit" and delivered.ref == f"ref-{original.id}"


async def test_the_sender_knows_the_ref_of_what_it_sent_and_edits_it_without_a_read(
    store: FakeStore, clock: FakeClock
) -> None:
    asked: list[tuple[str, str]] = []
    read = store.message_ref

    async def counted(run_id: str, msg_key: str) -> str | None:
        asked.append((run_id, msg_key))
        return await read(run_id, msg_key)

    store.message_ref = counted  # type: ignore[method-assign]
    adapter = RecordingAdapter(clock)
    original = store.add_message("U1", T0, kind="form", msg_key="form")
    async with running(make(store, clock, adapter), clock):
        await clock.advance(1)
        edit = store.add_message("U1", clock.now(), kind="form", op="edit", msg_key="form")
        await clock.advance(2)
    ((_, delivered),) = [(t, d) for t, d in adapter.deliveries if d.id == edit.id]
    assert delivered.ref == f"ref-{original.id}"
    assert asked == []  # its own send told it


async def test_an_edit_of_a_message_queued_for_another_chat_waits_for_it(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(clock)
    store.add_message("c1", T0)  # keeps c1 busy for a second
    original = store.add_message("c1", T0, kind="form", msg_key="form")
    edit = store.add_message("c2", T0, kind="form", op="edit", msg_key="form")
    async with running(make(store, clock, adapter), clock):
        await clock.advance(0.5)
        assert edit.id not in adapter.order()
        await clock.advance(2)
    assert adapter.order().index(original.id) < adapter.order().index(edit.id)
    assert adapter.deliveries[-1][1].ref == f"ref-{original.id}"
    # It waited for the original instead of spending an attempt without a ref.
    assert (edit.attempts, edit.error) == (0, "")
    assert adapter.times(edit.id) == adapter.times(original.id)


async def test_an_edit_whose_original_never_arrived_fails_with_a_reason(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(
        clock, respond=lambda d: DeliveryResult(failed="chat not found") if d.op == "send" else None
    )
    original = store.add_message("U1", T0, kind="form", msg_key="form")
    edit = store.add_message("U1", T0, kind="form", op="edit", msg_key="form")
    async with running(make(store, clock, adapter, max_attempts=3), clock):
        await clock.advance(60)
    assert (original.status, original.error) == ("failed", "chat not found")
    assert (edit.status, edit.error) == ("failed", "original not delivered")
    assert adapter.order() == [original.id]  # the edit never reached the platform


async def test_thread_messages_go_into_the_runs_thread_and_the_first_thread_is_kept(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(
        clock, respond=lambda d: DeliveryResult.sent(ref=f"ref-{d.id}", thread="th-1")
    )
    store.runs["run-1"] = FakeRun()
    opening = store.add_message("C1", T0, kind="phase")
    reply = store.add_message("C1", T0, thread=True)
    async with running(make(store, clock, adapter), clock):
        await clock.advance(3)
    by_id = {d.id: d for _, d in adapter.deliveries}
    assert by_id[opening.id].thread is None
    assert by_id[reply.id].thread == "th-1"
    assert store.runs["run-1"].thread == "th-1"
    # The run had its thread after the first message: it is set once.
    assert [c for c in store.calls if c[0] == "set_run_thread"] == [("set_run_thread", "run-1")]


async def test_the_worker_waits_on_the_clock_and_wakes_at_once_on_notify(
    store: FakeStore, clock: FakeClock
) -> None:
    """No blocking sleep: the idle worker is parked on clock.sleep, and a notify or the
    next allowed moment wakes it."""
    adapter = RecordingAdapter(clock)
    outbox = make(store, clock, adapter, poll_interval=5.0)
    async with running(outbox, clock):
        assert clock.sleeping == 1 and clock.sleeps == [5.0]
        first, second = store.add_message("c1", T0), store.add_message("c1", T0)
        outbox.notify()
        await clock.settle()
        assert adapter.order() == [first.id] and clock.now() == T0
        # Waiting for c1's next slot is a clock sleep of exactly that long.
        assert clock.sleeps[-1] == pytest.approx(1.0)
        await clock.advance(0.999)
        assert adapter.order() == [first.id]
        await clock.advance(0.001)
        assert adapter.order() == [first.id, second.id]
        assert adapter.times(second.id) == [T0 + timedelta(seconds=1)]


async def test_stop_lets_the_call_in_flight_finish(store: FakeStore, clock: FakeClock) -> None:
    release = asyncio.Event()

    class Slow:
        platform, limits = "telegram", TELEGRAM

        async def deliver(self, delivery: Delivery) -> DeliveryResult:
            await release.wait()
            return DeliveryResult.sent(ref="r")

    row = store.add_message("c1", T0)
    outbox = make(store, clock, Slow())
    task = asyncio.create_task(outbox.run())
    await clock.settle()
    outbox.stop()
    await clock.settle()
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 1)
    assert row.status == "sent"


async def test_a_row_for_a_platform_without_adapter_is_failed_with_a_reason(
    store: FakeStore, clock: FakeClock
) -> None:
    row = store.add_message("C1", T0, platform="slack")
    async with running(make(store, clock, RecordingAdapter(clock)), clock):
        await clock.advance(1)
    assert (row.status, row.error) == ("failed", "no adapter for slack")


async def test_the_worker_survives_a_store_outage_and_logs_only_its_type(
    store: FakeStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = RecordingAdapter(clock)
    row = store.add_message("c1", T0)
    real_due = store.outbox_due
    down = True

    async def flaky(now: datetime, limit: int = 200, skip: Any = (), known: Any = None) -> list:  # type: ignore[type-arg]
        if down:
            # Driver errors can quote the statement and its parameters: message text.
            raise ConnectionRefusedError("INSERT ... 'Mevrouw Jansen'")
        return await real_due(now, limit, skip, known)

    store.outbox_due = flaky  # type: ignore[method-assign]
    async with running(make(store, clock, adapter), clock):
        await clock.advance(3)
        assert adapter.order() == []
        down = False
        await clock.advance(1)
    assert row.status == "sent"
    assert "ConnectionRefusedError" in caplog.text and "Jansen" not in caplog.text


async def test_logs_hold_ids_and_kinds_but_never_message_text(
    store: FakeStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """R-PRV-8: the text and the exception's message stay out of the logs."""
    secret = "Mevrouw-Jansen-GEHEIM"
    answers: Iterator[Response] = iter(
        [
            DeliveryResult(retry_after=2),
            ConnectionError(secret),
            DeliveryResult(failed="blocked by user"),
        ]
    )
    adapter = RecordingAdapter(clock, respond=lambda d: next(answers, None))
    rows = [store.add_message("c1", T0, text=f"{secret} {i}") for i in range(3)]
    caplog.set_level(logging.DEBUG, logger="samen")
    async with running(make(store, clock, adapter), clock):
        await clock.advance(30)
    assert secret not in caplog.text
    assert f"outbox row {rows[0].id}" in caplog.text
    assert all(secret in d.message.text for _, d in adapter.deliveries)  # it was sent


async def test_a_person_who_never_started_the_bot_parks_the_message_without_burning_retries(
    store: FakeStore, clock: FakeClock
) -> None:
    """A 'blocked until start' answer is no failure: the row waits (not retried, not
    failed), the hook hears of it once per row, and other chats keep flowing."""
    adapter = RecordingAdapter(
        clock,
        respond=lambda d: DeliveryResult(blocked_until_start=True) if d.chat == "dm:7" else None,
    )
    parked = store.add_message("dm:7", T0)
    fine = store.add_message("c2", T0)
    heard: list[int] = []

    async def on_blocked(row: OutboxRow, courier: Courier) -> None:
        heard.append(row.id)

    outbox = make(store, clock, adapter, on_blocked=on_blocked)
    async with running(outbox, clock):
        await clock.advance(600)
    assert adapter.times(parked.id) == [T0]  # one call, no retries
    assert (parked.status, parked.attempts) == ("waiting", 0)
    assert heard == [parked.id]
    assert fine.status == "sent"
    assert outbox.status()["telegram"] == {"sent": 1, "retried": 0, "failed": 0, "last_429": None}


async def test_while_the_overall_budget_is_spent_the_worker_does_not_reread_the_rows(
    store: FakeStore, clock: FakeClock
) -> None:
    """In a fan-out every finished call wakes the worker; with the workspace's budget
    spent it must not read a batch of rows each time only to start nothing (P2)."""
    adapter = RecordingAdapter(clock, platform="slack", limits=SLACK)
    for i in range(20):
        store.add_message(f"D{i}", T0, kind="reminder", platform="slack")
    outbox = make(store, clock, adapter)
    assert await outbox.pump() == at(T0, seconds=1)  # eight calls start; the cap is spent
    await outbox.flush()
    reads = sum(1 for name, _ in store.calls if name == "outbox_due")
    for _ in range(5):  # woken again and again by the calls that ended
        assert await outbox.pump() == at(T0, seconds=1)
    assert sum(1 for name, _ in store.calls if name == "outbox_due") == reads
    await clock.advance(1)
    await outbox.pump()  # the budget is back: the rows are read and the next eight go
    await outbox.flush()
    assert sum(1 for name, _ in store.calls if name == "outbox_due") == reads + 1
    assert len(adapter.deliveries) == 16


async def test_a_call_that_ends_while_the_pass_marks_others_is_not_sent_again(
    clock: FakeClock,
) -> None:
    """Deliveries are marked sent in one transaction at the start of the next pass. A call
    that ends during that transaction is not marked by it, and its row still reads as
    pending: the pass must leave it alone instead of sending it a second time."""
    slow_may_end = asyncio.Event()

    class MarkingStore(FakeStore):
        async def outbox_sent_many(self, sent: Any, threads: Any) -> None:
            slow_may_end.set()  # the slow call ends in the middle of this transaction
            for _ in range(20):
                await asyncio.sleep(0)
            await super().outbox_sent_many(sent, threads)

    store = MarkingStore()
    quick = store.add_message("C1", T0)
    slow = store.add_message("C2", T0)
    after = store.add_message("C1", T0)

    @dataclass
    class SlowCourier:
        platform: str = "telegram"
        # No limit that binds: a second send to C2 would go at once, not be held back.
        limits: Limits = field(default_factory=lambda: Limits((100, 1.0), None, (100, 1.0)))
        calls: list[int] = field(default_factory=list)
        ended: list[int] = field(default_factory=list)

        async def deliver(self, delivery: Delivery) -> DeliveryResult:
            self.calls.append(delivery.id)
            if delivery.id == slow.id:
                await slow_may_end.wait()
            self.ended.append(delivery.id)
            return DeliveryResult.sent(ref=f"ref-{delivery.id}")

    courier = SlowCourier()
    outbox = make(store, clock, courier)  # type: ignore[arg-type]
    await outbox.pump()  # starts `quick` (C1) and `slow` (C2)
    while quick.id not in courier.ended:
        await asyncio.sleep(0)  # `quick` ends; `slow` waits
    for _ in range(3):
        await asyncio.sleep(0)  # and its outcome is noted
    await outbox.pump()  # marks `quick`; `slow` ends meanwhile, unmarked
    await outbox.flush()
    await outbox.pump()
    await outbox.flush()
    assert sorted(courier.calls) == sorted([quick.id, slow.id, after.id])
    assert all(store.outbox[r.id].status == "sent" for r in (quick, slow, after))
    assert all(store.outbox[r.id].attempts == 0 for r in (quick, slow, after))


# ---------------------------------------------------------------------------- deletes


async def test_a_delete_carries_its_ref_and_no_text_and_its_row_goes_once_done(
    store: FakeStore, clock: FakeClock
) -> None:
    """`samen forget`'s delete rows name the person's chat: delivered, they leave no row."""
    adapter = RecordingAdapter(clock)
    row = store.add_delete("dm:7", "7:42", T0)
    outbox = make(store, clock, adapter)
    async with running(outbox, clock):
        await clock.advance(1)
    ((_, delivered),) = adapter.deliveries
    assert (delivered.op, delivered.chat, delivered.ref) == ("delete", "dm:7", "7:42")
    assert delivered.message.text == "" and delivered.message.questions == ()
    assert row.id not in store.outbox
    assert store.dropped == [(row.id, None)]
    assert outbox.status()["telegram"]["sent"] == 1


async def test_a_delete_the_platform_refuses_is_reported_once_and_never_retried(
    store: FakeStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram after 48 hours: one call, the refusal recorded, the row gone all the same."""
    adapter = RecordingAdapter(
        clock, respond=lambda d: DeliveryResult(failed="message_cant_be_deleted")
    )
    row = store.add_delete("dm:7", "7:42", T0)
    outbox = make(store, clock, adapter)
    caplog.set_level(logging.INFO, logger="samen")
    async with running(outbox, clock):
        await clock.advance(600)
    assert adapter.times(row.id) == [T0]
    assert store.dropped == [(row.id, "message_cant_be_deleted")]
    assert row.id not in store.outbox
    assert outbox.status()["telegram"]["failed"] == 1
    assert f"outbox row {row.id} (delete): not deleted on the platform" in caplog.text
    assert "7:42" not in caplog.text and "dm:7" not in caplog.text


async def test_a_delete_that_keeps_failing_in_transport_is_retried_then_given_up(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(clock, respond=lambda d: ConnectionError("reset"))
    row = store.add_delete("dm:7", "7:42", T0)
    async with running(make(store, clock, adapter, max_attempts=3), clock):
        await clock.advance(120)
    assert len(adapter.times(row.id)) == 3
    assert store.dropped == [(row.id, "ConnectionError")]
    assert row.id not in store.outbox  # never left behind as a failed row


async def test_a_429_on_a_delete_waits_retry_after_and_the_delete_then_goes(
    store: FakeStore, clock: FakeClock
) -> None:
    answers: Iterator[Response] = iter([DeliveryResult(retry_after=5)])
    adapter = RecordingAdapter(clock, respond=lambda d: next(answers, None))
    row = store.add_delete("dm:7", "7:42", T0)
    async with running(make(store, clock, adapter), clock):
        await clock.advance(10)
    first, again = adapter.times(row.id)
    assert seconds(first, again) >= 5
    assert store.dropped == [(row.id, None)]


def test_a_delete_passes_the_windows_of_a_send_and_the_platforms_delete_window() -> None:
    limits = Limits(per_chat=(1, 1.0), overall=(8, 1.0), deletes=DELETE_LIMIT)
    send = windows_for("slack", limits, "D1")
    delete = windows_for("slack", limits, "D1", op="delete")
    assert delete[: len(send)] == send
    assert [(w.key, w.count, w.per) for w in delete[len(send) :]] == [
        (("delete", "slack"), 50, 60.0)
    ]


async def test_slack_deletes_keep_to_chat_delete_s_tier_3_and_do_not_hold_up_messages(
    store: FakeStore, clock: FakeClock
) -> None:
    """chat.delete allows about 50 calls a minute per workspace, whatever the channels;
    messages to other chats keep their own pace meanwhile."""
    slack = Limits(per_chat=(1, 1.0), overall=(8, 1.0), deletes=DELETE_LIMIT)
    adapter = RecordingAdapter(clock, platform="slack", limits=slack)
    deletes = [store.add_delete(f"D{i}", f"D{i}:1.{i}", T0, platform="slack") for i in range(70)]
    async with running(make(store, clock, adapter), clock):
        await clock.advance(30)
        bell = store.add_message("C1", clock.now(), kind="bell", priority=0, platform="slack")
        await clock.advance(29)
        assert len(store.dropped) == 50  # the window is spent until a minute has passed
        assert adapter.times(bell.id)  # a message is not held up by it
        await clock.advance(120)
    assert {row_id for row_id, _ in store.dropped} == {r.id for r in deletes}
    times = [t for t, d in adapter.deliveries if d.op == "delete"]
    assert max_in_window(times, 60.0) <= 50
    assert max_in_window(times, 1.0) <= 8


async def test_a_conversation_waiting_for_its_budget_is_not_read_again_until_then(
    store: FakeStore, clock: FakeClock
) -> None:
    """A bell and the next phase's header for one channel: the header waits a second for
    the channel's budget. Read on every pass meanwhile, such rows were most of the
    worker's work in a burst of bells (P4)."""
    adapter = RecordingAdapter(clock)
    bell = store.add_message("c1", T0)
    header = store.add_message("c1", T0)
    others = [store.add_message(f"c{i}", T0) for i in range(2, 6)]
    reads: list[set[int]] = []
    real = store.outbox_due

    async def watched(
        now: datetime, limit: int = 200, skip: Any = (), known: Any = None
    ) -> list[OutboxRow]:
        rows = await real(now, limit, skip, known)
        reads.append({r.id for r in rows})
        return rows

    store.outbox_due = watched  # type: ignore[method-assign]
    outbox = make(store, clock, adapter)
    await outbox.pump()
    await outbox.flush()  # the bell and the others went; the header is next for c1
    assert await outbox.pump() == at(T0, seconds=1)  # it waits a second: parked
    for _ in range(3):  # woken again and again: the header is not read meanwhile
        assert await outbox.pump() == at(T0, seconds=1)
    assert header.id in reads[1] and all(header.id not in ids for ids in reads[2:])
    await clock.advance(1)
    await outbox.pump()
    await outbox.flush()
    assert header.id in reads[-1]
    assert adapter.order() == [bell.id, *[o.id for o in others], header.id]


async def test_an_edit_waits_for_its_original_also_while_that_ones_chat_is_parked(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(clock)
    first = store.add_message("c1", T0)
    original = store.add_message("c1", T0, kind="form", msg_key="form")
    edit = store.add_message("c2", T0, kind="form", op="edit", msg_key="form")
    outbox = make(store, clock, adapter)
    await outbox.pump()
    await outbox.flush()  # `first` went; c1 waits a second for `original`: parked
    for _ in range(3):  # passes meanwhile do not read c1's rows: the edit still waits
        await outbox.pump()
        await outbox.flush()
    assert adapter.order() == [first.id]
    assert (edit.status, edit.attempts) == ("pending", 0)
    await clock.advance(1)
    for _ in range(2):
        await outbox.pump()
        await outbox.flush()
    assert adapter.order() == [first.id, original.id, edit.id]


# A workspace whose cap leaves a meeting's clock two slots of twenty.
ROOMY = Limits(per_chat=(1, 1.0), per_group=None, overall=(20, 1.0))


async def test_while_a_meeting_runs_a_bell_written_in_a_burst_goes_at_once(
    store: FakeStore, clock: FakeClock
) -> None:
    """A backlog of forms spends the workspace's budget in the first moment of each
    second; a bell written after that waited for the next second (P7: p99 0.56 s from
    commit to Slack). While a meeting is under way the forms leave room for it."""
    adapter = RecordingAdapter(clock, platform="slack", limits=ROOMY)
    store.add_message("Cmeeting", T0, kind="phase", priority=1, platform="slack")
    outbox = make(store, clock, adapter)
    await outbox.pump()
    await outbox.flush()  # the meeting's first phase is on
    await clock.advance(2)
    for i in range(100):
        store.add_message(f"D{i}", clock.now(), kind="form", platform="slack")
    await outbox.pump()
    await outbox.flush()
    assert len(adapter.deliveries) == 1 + 18  # two of the twenty are left for the clock
    await clock.advance(0.5)
    bell = store.add_message("Cmeeting", clock.now(), kind="bell", priority=0, platform="slack")
    outbox.notify()
    await outbox.pump()
    await outbox.flush()
    assert adapter.times(bell.id) == [at(T0, seconds=2.5)]
    async with running(outbox, clock):
        await clock.advance(10)
    assert len(adapter.deliveries) == 102
    assert max_in_window([t for t, _ in adapter.deliveries], 1.0) <= 20


async def test_without_a_meeting_a_fan_out_gets_the_whole_budget(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(clock, platform="slack", limits=ROOMY)
    for i in range(100):
        store.add_message(f"D{i}", T0, kind="form", platform="slack")
    outbox = make(store, clock, adapter)
    await outbox.pump()
    await outbox.flush()
    assert len(adapter.deliveries) == 20
    await clock.advance(31 * 60)  # a meeting's clock long ago keeps nothing back either
    store.add_message("Cmeeting", clock.now(), kind="bell", priority=0, platform="slack")
    await clock.advance(2)
    await outbox.pump()
    await outbox.flush()
    assert len(adapter.deliveries) == 20 + 20


async def test_with_only_the_clocks_room_left_a_pass_reads_a_few_rows_and_parks_none(
    store: FakeStore, clock: FakeClock
) -> None:
    """Every finished call of a burst wakes the worker, and on PostgreSQL every commit of
    another process. Once the other rows' budget is spent only the clock's rows (read
    first) may go: a pass reads a few rows, and parks no conversation for the
    platform's budget (parked, a backlog's conversations piled up in the reads' skip
    list within a second)."""
    adapter = RecordingAdapter(clock, platform="slack", limits=ROOMY)
    store.add_message("Cmeeting", T0, kind="phase", priority=1, platform="slack")
    for i in range(400):
        store.add_message(f"D{i}", T0, kind="form", platform="slack")
    limits: list[int] = []
    skips: list[int] = []
    real = store.outbox_due

    async def watched(
        now: datetime, limit: int = 200, skip: Any = (), known: Any = None
    ) -> list[OutboxRow]:
        limits.append(limit)
        skips.append(len(skip))
        return await real(now, limit, skip, known)

    store.outbox_due = watched  # type: ignore[method-assign]
    outbox = make(store, clock, adapter)
    await outbox.pump()
    await outbox.flush()
    assert len(adapter.deliveries) == 20  # the phase started the meeting in this pass
    await clock.advance(1.2)
    await outbox.pump()
    await outbox.flush()
    assert len(adapter.deliveries) == 20 + 18
    for _ in range(5):  # woken by the calls that ended
        await outbox.pump()
    bell = store.add_message("Cmeeting", clock.now(), kind="bell", priority=0, platform="slack")
    outbox.notify()
    await outbox.pump()
    await outbox.flush()
    assert adapter.order()[-1] == bell.id
    assert limits[:2] == [200, 200] and all(limit <= 20 for limit in limits[2:])
    assert max(skips) == 0


async def test_a_bell_goes_before_another_flows_messages_queued_for_its_channel(
    store: FakeStore, clock: FakeClock
) -> None:
    """R-OUT-4 keeps each run's messages to a chat in order; a flow's summary and its
    closing words queued for the meeting's channel do not hold up the meeting's bell
    (at one message a second per channel they held it 2 s in P7)."""
    adapter = RecordingAdapter(clock, platform="slack", limits=SLACK)
    summary = store.add_message("Cteam", T0, kind="summary", run_id="visit", platform="slack")
    closing = store.add_message("Cteam", T0, kind="say", run_id="visit", platform="slack")
    bell = store.add_message(
        "Cteam", T0, kind="bell", priority=0, run_id="meeting", platform="slack"
    )
    header = store.add_message(
        "Cteam", T0, kind="phase", priority=1, run_id="meeting", platform="slack"
    )
    async with running(make(store, clock, adapter), clock):
        await clock.advance(5)
    assert adapter.order("Cteam") == [bell.id, header.id, summary.id, closing.id]
    assert adapter.times(bell.id) == [T0]
    sent = [at for row in (bell, header, summary, closing) for at in adapter.times(row.id)]
    assert max_in_window(sent, 1.0) <= 1  # still one a second in the channel


@pytest.mark.parametrize(
    ("platform", "limits", "group"), [("slack", SLACK, False), ("telegram", TELEGRAM, True)]
)
async def test_a_meetings_channel_is_kept_free_for_the_moment_its_bell_rings(
    store: FakeStore, clock: FakeClock, platform: str, limits: Limits, group: bool
) -> None:
    """At one message a second per channel (Slack's channel, Telegram's group), a visit's
    summary sent into the meeting's channel a moment before its bell held the bell for a
    second (P7). The phase header tells when the clock rings next; the channel waits for
    the bell from one second before that moment, other chats do not."""
    adapter = RecordingAdapter(clock, platform=platform, limits=limits)

    def add(chat: str, kind: str, run: str, priority: int = 3) -> OutboxRow:
        in_group = group and not chat.startswith("D")
        return store.add_message(
            chat,
            clock.now(),
            kind=kind,
            priority=priority,
            run_id=run,
            platform=platform,
            group=in_group,
        )

    header = add("Cteam", "phase", "meeting", priority=1)
    header.message["rings"] = [at(T0, seconds=60).isoformat()]
    async with running(make(store, clock, adapter), clock) as outbox:
        await clock.advance(59.5)
        summary = add("Cteam", "summary", "visit")
        form = add("Danna", "form", "visit")
        outbox.notify()
        await clock.advance(0.6)  # the bell is due at 60 s and written a moment later
        bell = add("Cteam", "bell", "meeting", priority=0)
        outbox.notify()
        await clock.advance(5)
    assert adapter.times(form.id) == [at(T0, seconds=59.5)]
    assert adapter.times(bell.id) == [at(T0, seconds=60.1)]
    assert adapter.order("Cteam") == [header.id, bell.id, summary.id]


async def test_a_bell_that_does_not_come_holds_its_channel_a_few_seconds_only(
    store: FakeStore, clock: FakeClock
) -> None:
    adapter = RecordingAdapter(clock, platform="slack", limits=SLACK)
    header = store.add_message(
        "Cteam", T0, kind="phase", priority=1, run_id="meeting", platform="slack"
    )
    header.message["rings"] = [at(T0, seconds=60).isoformat()]
    async with running(make(store, clock, adapter), clock) as outbox:
        await clock.advance(59.5)  # the chair paused the meeting: no bell at 60 s
        summary = store.add_message(
            "Cteam", clock.now(), kind="summary", run_id="visit", platform="slack"
        )
        outbox.notify()
        await clock.advance(10)
    assert adapter.times(summary.id) == [at(T0, seconds=63)]
