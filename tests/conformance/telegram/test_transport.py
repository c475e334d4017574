"""The Telegram adapter's doors: webhook bodies refused before parsing (too large, nested too
deeply, not JSON), and a revoked token (401 Unauthorized) that ends `samen run` with a
clear message and a non-zero exit instead of a poller that silently stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from adapters.telegram import TelegramAdapter
from adapters.telegram.adapter import MAX_UPDATE_BYTES, SECRET_HEADER
from adapters.telegram.parse import nesting_depth
from bot.core.effects import Message, MessageKind
from bot.runtime.delivery import Delivery
from tests.harness.fake_telegram import TOKEN, FakeTelegram, Received
from tests.harness.process import ROOT, environment, samen

BOUND = aiohttp.ClientTimeout(total=10)


@pytest.fixture
async def webhook(fake: FakeTelegram) -> AsyncIterator[tuple[TelegramAdapter, Received]]:
    adapter = TelegramAdapter(
        token=TOKEN,
        mode="webhook",
        webhook_url="https://samen.example/telegram",
        host="127.0.0.1",
        port=0,
        api_url=fake.base_url,
    )
    received = Received()
    await adapter.start(received)
    try:
        yield adapter, received
    finally:
        await adapter.stop()


async def post_raw(adapter: TelegramAdapter, body: bytes) -> int:
    url = f"http://127.0.0.1:{adapter.port}{adapter.webhook_path}"
    headers = {SECRET_HEADER: adapter.secret or "", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession(timeout=BOUND) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400),  # 100,000 deep: refused before parsing
        (b'{"update_id": 1, "message": ' * 200 + b"1" + b"}" * 200, 400),
        (b"{not json", 400),
        (b"\xff\xfe\x00", 400),
        (b"[1, 2, 3]", 400),
        (b"null", 400),
        (b'{"update_id": 1, "pad": "' + b"x" * (MAX_UPDATE_BYTES + 10) + b'"}', 413),
    ],
    ids=["deep-array", "deep-object", "not-json", "not-utf8", "array", "null", "too-large"],
)
async def test_a_bad_webhook_body_is_refused_with_one_line_and_no_traceback(
    webhook: tuple[TelegramAdapter, Received],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    status: int,
) -> None:
    adapter, received = webhook
    caplog.set_level(logging.DEBUG)
    assert await post_raw(adapter, body) == status
    assert received.events == []
    refusals = [r for r in caplog.records if "telegram webhook" in r.getMessage()]
    assert len(refusals) == 1
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text


async def test_an_ordinary_update_still_passes_the_door(
    webhook: tuple[TelegramAdapter, Received],
) -> None:
    adapter, received = webhook
    body = (
        b'{"update_id": 7, "message": {"message_id": 1, "date": 1700000000, "text": "/samen",'
        b' "chat": {"id": -100123, "type": "supergroup", "title": "Wijkteam"},'
        b' "from": {"id": 42, "is_bot": false, "first_name": "Anna"}}}'
    )
    assert await post_raw(adapter, body) == 200
    assert [e.kind for e in received.events] == ["command"]


def test_the_depth_counts_brackets_outside_strings_only() -> None:
    assert nesting_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert nesting_depth(b'{"a": "\\"[[["}') == 1
    assert nesting_depth(b"") == 0


async def test_401_on_get_updates_halts_the_adapter_with_a_clear_reason(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=0.2)
    fake.fail_next("getUpdates", 401, "Unauthorized")
    try:
        await adapter.start(Received())
        await asyncio.wait_for(adapter.halted.wait(), 10)
    finally:
        await adapter.stop()
    assert "401 Unauthorized on getUpdates" in adapter.halt_reason
    assert "TELEGRAM_BOT_TOKEN" in adapter.halt_reason
    assert TOKEN not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.parametrize("method", ["getUpdates", "setWebhook"])
async def test_samen_run_ends_non_zero_with_a_clear_message_on_401(
    fake: FakeTelegram, tmp_path: Path, method: str
) -> None:
    """A real `samen run` process: the token is refused after getMe succeeded (revoked while
    starting, or later). It must end by itself, say what to do, and exit non-zero."""
    fake.fail_next(method, 401, "Unauthorized")
    env = environment(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, SAMEN_TELEGRAM_API_URL=fake.base_url)
    args = [samen(), "run"]
    if method == "setWebhook":
        args += ["--telegram-webhook", "https://samen.example/telegram", "--port", "0"]
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = err.decode()
    assert process.returncode not in (0, None), errors
    assert f"401 Unauthorized on {method}" in errors, errors
    assert "set TELEGRAM_BOT_TOKEN" in errors, errors
    assert "Traceback" not in errors, errors
    assert TOKEN not in errors


async def test_401_on_a_send_halts_a_webhook_adapter_too(
    webhook: tuple[TelegramAdapter, Received], fake: FakeTelegram
) -> None:
    """Webhook mode polls nothing: a revoked token shows on the next call out."""
    adapter, _ = webhook
    fake.fail_next("sendMessage", 401, "Unauthorized")
    result = await adapter.deliver(Delivery(1, "send", "-100123", Message(MessageKind.say, "x")))
    assert result.failed == "InvalidToken"
    assert adapter.halted.is_set()
    assert "401 Unauthorized on sendMessage" in adapter.halt_reason
