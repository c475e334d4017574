"""P3: ack latency of inbound events, and the longest event-loop stall, while 1000 timers
fall due at once.

1000 meetings run in 100 teams (ten each) on the real runtime with the real Slack adapter
in HTTP mode, on the real clock with APScheduler. Their first bells are all moved to the
same instant a few seconds ahead. From a second before that instant until every one of
the 1000 timers has been handed over, people keep mentioning the bot: a genuinely signed
Events API request every 50 ms, each in one of the teams' channels. Ack latency is the
time from sending a request to its HTTP response (Slack wants it within 3 s; the adapter
acks once the event is stored). A ticker task sleeps 5 ms at a time and records how much
later than asked it woke: the longest such delay is the longest stall of the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select, update

from bench.world import (
    mark_outbox_delivered,
    meeting_flow,
    percentile,
    scalar_now,
    seed_team,
    slack_runtime,
    write_flows,
)
from bot.config import Settings
from bot.store.tables import TimerRow
from bot.wiring import freeze_startup_objects

TIMERS = 1000
TEAMS = 100
ACK_TARGET = 0.300  # s
STALL_TARGET = 0.100  # s
LEAD = 3.0  # s from the runtime's start to the moment the timers fall due
EVERY = 0.05  # s between inbound events
TICK = 0.005  # s the ticker sleeps


async def run(timers: int = TIMERS, teams: int = TEAMS) -> str:
    from tests.harness.fake_slack import FakeSlack
    from tests.harness.slack import sign

    fake = FakeSlack(per_channel_rate=1.0)
    await fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            flows = write_flows(Path(tmp) / "flows", [meeting_flow(phases=2, minutes=1)])
            settings = Settings(
                data_dir=Path(tmp) / "data", flows_dir=flows, teams_file=Path(tmp) / "t.yaml"
            )
            runtime = await slack_runtime(settings, fake.url)
            store, runs = runtime.store, runtime.runs
            flow = runs.flows["meten-overleg"]
            now = datetime.now(UTC)
            channels = []
            for t in range(teams):
                chair = f"U{400_000 + t}"
                channel = f"C{500_000 + t}"
                channels.append((channel, chair))
                team = await seed_team(store, "slack", channel, [chair], now)
                for _ in range(timers // teams):
                    await runs.start_flow(team, flow, by=chair)
            await mark_outbox_delivered(store, datetime.now(UTC))
            due = datetime.now(UTC) + timedelta(seconds=LEAD)
            async with store.sessionmaker() as s, s.begin():
                await s.execute(
                    update(TimerRow)
                    .where(TimerRow.kind == "bell", TimerRow.status == "pending")
                    .values(due_at=due)
                )

            async def pending() -> int:
                query = select(func.count()).where(
                    TimerRow.status == "pending", TimerRow.due_at <= due
                )
                return int(await scalar_now(store, query) or 0)

            await runtime.start()
            freeze_startup_objects()  # as `samen run` does
            url = f"http://127.0.0.1:{runtime.adapters[0].port}/slack/events"
            acks: list[float] = []
            statuses: list[int] = []
            stalls: list[float] = []
            stop = asyncio.Event()

            async def ticker() -> None:
                while not stop.is_set():
                    began = time.perf_counter()
                    await asyncio.sleep(TICK)
                    stalls.append(time.perf_counter() - began - TICK)

            ids = itertools.count(1)

            async def mention(session: aiohttp.ClientSession) -> None:
                n = next(ids)
                channel, user = channels[n % len(channels)]
                body = json.dumps(
                    {
                        "token": "x",
                        "team_id": "T0001",
                        "api_app_id": "A1",
                        "type": "event_callback",
                        "event_id": f"Ev{n:08d}",
                        "event_time": int(time.time()),
                        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
                        "event": {
                            "type": "app_mention",
                            "user": user,
                            "text": "<@UBOT> hoi",
                            "channel": channel,
                            "ts": f"{time.time():.6f}",
                            "event_ts": f"{time.time():.6f}",
                        },
                    }
                )
                headers = {"Content-Type": "application/json", **sign(body, int(time.time()))}
                began = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    statuses.append(response.status)
                acks.append(time.perf_counter() - began)

            loop = asyncio.get_running_loop()
            tick = asyncio.create_task(ticker())
            sent: set[asyncio.Task[None]] = set()
            try:
                async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=30)
                ) as session:
                    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 1))
                    stalls.clear()  # the start-up is not what is measured
                    bound = loop.time() + 120  # a bound on the benchmark, not a target
                    handed_over_at = None
                    next_check = 0.0
                    while loop.time() < bound:
                        task = asyncio.create_task(mention(session))
                        sent.add(task)
                        task.add_done_callback(sent.discard)
                        await asyncio.sleep(EVERY)
                        if loop.time() >= next_check and datetime.now(UTC) > due:
                            next_check = loop.time() + 0.5
                            if await pending() == 0:
                                handed_over_at = datetime.now(UTC)
                                break
                    if sent:
                        await asyncio.gather(*sent, return_exceptions=True)
            finally:
                stop.set()
                await tick
                await runtime.stop()
    finally:
        await fake.stop()
    p99, stall = percentile(acks, 99), max(stalls, default=0.0)
    took = (handed_over_at - due).total_seconds() if handed_over_at else float("nan")
    bad = sum(1 for s in statuses if s != 200)
    verdict = (
        "ok"
        if handed_over_at and p99 <= ACK_TARGET and stall <= STALL_TARGET and not bad
        else "MISSED"
    )
    return (
        f"P3 acks under {timers} due timers: ack p99 {p99 * 1000:.0f} ms = "
        f"{p99 / ACK_TARGET:.2f} x target ({ACK_TARGET * 1000:.0f} ms) over {len(acks)} "
        f"events ({bad} not 200), longest loop stall {stall * 1000:.0f} ms = "
        f"{stall / STALL_TARGET:.2f} x target ({STALL_TARGET * 1000:.0f} ms); "
        f"all timers handed over in {took:.1f} s [{verdict}]"
    )


def main() -> None:
    print(asyncio.run(run()), flush=True)


if __name__ == "__main__":
    main()
