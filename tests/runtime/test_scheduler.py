"""The scheduler: catch-up policies, quiet hours across DST, exactly-once hand-off (R-SCH).

Everything runs on a FakeClock against a FakeStore, except
`test_apscheduler_really_calls_the_firing_path`, the one bounded real-time test (≤ 2 s),
and the PostgreSQL lease test, which runs only when SAMEN_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.catch_up import DEFAULT_POLICIES, SHIFT_NOTE, WAIT_NOTE, Action, CatchUp, decide
from bot.core.hours import WorkingHours
from bot.runtime.clock import FakeClock, SystemClock
from bot.runtime.scheduler import HAND_OVER_GROUP, Scheduler
from bot.store.lease import Lease
from bot.store.tables import TimerRow
from tests.postgres import postgres_url

from .fakes import FakeStore

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Amsterdam
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
OFFICE = WorkingHours.parse("Europe/Amsterdam", "1,2,3,4,5", "08:30", "17:30")


class Recorder:
    """`on_due`: what the service was told, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, CatchUp]] = []

    async def __call__(self, row: TimerRow, catch_up: CatchUp) -> None:
        self.calls.append((row.id, catch_up))

    def actions(self) -> dict[int, Action]:
        return {row_id: c.action for row_id, c in self.calls}


def scheduler(
    store: FakeStore, clock: FakeClock, on_due: Recorder | None = None, **options: object
) -> Scheduler:
    options.setdefault("use_apscheduler", False)
    return Scheduler(store, clock, on_due, **options)  # type: ignore[arg-type]


def reads_of_pending(store: FakeStore) -> list[int | None]:
    """Record each read of pending timers for arming from now on (its `after_id`: None =
    full)."""
    asked: list[int | None] = []
    read = store.pending_due

    async def spy(**options: Any) -> list[tuple[int, datetime]]:
        asked.append(options.get("after_id"))
        return await read(**options)

    store.pending_due = spy  # type: ignore[method-assign]
    return asked


def inbox_for(store: FakeStore, row: TimerRow) -> dict[str, object]:
    return store.inbox[("timer", f"timer:{row.id}")][1]


# --------------------------------------------------------------------------- policies


@pytest.mark.parametrize(
    ("kind", "late", "expected"),
    [
        ("bell", timedelta(0), Action.fire),
        ("bell", MINUTE, Action.fire),
        ("bell", 2 * MINUTE, Action.fire),
        ("bell", 3 * MINUTE, Action.skip),
        ("warning", 3 * MINUTE, Action.skip),
        ("reminder", timedelta(seconds=5), Action.fire),
        ("reminder", timedelta(seconds=6), Action.late),
        ("reminder", 2 * HOUR, Action.late),
        ("reminder", 12 * HOUR, Action.late),
        ("reminder", 13 * HOUR, Action.skip),
        ("deadline", 13 * HOUR, Action.late),
        ("turn", 3 * 24 * HOUR, Action.late),
        ("timeout", 13 * HOUR, Action.late),
        ("wait", 13 * HOUR, Action.late),
        ("evaluation", 30 * 24 * HOUR, Action.late),
    ],
)
def test_the_default_catch_up_depends_on_kind_and_lateness(
    kind: str, late: timedelta, expected: Action
) -> None:
    assert decide(DEFAULT_POLICIES[kind], T0 - late, T0).action is expected


def test_a_reminder_in_quiet_hours_waits_for_the_working_morning() -> None:
    night = datetime(2026, 3, 3, 22, 0, tzinfo=AMS)  # a Tuesday evening
    morning = datetime(2026, 3, 4, 7, 30, tzinfo=UTC)  # 08:30 in Amsterdam
    shifted = decide(DEFAULT_POLICIES["reminder"], night - HOUR, night, OFFICE)
    assert shifted == CatchUp(Action.shift, morning, SHIFT_NOTE)  # late: keeps its marker
    waited = decide(DEFAULT_POLICIES["reminder"], night, night, OFFICE)
    assert waited == CatchUp(Action.shift, morning, WAIT_NOTE)  # on time: just waits
    # In the morning the one that waited goes out plain, the late one marked late.
    assert decide(DEFAULT_POLICIES["reminder"], morning, morning, OFFICE).action is Action.fire
    assert (
        decide(DEFAULT_POLICIES["reminder"], morning, morning, OFFICE, shifted=True).action
        is Action.late
    )
    # A state transition is not postponed to the morning.
    assert decide(DEFAULT_POLICIES["deadline"], night - HOUR, night, OFFICE).action is Action.late


