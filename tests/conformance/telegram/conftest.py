"""The fake Bot API and a polling adapter pointed at it (without Telegram's limits, for
calls one by one), and a group around the real runtime on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram import TelegramAdapter
from bot.runtime.clock import FakeClock
from tests.harness.fake_telegram import FakeTelegram
from tests.harness.telegram import Group, bare_adapter, bare_fake, fake_on, telegram_world
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
    async with bare_fake() as server:
        yield server


@pytest.fixture
async def adapter(fake: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    async with bare_adapter(fake, poll_timeout=0.2) as telegram:
        yield telegram
