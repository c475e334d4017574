"""Setup: the factory reads the environment; the bot token never reaches the logs (R-SEC-4)."""

from __future__ import annotations

import asyncio
import logging

import pytest

import adapters.telegram.adapter as adapter_module
from adapters.telegram import (
    TelegramAdapter,
    TelegramNotConfigured,
    deep_link,
    telegram_adapter_from_env,
)
from bot.config import Settings
from bot.core.effects import Message, MessageKind
from bot.runtime.delivery import Delivery
from tests.harness.fake_telegram import TOKEN, FakeTelegram, Received

SENTINEL = "Zeer-geheime-toelichting-over-cliënt"


def _settings(token: str | None = TOKEN) -> Settings:
    return Settings.model_validate({"TELEGRAM_BOT_TOKEN": token} if token else {})


async def test_the_factory_points_the_bot_at_samen_telegram_api_url() -> None:
    adapter = telegram_adapter_from_env(
        _settings(), environ={"SAMEN_TELEGRAM_API_URL": "http://127.0.0.1:8081/bot"}
    )
    assert adapter.bot.base_url == f"http://127.0.0.1:8081/bot{TOKEN}"
    assert adapter.mode == "polling"
    assert adapter.platform == "telegram"
    assert adapter.limits.per_group == (20, 60.0) and adapter.limits.overall == (30, 1.0)


async def test_the_factory_chooses_webhook_mode_when_given_a_url() -> None:
    adapter = telegram_adapter_from_env(
        _settings(), webhook_url="https://samen.example/telegram", port=8080, environ={}
    )
    assert adapter.mode == "webhook" and adapter.port == 8080
    assert adapter.bot.base_url == f"https://api.telegram.org/bot{TOKEN}"


async def test_a_shared_webhook_secret_comes_from_the_environment() -> None:
    adapter = telegram_adapter_from_env(
        _settings(),
        webhook_url="https://samen.example/telegram",
        environ={"SAMEN_TELEGRAM_WEBHOOK_SECRET": "gedeeld_geheim-1"},
    )
    assert adapter.webhook_secret == "gedeeld_geheim-1"
    with pytest.raises(ValueError, match="SAMEN_TELEGRAM_WEBHOOK_SECRET must be"):
        telegram_adapter_from_env(
            _settings(), environ={"SAMEN_TELEGRAM_WEBHOOK_SECRET": "geen spaties!"}
        )


def test_the_factory_names_the_missing_variable() -> None:
    with pytest.raises(TelegramNotConfigured, match="TELEGRAM_BOT_TOKEN"):
        telegram_adapter_from_env(_settings(None), environ={})


def test_a_deep_link_opens_the_bot_with_a_start_token() -> None:
    assert deep_link("SamenTestBot", "t0k_en-1") == "https://t.me/SamenTestBot?start=t0k_en-1"
    with pytest.raises(ValueError):
        deep_link("SamenTestBot", "spaces are not allowed")


async def _exercise(fake: FakeTelegram) -> None:
    """Start, poll an update, deliver, fail a delivery, stop: every path that makes calls."""
    fake.queue_update(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "from": {"id": 42, "is_bot": False, "first_name": "Anna"},
                "chat": {"id": -100, "type": "group", "title": "Team"},
                "date": 1700000000,
                "text": "/samen status",
            },
        }
    )
    adapter = TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=1.0)
    received = Received()
    try:
        await adapter.start(received)
        async with asyncio.timeout(5):
            while not received.events:
                await asyncio.sleep(0.01)
        await adapter.deliver(Delivery(1, "send", "-100", Message(MessageKind.say, SENTINEL)))
        fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
        await adapter.deliver(Delivery(2, "send", "-100", Message(MessageKind.say, SENTINEL)))
    finally:
        await adapter.stop()
    assert received.events, "the polling path was exercised"


async def test_the_bot_token_never_appears_in_the_logs(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """R-SEC-4: with everything at DEBUG, still no token (httpx and PTB are kept quiet)."""
    caplog.set_level(logging.DEBUG)
    await _exercise(fake)
    assert caplog.records, "something was logged"
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
    assert SENTINEL not in caplog.text  # nor what was said (R-PRV-8)


async def test_without_quieting_the_http_logs_the_token_would_leak(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: httpx at INFO prints the token in every request URL."""
    monkeypatch.setattr(adapter_module, "quiet_http_logs", lambda: None)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")
    await _exercise(fake)
    assert TOKEN in caplog.text