def test_a_shifted_reminder_keeps_its_late_marker_when_it_fires() -> None:
    morning = datetime(2026, 3, 4, 7, 30, tzinfo=UTC)
    assert (
        decide(DEFAULT_POLICIES["reminder"], morning, morning, OFFICE, shifted=True).action
        is Action.late
    )


@pytest.mark.parametrize(
    ("now_local", "days", "expected_utc"),
    [
        # Last Sunday of March 2025 (30 Mar): the clocks go from 02:00 to 03:00.
        # Every day a working day: 08:30 CEST on the Sunday is 06:30 UTC, not 07:30.
        ("2025-03-30T03:30", "1,2,3,4,5,6,7", "2025-03-30T06:30"),
        ("2025-03-29T23:00", "1,2,3,4,5,6,7", "2025-03-30T06:30"),
        # Mon–Fri: from Saturday night (CET) to Monday 08:30 (CEST).
        ("2025-03-29T22:00", "1,2,3,4,5", "2025-03-31T06:30"),
        # Last Sunday of October 2025 (26 Oct): back from CEST to CET.
        ("2025-10-25T23:00", "1,2,3,4,5", "2025-10-27T07:30"),
        ("2025-10-26T02:30", "1,2,3,4,5,6,7", "2025-10-26T07:30"),
        # Early on a working day: this morning.
        ("2025-03-31T06:00", "1,2,3,4,5", "2025-03-31T06:30"),
    ],
)
def test_the_next_working_morning_is_0830_local_across_dst(
    now_local: str, days: str, expected_utc: str
) -> None:
    quiet = WorkingHours.parse("Europe/Amsterdam", days, "08:30", "17:30")
    now = datetime.fromisoformat(now_local).replace(tzinfo=AMS)
    assert not quiet.contains(now)
    assert quiet.next_start(now) == datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    assert quiet.next_start(now).astimezone(AMS).strftime("%H:%M") == "08:30"


def test_working_hours_are_read_in_the_teams_zone() -> None:
    quiet = WorkingHours.parse("Europe/Amsterdam", "1,2,3,4,5", "08:30", "17:30")
    assert quiet.contains(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))  # Mon 09:00 CET
    assert not quiet.contains(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))  # Mon 08:00 CET
    assert not quiet.contains(datetime(2026, 3, 2, 16, 30, tzinfo=UTC))  # Mon 17:30 CET
    assert not quiet.contains(datetime(2026, 3, 7, 10, 0, tzinfo=UTC))  # Saturday
    nights = WorkingHours.parse("Europe/Amsterdam", "1,2,3,4,5,6,7", "22:00", "07:00")
    assert nights.contains(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))


# --------------------------------------------------------------------------- the sweep


async def test_the_startup_sweep_applies_the_catch_up_policies() -> None:
    """R-SCH-1: a bell 1 min late rings, 3 min late is skipped (and the chair can be told);
    a reminder 2 h late goes out late, 13 h late is skipped; a deadline is never skipped."""
    clock, store, told = FakeClock(T0), FakeStore(), Recorder()
    bell_1 = store.add_timer("bell", T0 - MINUTE)
    bell_3 = store.add_timer("bell", T0 - 3 * MINUTE)
    reminder_2h = store.add_timer("reminder", T0 - 2 * HOUR)
    reminder_13h = store.add_timer("reminder", T0 - 13 * HOUR)
    deadline_13h = store.add_timer("deadline", T0 - 13 * HOUR)
    future = store.add_timer("bell", T0 + MINUTE)
    sched = scheduler(store, clock, told)
    await sched.start()
    try:
        expected = {
            bell_1: ("fire", "sent"),
            bell_3: ("skip", "skipped"),
            reminder_2h: ("late", "sent"),
            reminder_13h: ("skip", "skipped"),
            deadline_13h: ("late", "sent"),
        }
        for row, (catch_up, status) in expected.items():
            assert inbox_for(store, row)["catch_up"] == catch_up
            assert row.status == status and row.handled_at == T0
        assert bell_3.note.startswith("skipped") and reminder_2h.note.startswith("late")
        assert told.actions() == {r.id: Action(c) for r, (c, _) in expected.items()}
        # Handled in due order (then id), and nothing in the future was touched.
        assert [i for i, _ in told.calls] == [
            reminder_13h.id,
            deadline_13h.id,
            reminder_2h.id,
            bell_3.id,
            bell_1.id,
        ]
        assert future.status == "pending"
    finally:
        await sched.stop()


