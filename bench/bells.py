"""P4: bell lateness with 200 concurrent meetings, on the real clock with APScheduler.

Judged on PostgreSQL, the store of an installation that outgrows one process: 200
meetings at once. On SQLite (one installation, one process) it is printed beside it with
50 meetings at once. Each: N teams each run a meeting (two phases; flows count phases in
minutes, so a phase lasts at least one). Once all meetings are going, the first bell of
every meeting is moved to fall due within one second, a few seconds ahead; then the
runtime starts on the real clock: APScheduler fires each timer, the inbox hands it to its
run, which advances and writes the bell, the outbox delivers it through the real Slack
adapter to the fake, which runs in a process of its own (as Slack does not run on Samen's
event loop).

Lateness of one bell = the moment its delivery was recorded (the fake Slack had answered
the call) minus the moment it was due. The figure is its 99th percentile. "Before
platform limits": the workspace cap is lifted for this figure (each team's channel gets
one message at a time, so Slack's 1/s per channel does not bind either), so that waiting
for the platform's budget is not counted as Samen's lateness.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from bench.world import (
    fake_slack_elsewhere,
    mark_outbox_delivered,
    meeting_flow,
    percentile,
    postgres_database,
    scalar_now,
    seed_team,
    slack_runtime,
    write_flows,
)
from bot.config import Settings
from bot.store.repo import Store
from bot.store.tables import OutboxRow, TimerRow
from bot.wiring import freeze_startup_objects

MEETINGS = 200  # on PostgreSQL (judged)
SQLITE_MEETINGS = 50  # on SQLite (printed beside it, the same target)
TARGET = 0.200  # s, RELIABILITY.md P4
LEAD = 2.0  # s from the runtime's start to the first bell
WINDOW = 1.0  # s over which the 200 bells fall due


async def run(meetings: int = MEETINGS, database_url: str | None = None) -> str:
    """The figure's line; on SQLite in a temporary folder unless `database_url` is given."""
    store_name = "postgresql" if database_url else "sqlite"
    async with fake_slack_elsewhere(per_channel_rate=1.0) as fake_url:
        with tempfile.TemporaryDirectory() as tmp:
            flows = write_flows(Path(tmp) / "flows", [meeting_flow(phases=2, minutes=1)])
            settings = Settings(
                data_dir=Path(tmp) / "data",
                database_url=database_url,
                flows_dir=flows,
                teams_file=Path(tmp) / "t.yaml",
            )
            # the workspace cap lifted: before platform limits
            runtime = await slack_runtime(settings, fake_url, workspace_cap=10_000)
            store, runs = runtime.store, runtime.runs
            flow = runs.flows["meten-overleg"]
            now = datetime.now(UTC)
            for i in range(meetings):
                chair = f"U{200_000 + i}"
                team = await seed_team(store, "slack", f"C{300_000 + i}", [chair], now)
                await runs.start_flow(team, flow, by=chair)
            await mark_outbox_delivered(store, datetime.now(UTC))
            first = datetime.now(UTC) + timedelta(seconds=LEAD)
            async with store.sessionmaker() as s, s.begin():
                bells = list(
                    await s.scalars(
                        select(TimerRow)
                        .where(TimerRow.kind == "bell", TimerRow.status == "pending")
                        .order_by(TimerRow.id)
                    )
                )
                for i, bell in enumerate(bells):
                    due = first + timedelta(seconds=WINDOW * i / len(bells))
                    await s.execute(
                        update(TimerRow).where(TimerRow.id == bell.id).values(due_at=due)
                    )
            await runtime.start()
            freeze_startup_objects()  # as `samen run` does
            try:
                loop = asyncio.get_running_loop()
                end = loop.time() + LEAD + WINDOW + 30  # a bound, not a measurement
                while await _rung(store) < len(bells) and loop.time() < end:
                    await asyncio.sleep(0.2)
            finally:
                await runtime.stop()
            # stop() closed the runtime's store: read the outcome with a fresh one
            store = await Store.open(settings.database_url_resolved())
            due_of: dict[str | None, datetime] = {}
            handed_of: dict[str | None, datetime] = {}
            try:
                async with store.sessionmaker() as s:
                    for t in await s.scalars(select(TimerRow).where(TimerRow.kind == "bell")):
                        if t.status != "pending" and t.handled_at is not None:
                            due_of[t.run_id] = t.due_at
                            handed_of[t.run_id] = t.handled_at
                    sent: dict[str | None, list[tuple[datetime, datetime]]] = defaultdict(list)
                    # Only the columns needed: the message is sealed with the run's key.
                    for run_id, created_at, sent_at in await s.execute(
                        select(OutboxRow.run_id, OutboxRow.created_at, OutboxRow.sent_at)
                        .where(OutboxRow.kind == "bell")
                        .order_by(OutboxRow.id)
                    ):
                        if sent_at is not None:
                            sent[run_id].append((created_at, sent_at))
            finally:
                await store.close()
    # Each bell's way: due, handed over to the inbox, its step committed, sent.
    ways = [
        (
            _aware(due_of[run_id]),
            _aware(handed_of[run_id]),
            _aware(times[0][0]),
            _aware(times[0][1]),
        )
        for run_id, times in sent.items()
        if run_id in due_of and times
    ]
    late = [(sent_at - due).total_seconds() for due, _, _, sent_at in ways]
    stages = [
        f"{name} p50 {percentile(values, 50) * 1000:.0f} / "
        f"p99 {percentile(values, 99) * 1000:.0f} ms"
        for name, values in (
            ("due -> handed over", [(h - d).total_seconds() for d, h, _, _ in ways]),
            ("-> step committed", [(c - h).total_seconds() for _, h, c, _ in ways]),
            ("-> sent", [(t - c).total_seconds() for _, _, c, t in ways]),
        )
    ]
    p99 = percentile(late, 99)
    worst = max(late, default=0.0)
    verdict = "ok" if len(late) == len(bells) and p99 <= TARGET else "MISSED"
    return (
        f"P4 bell lateness {store_name}: {len(late)} bells of {meetings} meetings, "
        f"p99 {p99 * 1000:.0f} ms = {p99 / TARGET:.2f} x target ({TARGET * 1000:.0f} ms), p50 "
        f"{percentile(late, 50) * 1000:.0f} ms, max {worst * 1000:.0f} ms [{verdict}]"
        f"\nP4 bells {store_name}: " + "; ".join(stages)
    )


async def _rung(store: Store) -> int:
    query = select(func.count()).where(OutboxRow.kind == "bell", OutboxRow.status == "sent")
    return int(await scalar_now(store, query) or 0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _main() -> None:
    async with postgres_database("p4") as url:
        if url is not None:
            print(await run(MEETINGS, url), flush=True)
    print(await run(SQLITE_MEETINGS), flush=True)


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
