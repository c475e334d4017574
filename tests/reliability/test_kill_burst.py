"""kill -9 at random points during a 200-nudge burst, repeated (R-OPS-3, R-SCH-7, R-SCH-1).

200 nudge timers fall due at once; a real `samen run` sends them through the real Telegram
adapter to the fake Bot API (which enforces Telegram's limits). The test kills the process
with SIGKILL when the fake has counted a random number of further deliveries (seeded RNG),
starts it again on the same SQLite database, and repeats. A last process finishes the
burst. Counted at the fake: every group got its nudge, and every delivery beyond 200 is
explained by a crash: a message the platform had accepted when the process died but that
was not yet marked sent goes out once more after the restart (R-SCH-7), and only those.

The outbox has up to `max_in_flight` (32) calls in flight, one per chat, so one crash can
leave several such messages, not just one: the bound checked is one duplicate per message
in flight at the crash, never more than 32 per crash.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from bot.store.repo import Store
from bot.store.tables import OutboxRow
from tests.harness.fake_telegram import TOKEN, FakeTelegram
from tests.harness.settle import settle_process
from tests.reliability.world import (
    FINAL,
    NUDGE_TEXT,
    TelegramSamen,
    nudges_per_group,
    outbox_statuses,
    plant_nudges,
    timer_statuses,
    until,
)

NUDGES = 200
ROUNDS = 3
SEED = 20261123
MAX_IN_FLIGHT = 32  # bot/runtime/outbox.py: calls in flight at once, one per chat


async def accepted_not_marked(url: str, delivered: Counter[int]) -> int:
    """Outbox rows still pending although their group already got its nudge."""
    store = await Store.open(url)
    try:
        async with store.sessionmaker() as s:
            pending = await s.scalars(
                select(OutboxRow.destination).where(OutboxRow.status == "pending")
            )
            return sum(1 for chat in pending if delivered[int(chat)] > 0)
    finally:
        await store.close()


async def test_kill_9_at_random_points_of_a_200_nudge_burst_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    fake = FakeTelegram()
    api = await fake.start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'samen.db'}"
    try:
        ids = await plant_nudges(url, NUDGES)
        assert len(ids) == NUDGES
        kills = 0
        windows: list[int] = []
        outputs: list[str] = []
        for _ in range(ROUNDS):
            delivered = len(nudges_per_group(fake.messages))
            if delivered >= NUDGES:
                break
            target = min(NUDGES - 1, delivered + rng.randint(5, 60))
            samen = TelegramSamen(tmp_path, api, TOKEN)
            try:
                await until(
                    lambda t=target, s=samen: (
                        len(nudges_per_group(fake.messages)) >= t or not s.alive()
                    ),
                    60,
                    f"{target} nudges delivered",
                )
                await asyncio.sleep(rng.uniform(0, 0.15))
            finally:
                samen.kill()
            assert samen.proc.returncode == -9, samen.output()[-2000:]  # killed mid-burst
            kills += 1
            await asyncio.sleep(0.2)  # a request already on the wire reaches the fake
            window = await accepted_not_marked(url, nudges_per_group(fake.messages))
            assert window <= MAX_IN_FLIGHT
            windows.append(window)
            outputs.append(samen.output())

        last = TelegramSamen(tmp_path, api, TOKEN)
        try:
            await until(
                lambda: len(nudges_per_group(fake.messages)) >= NUDGES or not last.alive(),
                60,
                "every group nudged",
            )
            await settle_process(url, fake, alive=last.alive)
            assert set(await timer_statuses(url, ids)) <= FINAL
            assert set(await outbox_statuses(url)) == {"sent"}
        finally:
            code = await last.stop()
        outputs.append(last.output())
        assert code == 0, outputs[-1][-2000:]

        assert kills == ROUNDS
        per_group = nudges_per_group(fake.messages)
        assert len(per_group) == NUDGES  # nothing lost
        duplicates = sum(per_group.values()) - NUDGES
        # Every duplicate is a message accepted but not yet marked sent at a crash.
        assert duplicates == sum(windows), (duplicates, windows)
        assert max(per_group.values()) <= 1 + kills
        assert await timer_statuses(url, ids) == {"sent": NUDGES}
        for text in outputs:  # the logs hold ids, never what was said
            assert NUDGE_TEXT not in text
            assert TOKEN.split(":")[1] not in text
    finally:
        await fake.stop()