async def test_a_fired_timer_reaches_the_inbox_with_ids_only() -> None:
    clock, store = FakeClock(T0), FakeStore()
    row = store.add_timer("reminder", T0, run_id="run-7", timer="collect.remind.2")
    await scheduler(store, clock).fire_due(T0)
    assert inbox_for(store, row) == {
        "timer_row": row.id,
        "run_id": "run-7",
        "timer": "collect.remind.2",
        "kind": "reminder",
        "catch_up": "fire",
    }


async def test_a_late_reminder_in_quiet_hours_moves_to_the_next_working_morning() -> None:
    """Across the DST change of 30 March 2025 (every day a working day)."""
    now = datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # Sunday 03:00 CEST
    clock, store, told = FakeClock(now), FakeStore(), Recorder()
    row = store.add_timer("reminder", now - 2 * HOUR)
    quiet = WorkingHours.parse("Europe/Amsterdam", "1,2,3,4,5,6,7", "08:30", "17:30")
    sched = scheduler(store, clock, told, quiet_hours=lambda r: quiet, poll_interval=60.0)
    await sched.start()
    try:
        morning = datetime(2025, 3, 30, 6, 30, tzinfo=UTC)  # 08:30 CEST
        assert (row.status, row.due_at, row.note) == ("pending", morning, SHIFT_NOTE)
        assert store.inbox == {} and told.calls == []
        await clock.advance_to(morning - timedelta(seconds=1))
        assert row.status == "pending"
        await clock.advance(1)  # the poll at 06:30 (every 60 s since 01:00)
        assert row.status == "sent"
        assert inbox_for(store, row)["catch_up"] == "late"  # delivered with the late marker
        assert told.actions() == {row.id: Action.late}
    finally:
        await sched.stop()


async def test_quiet_hours_may_come_from_an_async_lookup() -> None:
    now = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # Saturday
    clock, store = FakeClock(now), FakeStore()
    row = store.add_timer("evaluation", now - 3 * 24 * HOUR)

    async def lookup(r: TimerRow) -> WorkingHours:
        return OFFICE

    await scheduler(store, clock, quiet_hours=lookup).fire_due(now)
    assert row.status == "pending" and row.due_at == datetime(2026, 3, 9, 7, 30, tzinfo=UTC)


async def test_each_past_due_row_is_handed_over_once_when_two_sweeps_race() -> None:
    """R-SCH-1, -6: two sweeps in one process, and two processes, on the same table."""
    clock, store = FakeClock(T0), FakeStore()
    rows = [
        store.add_timer(kind, T0 - late * MINUTE)
        for kind in ("bell", "reminder", "deadline")
        for late in range(0, 200, 7)
    ]
    told_a, told_b = Recorder(), Recorder()
    a, b = scheduler(store, clock, told_a), scheduler(store, clock, told_b)
    handed = await asyncio.gather(a.fire_due(T0), a.fire_due(T0), b.fire_due(T0))
    assert sum(handed) == len(rows)
    assert all(r.status in ("sent", "skipped") for r in rows)
    told = Counter(i for i, _ in told_a.calls + told_b.calls)
    assert told == Counter({r.id: 1 for r in rows})
    assert len(store.inbox) == len(rows)
    # The race was real: the sweeps offered the same rows more than once and lost the
    # claims — the claim, not luck, kept it exactly once.
    offered = sum(len(ids) for name, ids in store.calls if name == "hand_over")
    assert offered > len(rows)


