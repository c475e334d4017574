"""P2: N due nudges to N private chats, against the platform's own limits, on the real clock.

One team of N members runs a flow that asks each of them one question with a reminder.
The questions count as delivered (set-up); then the reminder timer is moved to fall due
a moment after the runtime starts, and the clock is the real one: APScheduler fires the
timer, the runtime writes N reminders, the outbox delivers them through the real adapter
(python-telegram-bot, slack-sdk) to the local fake, which enforces the platform's limits
on the real clock and answers 429 when they are exceeded.

Telegram: 30 messages/s overall and 1/s per chat, so N reminders take at least N/30 s.
Slack: the workspace cap (`SAMEN_SLACK_WORKSPACE_CAP`, default 8/s) is the floor, N/8 s;
the fake enforces Slack's 1/s per channel. The figure is elapsed time from the moment the
timer fell due to the N-th accepted reminder, against that floor, and the 429s counted.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from bench.world import (
    mark_outbox_delivered,
    nudge_flow,
    seed_team,
    slack_runtime,
    until,
    write_flows,
)
from bot.config import Settings
from bot.store.tables import TimerRow
from bot.wiring import Runtime, build_runtime, freeze_startup_objects

TELEGRAM_N = 450  # 15 s at 30/s
SLACK_N = 120  # 15 s at 8/s
TARGET = 1.1  # x floor, RELIABILITY.md P2
LEAD = 1.5  # seconds between the runtime's start and the timer falling due


async def _prepare(runtime: Runtime, platform: str, channel: str, members: list[str]) -> datetime:
    """Start the run, count its questions as delivered, make the reminder fall due soon.
    Returns the moment it falls due."""
    now = datetime.now(UTC)
    team = await seed_team(runtime.store, platform, channel, members, now)
    flow = runtime.runs.flows["meten-herinnering"]
    await runtime.runs.start_flow(team, flow, by=members[0])
    await mark_outbox_delivered(runtime.store, now)
    if platform == "telegram":
        # Those questions reached everyone, so each private chat is known to be open
        # (the adapter learns this from the first message it delivers to a person).
        for user in members:
            await runtime.store.set_private_chat(platform, user, "open", now)
    due = datetime.now(UTC) + timedelta(seconds=LEAD)
    async with runtime.store.sessionmaker() as s, s.begin():
        await s.execute(
            update(TimerRow)
            .where(TimerRow.kind == "reminder", TimerRow.status == "pending")
            .values(due_at=due)
        )
    return due


async def _measure(runtime: Runtime, due: datetime, delivered: Any, n: int) -> tuple[float, bool]:
    """Start the runtime; seconds from `due` until `delivered() >= n` (and whether it got there)."""
    await runtime.start()
    freeze_startup_objects()  # as `samen run` does
    try:
        done = await until(lambda: delivered() >= n, bound=4 * n / 8 + 30)
        finished = time.time()
        return finished - due.timestamp(), done
    finally:
        await runtime.stop()


async def telegram(n: int = TELEGRAM_N) -> str:
    from adapters.telegram import TelegramAdapter
    from tests.harness.fake_telegram import TOKEN, FakeTelegram

    fake = FakeTelegram()  # the limits on, on the real monotonic clock
    await fake.start()
    members = [str(10_000 + i) for i in range(n)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = _settings(Path(tmp))
            adapter = TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=1.0)
            runtime = await build_runtime(settings, adapters=[adapter])
            due = await _prepare(runtime, "telegram", "-1009876543210", members)
            private = {int(m) for m in members}

            def delivered() -> int:
                return sum(1 for m in fake.messages if m["chat"]["id"] in private)

            elapsed, done = await _measure(runtime, due, delivered, n)
            sent = delivered()
    finally:
        await fake.stop()
    floor = n / 30
    return _line("telegram", sent, n, elapsed, floor, fake.limited, done)


async def slack(n: int = SLACK_N) -> str:
    from tests.harness.fake_slack import FakeSlack

    cap = int(os.environ.get("SAMEN_SLACK_WORKSPACE_CAP", "8"))
    fake = FakeSlack(per_channel_rate=1.0)  # Slack's 1/s per channel, on the real clock
    await fake.start()
    members = [f"U{100_000 + i}" for i in range(n)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = _settings(Path(tmp))
            runtime = await slack_runtime(settings, fake.url, workspace_cap=cap)
            due = await _prepare(runtime, "slack", "C0MEETTEAM", members)
            dms = {"D" + m.lstrip("U") for m in members}

            def delivered() -> int:
                return sum(
                    1
                    for c in fake.calls
                    if c.method == "chat.postMessage"
                    and c.response is not None
                    and c.response.get("ok")
                    and c.args.get("channel") in dms
                )

            elapsed, done = await _measure(runtime, due, delivered, n)
            sent = delivered()
            refused = sum(
                1 for c in fake.calls if c.method == "chat.postMessage" and c.response is None
            )
    finally:
        await fake.stop()
    return _line(f"slack (cap {cap}/s)", sent, n, elapsed, n / cap, refused, done)


def _settings(tmp: Path) -> Settings:
    flows = write_flows(tmp / "flows", [nudge_flow()])
    return Settings(data_dir=tmp / "data", flows_dir=flows, teams_file=tmp / "teams.yaml")


def _line(
    name: str, sent: int, n: int, elapsed: float, floor: float, refused: int, done: bool
) -> str:
    ratio = elapsed / floor
    verdict = "ok" if done and ratio <= TARGET and refused == 0 else "MISSED"
    note = "" if done else f" (only {sent} of {n} arrived)"
    return (
        f"P2 {name} fan-out: {sent} nudges in {elapsed:.1f} s = {ratio:.2f} x floor "
        f"({floor:.1f} s; target <= {TARGET}), {refused} x 429 [{verdict}]{note}"
    )


async def _main() -> None:
    print(await telegram(), flush=True)
    print(await slack(), flush=True)


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
