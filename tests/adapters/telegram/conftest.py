"""Fixtures for the Telegram tests: a started fake Bot API and adapters pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.telegram import TelegramAdapter
from tests.harness.fake_telegram import FakeTelegram
from tests.harness.telegram import bare_adapter, bare_fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with bare_fake() as server:
        yield server


@pytest.fixture
async def adapter(fake: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    async with bare_adapter(fake, poll_timeout=1.0) as telegram:
        yield telegram