async def test_a_firing_asked_for_during_a_sweep_is_done_by_that_sweep() -> None:
    """`on_due` (or an APScheduler job) may call `fire_due` mid-sweep: no deadlock, no
    miss — the running sweep goes round again up to the later moment."""
    clock, store = FakeClock(T0), FakeStore()
    first = store.add_timer("bell", T0)
    later = store.add_timer("bell", T0 + timedelta(seconds=1))
    nested: list[int] = []

    async def on_due(row: TimerRow, catch_up: CatchUp) -> None:
        if row.id == first.id:
            nested.append(await sched.fire_due(T0 + timedelta(seconds=1)))

    sched = Scheduler(store, clock, on_due, use_apscheduler=False)
    assert await asyncio.wait_for(sched.fire_due(T0), 1) == 2
    assert nested == [0] and later.status == "sent"


async def test_the_meetings_clock_is_handed_over_before_the_rest_due_with_it() -> None:
    """At a minute's turn nudges, planned starts and deadlines fall due with the bells;
    the bells go in the first hand-over, each run's own timers still in order."""
    clock, store = FakeClock(T0), FakeStore()
    nudges = [store.add_timer("evaluation", T0, run_id=f"n{i}") for i in range(40)]
    deadline = store.add_timer("deadline", T0, run_id="visit")
    bell = store.add_timer("bell", T0, run_id="meeting")
    own_deadline = store.add_timer("deadline", T0, run_id="other")
    behind_it = store.add_timer("bell", T0, run_id="other")  # its run's deadline first
    told = Recorder()
    assert await scheduler(store, clock, told).fire_due(T0) == 44
    order = [row_id for row_id, _ in told.calls]
    assert order[0] == bell.id
    assert order.index(own_deadline.id) < order.index(behind_it.id)
    assert {n.id for n in nudges} | {deadline.id} <= set(order[1:])


async def test_a_bell_due_during_a_sweep_goes_after_the_group_in_hand() -> None:
    """A bell whose job runs while the minute's hundred rows are handed over is taken
    after the group in hand, not after all of them."""
    clock, store = FakeClock(T0), FakeStore()
    for i in range(100):
        store.add_timer("evaluation", T0, run_id=f"n{i}")
    bell = store.add_timer("bell", T0 + timedelta(seconds=0.2), run_id="meeting")
    told = Recorder()

    async def on_due(row: TimerRow, catch_up: CatchUp) -> None:
        await told(row, catch_up)
        if len(told.calls) == 1:  # the bell's job, while the first group is in hand
            await sched.fire_due(T0 + timedelta(seconds=0.2))

    sched = Scheduler(store, clock, on_due, use_apscheduler=False)
    assert await sched.fire_due(T0) == 101
    order = [row_id for row_id, _ in told.calls]
    assert order.index(bell.id) == HAND_OVER_GROUP


async def test_a_bell_due_while_nudges_are_looked_up_goes_after_those_decided() -> None:
    """The working hours of a group's nudges are looked up one by one (a read each): a
    bell that falls due meanwhile goes with the next hand-over, and the nudges not yet
    looked up wait for the round after it."""
    clock, store = FakeClock(T0), FakeStore()
    nudges = [store.add_timer("evaluation", T0, run_id=f"n{i}") for i in range(10)]
    bell = store.add_timer("bell", T0 + timedelta(seconds=0.2), run_id="meeting")
    looked_up: list[int] = []

    async def lookup(row: TimerRow) -> WorkingHours:
        looked_up.append(row.id)
        if len(looked_up) == 3:  # the bell's job, while the third nudge is looked up
            await sched.fire_due(T0 + timedelta(seconds=0.2))
        return OFFICE

    told = Recorder()
    sched = scheduler(store, clock, told, quiet_hours=lookup)
    assert await sched.fire_due(T0) == 11
    order = [row_id for row_id, _ in told.calls]
    assert order[:4] == [n.id for n in nudges[:3]] + [bell.id]
    assert sorted(order[4:]) == sorted(n.id for n in nudges[3:])


