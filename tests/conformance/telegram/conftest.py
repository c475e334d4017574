"""The fake Bot API and a polling adapter pointed at it (without Telegram's limits, for
calls one by one), and a group around the real runtime on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram import TelegramAdapter
from bot.runtime.clock import FakeClock
from tests.harness.fake_telegram import TOKEN, FakeTelegram
from tests.harness.telegram import Group, fake_on, telegram_world
from tests.harness.world import START


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Group]:
    clock = FakeClock(START)
    fake = fake_on(clock)
    await fake.start()
    try:
        async with telegram_world(tmp_path, clock, fake) as group:
            yield group
    finally:
        await fake.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(enforce_limits=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def adapter(fake: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    telegram = TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=0.2)
    try:
        yield telegram
    finally:
        await telegram.stop()
