"""Fixtures for the Telegram tests: a started fake Bot API and adapters pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.telegram import TelegramAdapter
from tests.harness.fake_telegram import TOKEN, FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    # Single adapter calls back to back: the limits are the outbox's business here (the
    # scenario tests and test_telegram_limits.py run the fake with them on).
    server = FakeTelegram(enforce_limits=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def adapter(fake: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    telegram = TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=1.0)
    try:
        yield telegram
    finally:
        await telegram.stop()