async def test_the_claim_and_the_inbox_event_are_one_hand_over() -> None:
    clock, store = FakeClock(T0), FakeStore()
    rows = [store.add_timer("reminder", T0 - i * MINUTE) for i in range(5)]
    await scheduler(store, clock).fire_due(T0)
    handed = [ids for name, ids in store.calls if name == "hand_over"]
    assert sorted(i for ids in handed for i in ids) == sorted(r.id for r in rows)
    assert len(handed) == 1  # one transaction for the five
    assert all(("timer", f"timer:{r.id}") in store.inbox for r in rows)


async def test_a_crash_in_the_hand_over_is_repaired_by_the_restart() -> None:
    """R-SCH-7: a crash in the hand-over transaction writes nothing; the restart hands the
    rows over once: nothing lost, nothing doubled."""
    clock, store = FakeClock(T0), FakeStore()
    crashed = store.add_timer("bell", T0 - timedelta(seconds=30))
    other = store.add_timer("bell", T0 - timedelta(seconds=10))
    store.crash_in_hand_over.add(crashed.id)
    told_first = Recorder()
    assert await scheduler(store, clock, told_first).fire_due(T0) == 0
    assert crashed.status == "pending" and other.status == "pending"
    assert store.inbox == {} and told_first.calls == []

    await clock.advance(20)
    told = Recorder()
    restarted = scheduler(store, clock, told)
    await restarted.start()
    try:
        assert crashed.status == "sent" and other.status == "sent"
        assert told.actions() == {crashed.id: Action.fire, other.id: Action.fire}
        assert sorted(store.inbox) == sorted(("timer", f"timer:{r.id}") for r in (crashed, other))
    finally:
        await restarted.stop()


async def test_a_failing_on_due_does_not_undo_the_hand_off() -> None:
    clock, store = FakeClock(T0), FakeStore()
    row = store.add_timer("bell", T0)

    async def broken(r: TimerRow, c: CatchUp) -> None:
        raise RuntimeError("service busy")

    assert (
        await Scheduler(
            store,
            clock,
            broken,
            use_apscheduler=False,
        ).fire_due(T0)
        == 1
    )
    assert row.status == "sent" and ("timer", f"timer:{row.id}") in store.inbox


async def test_a_thousand_timers_due_together_do_not_stall_the_event_loop() -> None:
    clock, store = FakeClock(T0), FakeStore()
    for i in range(1000):
        store.add_timer("bell", T0 - timedelta(milliseconds=i))
    beats = 0
    done = False

    async def heartbeat() -> None:
        nonlocal beats
        while not done:
            beats += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    store.yields = False  # so that only the scheduler's own yields let the heartbeat run
    assert await scheduler(store, clock, batch=200).fire_due(T0) == 1000
    done = True
    await beat
    assert beats >= 1000 // 50


# --------------------------------------------------------------------------- arming


async def test_the_poll_loop_arms_new_rows_and_fires_them_on_time() -> None:
    clock, store, told = FakeClock(T0), FakeStore(), Recorder()
    sched = scheduler(store, clock, told, poll_interval=1.0)
    await sched.start()
    try:
        near = store.add_timer("bell", T0 + 3 * MINUTE)  # written by another process
        far = store.add_timer("reminder", T0 + HOUR)
        await clock.advance(1)
        assert (await sched.status())["armed"] == 1
        await clock.advance_to(near.due_at)
        assert near.status == "sent" and told.actions() == {near.id: Action.fire}
        assert far.status == "pending"
    finally:
        await sched.stop()


async def test_a_scheduler_without_the_lease_arms_and_fires_nothing() -> None:
    """R-SCH-6: only the lease holder works; it starts when the lease comes free."""

    class ClosedLease(Lease):
        free = False

        async def check(self) -> bool:
            self._held = self.free
            return self._held

    clock, store, told = FakeClock(T0), FakeStore(), Recorder()
    lease = ClosedLease()
    row = store.add_timer("bell", T0 - timedelta(seconds=30))
    soon = store.add_timer("bell", T0 + MINUTE)
    sched = scheduler(store, clock, told, lease=lease, poll_interval=5.0)
    await sched.start()
    try:
        assert await sched.fire_due(T0) == 0
        assert not sched.arm(soon)
        assert row.status == "pending" and store.inbox == {}
        assert (await sched.status())["lease_held"] is False
        lease.free = True  # the holder died
        await clock.advance(5)
        assert row.status == "sent" and (await sched.status())["armed"] == 1
    finally:
        await sched.stop()


