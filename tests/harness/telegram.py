"""The Telegram world: a group and its members' private chats around the real runtime.

`open_group` builds the runtime (`build_runtime`: store on SQLite, service, scheduler,
outbox) with the real Telegram adapter, which polls the fake Bot API on 127.0.0.1
(tests.harness.fake_telegram) or takes its webhook, and time on a FakeClock that the
fake's rate limits follow too. Nothing is stubbed between the update and the Bot API call.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.base import Inbound
from adapters.telegram import TelegramAdapter
from bot.config import Settings
from bot.runtime.clock import FakeClock
from bot.wiring import Runtime, build_runtime
from tests.harness.fake_telegram import BOT, TOKEN, FakeTelegram
from tests.harness.world import FLOWS, World

GROUP = -1001234567890
BOUND = 10.0  # seconds: a bound on waiting for the polling loop, never an assertion
PACE = timedelta(seconds=90)  # the longest wait for a rate limit the clock skips
PEOPLE = {"anna": 101, "bram": 102, "cor": 103}
UPDATE_IDS = itertools.count(5000)


class Group(World):
    """A Telegram group, its members' private chats and the runtime, stepped by hand."""

    def __init__(
        self, runtime: Runtime, adapter: TelegramAdapter, fake: FakeTelegram, clock: FakeClock
    ) -> None:
        super().__init__(runtime, clock, [fake], pace=PACE)
        self.adapter, self.fake = adapter, fake
        self.seen: set[str] = set()
        self._ids = UPDATE_IDS  # Telegram never reuses an update id, not even after a restart

    async def close(self) -> None:
        await self.runtime.stop()  # the adapter first, then the store

    async def handler(self, event: Inbound) -> None:
        await self.runtime.inbound(event)
        self.seen.add(event.key)

    # -- people act

    def person(self, name: str) -> dict[str, Any]:
        return {"id": PEOPLE[name], "is_bot": False, "first_name": name.capitalize()}

    def chat(self, name: str | None) -> dict[str, Any]:
        if name is None:
            return {"id": GROUP, "type": "supergroup", "title": "Wijkteam Noord"}
        return {"id": PEOPLE[name], "type": "private", "first_name": name.capitalize()}

    def message_update(
        self, name: str, text: str, *, private: bool = False, reply_to: int | None = None
    ) -> dict[str, Any]:
        update_id = next(self._ids)
        message: dict[str, Any] = {
            "message_id": update_id,
            "from": self.person(name),
            "chat": self.chat(name if private else None),
            "date": int(self.clock.now().timestamp()),
            "text": text,
        }
        if text.startswith("/"):
            head = text.split(" ")[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(head)}]
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "chat": message["chat"],
                "date": 0,
                "from": {k: BOT[k] for k in ("id", "is_bot", "first_name", "username")},
            }
        return {"update_id": update_id, "message": message}

    async def say(self, name: str, text: str, **options: Any) -> None:
        await self.deliver_update(self.message_update(name, text, **options))

    async def press(self, name: str, message: dict[str, Any], label: str) -> None:
        """`name` presses the button whose text contains `label` on `message`."""
        markup = message["reply_markup"]
        buttons = [b for row in markup["inline_keyboard"] for b in row]
        data = next(b["callback_data"] for b in buttons if label in b["text"])
        update_id = next(self._ids)
        await self.deliver_update(
            {
                "update_id": update_id,
                "callback_query": {
                    "id": f"cb{update_id}",
                    "from": self.person(name),
                    "chat_instance": "1",
                    "data": data,
                    "message": message,
                },
            }
        )

    async def deliver_update(self, update: dict[str, Any]) -> None:
        self.fake.queue_update(update)
        # Confirmed by the polling loop only after the shell stored what it gave.
        await until(lambda: self.fake.confirmed(update["update_id"]))
        await self.settle()

    # -- what Telegram saw

    def sent_to(self, who: str | None) -> list[dict[str, Any]]:
        chat = GROUP if who is None else PEOPLE[who]
        return [m for m in self.fake.messages if m["chat"]["id"] == chat]

    def texts(self, who: str | None) -> str:
        return "\n".join(m["text"] for m in self.sent_to(who))

    def edits_of(self, who: str) -> list[dict[str, Any]]:
        edits = self.fake.called("editMessageText")
        return [c.args for c in edits if int(c.args["chat_id"]) == PEOPLE[who]]


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.01)


@asynccontextmanager
async def bare_fake() -> AsyncIterator[FakeTelegram]:
    """A started fake Bot API without Telegram's limits: single adapter calls back to back
    (the limits are the outbox's business; the scenario tests run the fake with them on)."""
    server = FakeTelegram(enforce_limits=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def bare_adapter(fake: FakeTelegram, poll_timeout: float) -> AsyncIterator[TelegramAdapter]:
    """A polling adapter pointed at `fake`, not started; stopped afterwards."""
    telegram = TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=poll_timeout)
    try:
        yield telegram
    finally:
        await telegram.stop()


def fake_on(clock: FakeClock) -> FakeTelegram:
    """The fake Bot API with Telegram's limits, on the world's clock (not started)."""
    return FakeTelegram(now=lambda: clock.now().timestamp())


def polling_adapter(fake: FakeTelegram) -> TelegramAdapter:
    return TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=0.2)


async def open_group(
    tmp_path: Path, clock: FakeClock, fake: FakeTelegram, adapter: TelegramAdapter
) -> Group:
    """The runtime on the database in `tmp_path` with `adapter` (started) talking to the
    started `fake`; `close()` it afterwards."""
    settings = Settings(data_dir=tmp_path, flows_dir=FLOWS)
    runtime = await build_runtime(settings, clock=clock, adapters=[adapter], use_apscheduler=False)
    group = Group(runtime, adapter, fake, clock)
    await adapter.start(group.handler)
    return group


@asynccontextmanager
async def telegram_world(
    tmp_path: Path, clock: FakeClock, fake: FakeTelegram
) -> AsyncIterator[Group]:
    """A group on a polling adapter and the started `fake`, closed afterwards."""
    group = await open_group(tmp_path, clock, fake, polling_adapter(fake))
    try:
        yield group
    finally:
        await group.close()
