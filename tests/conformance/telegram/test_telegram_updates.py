"""Every kind of update the Bot API defines (tests/conformance/telegram/updates.py, built
with python-telegram-bot's classes), through the real adapter in front of the real
runtime, by long polling and by webhook: confirmed (polling) or answered 200 (webhook), no
crash, no traceback or warning in the log, stored only when Samen uses it, and no Bot API
call where none is due."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import telegram as tg

from adapters.telegram import TelegramAdapter
from adapters.telegram.adapter import SECRET_HEADER
from bot.runtime.clock import FakeClock
from tests.conformance.telegram.updates import CASES, KINDS
from tests.harness.fake_telegram import TOKEN
from tests.harness.telegram import UPDATE_IDS, Group, fake_on, open_group, polling_adapter
from tests.harness.world import START

STORED = re.compile(r"inbox row \d+ kind=(\w+)")
# Calls the adapter makes on its own (starting, polling), not because of an update.
HOUSEKEEPING = frozenset({"getMe", "setMyCommands", "getUpdates", "deleteWebhook", "setWebhook"})


@pytest.fixture(params=["polling", "webhook"])
async def group(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Group]:
    clock = FakeClock(START)
    fake = fake_on(clock)
    await fake.start()
    if request.param == "polling":
        adapter = polling_adapter(fake)
    else:
        adapter = TelegramAdapter(
            token=TOKEN,
            mode="webhook",
            webhook_url="https://samen.example/telegram",
            host="127.0.0.1",
            port=0,
            api_url=fake.base_url,
        )
    world = await open_group(tmp_path, clock, fake, adapter)
    try:
        yield world
    finally:
        await world.close()
        await fake.stop()


async def send(group: Group, update: dict[str, object]) -> None:
    """As Telegram would: queued for getUpdates, or POSTed to the webhook with its secret."""
    adapter = group.adapter
    if adapter.mode == "polling":
        await group.deliver_update(update)
        return
    url = f"http://127.0.0.1:{adapter.port}{adapter.webhook_path}"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(url, json=update, headers={SECRET_HEADER: adapter.secret or ""}) as answer,
    ):
        assert answer.status == 200
    await group.settle()


def test_every_kind_the_bot_api_defines_is_covered() -> None:
    assert set(KINDS) == set(tg.Update.ALL_TYPES)


@pytest.mark.parametrize("name", CASES)
async def test_an_update_built_with_python_telegram_bot(
    group: Group, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    case = CASES[name]
    caplog.set_level(logging.INFO)
    before = len(group.fake.calls)
    update = case.build(next(UPDATE_IDS)).to_dict()
    await send(group, update)

    assert tuple(STORED.findall(caplog.text)) == case.stores
    calls = [c.method for c in group.fake.calls[before:] if c.method not in HOUSEKEEPING]
    assert tuple(calls) == case.calls
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