async def test_jobs_hold_their_instant_and_nothing_else() -> None:
    """R-SCH-2, -4, -5: no job args (the instant is the id), no misfire grace, coalesced;
    one job per instant, however many rows fall due then."""
    clock, store = FakeClock(T0), FakeStore()
    sched = Scheduler(store, clock)
    await sched.start()
    try:
        row = store.add_timer("bell", T0 + 5 * MINUTE, timer="Mevrouw Jansen bel")
        same = store.add_timer("bell", T0 + 5 * MINUTE)
        assert sched.arm(row) and sched.arm(same)
        assert not sched.arm(store.add_timer("bell", T0 + HOUR))  # beyond the horizon
        assert sched._aps is not None
        (job,) = sched._aps.get_jobs()
        assert (job.args, job.kwargs) == ((), {})
        assert job.id == "timers-at-" + row.due_at.isoformat()
        assert job.misfire_grace_time is None and job.coalesce is True
        assert job.trigger.run_date == row.due_at
        assert "Jansen" not in repr(job.__getstate__())
        sched.arm(row)  # arming again replaces, never duplicates
        assert len(sched._aps.get_jobs()) == 1
        sched.disarm(row.id)
        assert len(sched._aps.get_jobs()) == 1  # `same` is still due then
        row.due_at = T0 + 7 * MINUTE
        sched.arm(row)  # moved: a job at its new instant
        assert len(sched._aps.get_jobs()) == 2
        sched.disarm(same.id)
        sched.disarm(row.id)
        assert sched._aps.get_jobs() == []
    finally:
        await sched.stop()


async def test_arming_many_instants_gives_the_event_loop_turns_and_wakes_apscheduler_rarely() -> (
    None
):
    """A thousand meetings' next bells fall due a moment apart: a job each. Added in one
    go, each waking APScheduler, they held the event loop for 150 ms (P3)."""
    now = datetime.now(UTC)  # APScheduler runs jobs by the real clock: in the future
    clock, store = FakeClock(now), FakeStore()
    rows = [
        store.add_timer("bell", now + MINUTE + n * timedelta(milliseconds=3)) for n in range(100)
    ]
    sched = Scheduler(store, clock, poll_interval=60.0)
    await sched.start()  # arms the 100 instants in the start's tick
    try:
        assert sched._aps is not None and len(sched._aps.get_jobs()) == 100
        wakeups, turns = 0, 0
        process = sched._aps._process_jobs

        def counted() -> float | None:
            nonlocal wakeups
            wakeups += 1
            return process()  # type: ignore[no-any-return]

        sched._aps._process_jobs = counted
        for row in rows:  # moved: every job again
            row.due_at += timedelta(seconds=1)

        async def ticker() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        beside = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = turns
        await sched.arm_horizon(now)
        during = turns - before
        for _ in range(3):
            await asyncio.sleep(0)  # the wake-ups that were asked for run now
        beside.cancel()
        assert len(sched._aps.get_jobs()) == 100
        assert during >= 100 // 25 - 1  # the loop had a turn between the groups
        assert wakeups <= 100 // 25 + 1  # once per group, not once per job
    finally:
        await sched.stop()


async def test_apscheduler_really_calls_the_firing_path() -> None:
    """The one bounded real-time test: a row due in 0.2 s is handed over within 2 s."""
    store, fired = FakeStore(), asyncio.Event()

    async def on_due(row: TimerRow, catch_up: CatchUp) -> None:
        fired.set()

    clock = SystemClock()
    sched = Scheduler(
        store,
        clock,
        on_due,
        poll_interval=60.0,
    )
    await sched.start()
    try:
        row = store.add_timer("bell", clock.now() + timedelta(seconds=0.2))
        assert sched.arm(row)
        await asyncio.wait_for(fired.wait(), 2.0)
        assert row.status == "sent" and inbox_for(store, row)["catch_up"] == "fire"
    finally:
        await sched.stop()


