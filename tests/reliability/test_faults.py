"""Platform faults through the real Telegram adapter and the real runtime (R-OPS-3, R-OUT-2,
R-OUT-3, R-ING-4, R-PRV-8).

A real `samen run` talks to a fake Bot API that, on a seeded schedule, answers the first
`sendMessage` calls slowly (3.5 s, past Slack's 3 s ack budget), with 500, with 429 and
`retry_after`, or by resetting the connection; and that hands the bot duplicate and
out-of-order updates. Counted at the fake: every nudge arrives exactly once (no fault here
happens after the platform accepted a message), each failed call is retried once and only
once, every duplicate update gives one reply, and the log holds neither what was said nor
the token.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.store.repo import Store
from bot.store.tables import InboxRow, OutboxRow
from tests.harness.fake_telegram import TOKEN, FakeTelegram
from tests.harness.settle import settle_process
from tests.reliability.world import (
    NUDGE_TEXT,
    TelegramSamen,
    nudges_per_group,
    plant_nudges,
    timer_statuses,
    until,
)

NUDGES = 30
SEED = 9
FAULTS = ["slow"] * 4 + ["500"] * 4 + ["429"] * 4 + ["reset"] * 4
SLOW_S = 3.5
CHAT = -2_000_001  # a group where someone types commands
PERSON = {"id": 4242, "is_bot": False, "first_name": "Sanne"}


class FaultyTelegram(FakeTelegram):
    """The fake Bot API, with a fault for each of the next `sendMessage` calls in turn."""

    def __init__(self, faults: list[str]) -> None:
        super().__init__()
        self.faults = list(faults)
        self.given: Counter[str] = Counter()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "sendMessage" or not self.faults:
            return await super()._handle(request)
        fault = self.faults.pop(0)
        self.given[fault] += 1
        if fault == "slow":  # accepted, but the answer comes late
            await asyncio.sleep(SLOW_S)
            return await super()._handle(request)
        if fault == "reset":  # the connection drops before any answer
            assert request.transport is not None
            request.transport.abort()
            raise web.HTTPInternalServerError()  # never reaches the client
        if fault == "429":
            self.rate_limit_next("sendMessage", retry_after=1)
        else:
            self.fail_next("sendMessage", 500, "Internal Server Error")
        return await super()._handle(request)


def update(update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": PERSON,
            "chat": {"id": CHAT, "type": "supergroup", "title": "Wijkteam Zuid"},
            "date": 1700000000,
            "text": "/samen",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_slow_500_429_and_reset_answers_and_duplicate_updates_lose_and_double_nothing(
    tmp_path: Path,
) -> None:
    faults = list(FAULTS)
    random.Random(SEED).shuffle(faults)
    fake = FaultyTelegram(faults)
    api = await fake.start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'samen.db'}"
    samen: TelegramSamen | None = None
    try:
        ids = await plant_nudges(url, NUDGES)
        # Two updates, each delivered twice, the newer one first.
        for update_id in (701, 700, 701, 700):
            fake.queue_update(update(update_id))
        samen = TelegramSamen(tmp_path, api, TOKEN)
        await until(
            lambda: len(nudges_per_group(fake.messages)) >= NUDGES or not samen.alive(),
            60,
            "every nudge delivered",
        )
        await until(lambda: fake.confirmed(701) or not samen.alive(), 20, "updates confirmed")

        await settle_process(url, fake, alive=samen.alive)
        assert await timer_statuses(url, ids) == {"sent": NUDGES}
        assert await _backlog(url) == 0
        code = await samen.stop()
        assert code == 0, samen.output()[-2000:]

        assert fake.given == Counter(FAULTS)  # every fault was served
        per_group = nudges_per_group(fake.messages)
        assert len(per_group) == NUDGES and set(per_group.values()) == {1}
        # Each refused call was retried once, the slow ones not at all: bounded retries.
        failed_calls = sum(n for fault, n in fake.given.items() if fault != "slow")
        nudge_calls = [
            c for c in fake.called("sendMessage") if NUDGE_TEXT in str(c.args.get("text", ""))
        ]
        assert len(nudge_calls) <= NUDGES + failed_calls
        store = await Store.open(url)
        try:
            async with store.sessionmaker() as s:
                most = await s.scalar(select(func.max(OutboxRow.attempts)))
                inbox = await s.scalar(select(func.count()).where(InboxRow.platform == "telegram"))
        finally:
            await store.close()
        assert most is not None and most <= 2
        # The duplicate and out-of-order updates: stored once each, answered once each.
        assert inbox == 2
        replies = [m for m in fake.messages if m["chat"]["id"] == CHAT]
        assert len(replies) == 2
        log = samen.output()
        assert NUDGE_TEXT not in log and TOKEN.split(":")[1] not in log
    finally:
        if samen is not None and samen.alive():
            samen.kill()
        await fake.stop()


async def _backlog(url: str) -> int:
    store = await Store.open(url)
    try:
        return await store.outbox_backlog()
    finally:
        await store.close()