async def test_status_reports_pending_next_due_oldest_overdue_and_armed() -> None:
    clock, store = FakeClock(T0), FakeStore()
    sched = scheduler(store, clock)
    await sched.start()
    try:
        store.add_timer("bell", T0 + 2 * MINUTE)
        store.add_timer("reminder", T0 + 2 * HOUR)
        overdue = store.add_timer("reminder", T0 - MINUTE)  # inserted after the sweep
        await sched.arm_horizon(T0)
        status = await sched.status(T0)
        assert status["pending"] == 3 and status["lease_held"] is True
        assert status["oldest_overdue"] == overdue.due_at.isoformat()
        assert status["next_due"] == overdue.due_at.isoformat()
        assert status["armed"] == 2
    finally:
        await sched.stop()


# --------------------------------------------------------------------------- leases


def test_on_sqlite_the_lease_is_always_held() -> None:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    assert Lease(engine).held and Lease().held


async def test_on_postgresql_one_process_holds_the_lease_and_another_takes_over() -> None:
    url = await postgres_url()
    first_engine, second_engine = create_async_engine(url), create_async_engine(url)
    key = 0x5A17E57  # not the production key, so a running Samen is not disturbed
    first, second = Lease(first_engine, key), Lease(second_engine, key)
    try:
        assert await first.check() is True
        assert await second.check() is False and not second.held
        assert await first.check() is True  # keeps it
        # The holder dies: its connection goes away and PostgreSQL frees the lock.
        assert first._conn is not None
        raw = await first._conn.get_raw_connection()
        await raw.driver_connection.close()  # type: ignore[union-attr]
        assert await second.check() is True
        assert await first.check() is False
    finally:
        await second.release()
        await first.release()
        await first_engine.dispose()
        await second_engine.dispose()


async def test_after_a_commit_only_rows_inserted_since_are_read_and_armed() -> None:
    """The service arms after every step; reading the whole horizon each time made a
    step cost O(timers) (P3). The poll still arms in full and drops rows gone."""
    clock, store = FakeClock(T0), FakeStore()
    for _ in range(3):
        store.add_timer("bell", T0 + 2 * MINUTE)
    sched = scheduler(store, clock)
    await sched.start()
    asked = reads_of_pending(store)
    try:
        assert (await sched.status(T0))["armed"] == 3
        newest = max(store.timers)
        new = store.add_timer("bell", T0 + 3 * MINUTE)
        assert await sched.arm_horizon() == 4  # the service's call after its commit
        assert asked == [newest] and new.id in sched._armed
        store.timers[newest].status = "cancelled"
        await sched.arm_horizon()  # incremental: reads after `new`, drops nothing
        assert asked[-1] == new.id and newest in sched._armed
        await sched.tick()  # the poll: a full read, the cancelled row is disarmed
        assert asked[-1] is None and newest not in sched._armed
    finally:
        await sched.stop()


async def test_a_new_timer_is_armed_at_once_only_when_the_poll_would_be_too_late() -> None:
    """After a step the service names the due times it scheduled: one within two polls is
    read and armed at once; a bell minutes away waits for the poll's full arming, so a
    busy meeting's steps do not each cost a read (P4)."""
    clock, store = FakeClock(T0), FakeStore()
    sched = scheduler(store, clock)
    await sched.start()
    reads = reads_of_pending(store)
    try:
        poll = timedelta(seconds=sched.poll_interval)
        later = store.add_timer("bell", T0 + 10 * MINUTE - poll)
        await sched.arm_new([later.due_at])
        assert reads == [] and later.id not in sched._armed
        soon = store.add_timer("warning", T0 + 2 * poll)
        await sched.arm_new([later.due_at, soon.due_at])
        assert len(reads) == 1 and {soon.id, later.id} <= set(sched._armed)
        await sched.arm_new([])
        assert len(reads) == 1
    finally:
        await sched.stop()
