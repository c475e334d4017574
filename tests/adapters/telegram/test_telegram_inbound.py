"""Inbound through the adapter: the webhook (secret, ack after store) and long polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.base import Inbound
from adapters.telegram import TelegramAdapter
from adapters.telegram.adapter import SECRET_HEADER
from tests.harness.fake_telegram import TOKEN, FakeTelegram, Received

GROUP = {"id": -1001234567890, "title": "Wijkteam Noord", "type": "supergroup"}
ANNA = {"id": 42, "is_bot": False, "first_name": "Anna"}
BOUND = 5.0  # seconds: the most any wait in these tests may take


def _command(update_id: int, text: str = "/bel pauze") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": ANNA,
            "chat": GROUP,
            "date": 1700000000,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
        },
    }


@pytest.fixture
async def webhook(fake: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    telegram = TelegramAdapter(
        token=TOKEN,
        mode="webhook",
        webhook_url="https://samen.example/telegram",
        host="127.0.0.1",
        port=0,
        api_url=fake.base_url,
    )
    try:
        yield telegram
    finally:
        await telegram.stop()


async def _post(adapter: TelegramAdapter, body: dict[str, Any], secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    url = f"http://127.0.0.1:{adapter.port}{adapter.webhook_path}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=BOUND)
        ) as response,
    ):
        return response.status


# --------------------------------------------------------------------------- webhook


async def test_webhook_registers_a_random_secret_at_start(
    fake: FakeTelegram, webhook: TelegramAdapter
) -> None:
    await webhook.start(Received())
    (call,) = fake.called("setWebhook")
    assert call.args["url"] == "https://samen.example/telegram"
    assert call.args["secret_token"] == webhook.secret and len(str(webhook.secret)) >= 32
    assert call.args["allowed_updates"] == [
        "message",
        "callback_query",
        "my_chat_member",
        "chat_member",
    ]
    other = TelegramAdapter(
        token=TOKEN,
        mode="webhook",
        webhook_url="https://x",
        port=0,
        host="127.0.0.1",
        api_url=fake.base_url,
    )
    try:
        await other.start(Received())
        assert other.secret != webhook.secret  # new on every start
    finally:
        await other.stop()
    shared = TelegramAdapter(
        token=TOKEN,
        mode="webhook",
        webhook_url="https://x",
        port=0,
        host="127.0.0.1",
        api_url=fake.base_url,
        webhook_secret="gedeeld_geheim-1",  # several processes behind one URL
    )
    try:
        await shared.start(Received())
        assert fake.called("setWebhook")[-1].args["secret_token"] == "gedeeld_geheim-1"
        assert shared.secret == "gedeeld_geheim-1"
    finally:
        await shared.stop()


async def test_webhook_with_the_right_secret_stores_before_it_answers_200(
    webhook: TelegramAdapter,
) -> None:
    """R-ING-3: the 200 goes out only after the handler returned."""
    release = asyncio.Event()
    seen: list[Inbound] = []

    async def slow_store(event: Inbound) -> None:
        seen.append(event)
        if event.key == "900":
            await release.wait()  # the first update's store is slow; later ones are not

    await webhook.start(slow_store)
    post = asyncio.create_task(_post(webhook, _command(900), webhook.secret))
    async with asyncio.timeout(BOUND):
        while not seen:
            await asyncio.sleep(0.01)
    # A later update, stored at once. Its 200 comes back after any early 200 for the
    # first one would have: that one was written before the first store even began.
    assert await _post(webhook, _command(906), webhook.secret) == 200
    assert not post.done(), "answered before the event was stored"
    release.set()
    assert await asyncio.wait_for(post, BOUND) == 200
    assert [e.key for e in seen] == ["900", "906"] and seen[0].payload["args"] == "pauze"


@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
async def test_webhook_without_the_right_secret_is_refused_and_nothing_handed_on(
    webhook: TelegramAdapter, secret: str | None
) -> None:
    """R-SEC-3."""
    received = Received()
    await webhook.start(received)
    assert await _post(webhook, _command(901), secret) == 403
    assert received.events == []


async def test_the_same_update_twice_gives_the_same_key_twice(webhook: TelegramAdapter) -> None:
    """R-ING-4: both copies reach the inbox with one key; the inbox keeps one."""
    received = Received()
    await webhook.start(received)
    for _ in range(2):
        assert await _post(webhook, _command(902), webhook.secret) == 200
    assert [e.key for e in received.events] == ["902", "902"]


async def test_a_failing_store_answers_500_so_telegram_sends_it_again(
    webhook: TelegramAdapter,
) -> None:
    async def broken(_: Inbound) -> None:
        raise OSError("disk full")

    await webhook.start(broken)
    assert await _post(webhook, _command(903), webhook.secret) == 500


async def test_a_toggle_press_redraws_the_keyboard_and_stores_nothing(
    fake: FakeTelegram, webhook: TelegramAdapter
) -> None:
    received = Received()
    await webhook.start(received)
    keyboard = [
        [{"text": "☐ Rouw", "callback_data": "t|0|rouw|0"}],
        [{"text": "✔ Klaar", "callback_data": "d|0123456789abcdef|stap|themas|0"}],
    ]
    press = {
        "update_id": 904,
        "callback_query": {
            "id": "cbq-1",
            "from": ANNA,
            "chat_instance": "1",
            "data": "t|0|rouw|0",
            "message": {
                "message_id": 8,
                "from": {"id": 123456, "is_bot": True, "first_name": "Samen"},
                "chat": {"id": 42, "type": "private", "first_name": "Anna"},
                "date": 1700000000,
                "text": "Welke thema's?",
                "reply_markup": {"inline_keyboard": keyboard},
            },
        },
    }
    assert await _post(webhook, press, webhook.secret) == 200
    assert received.events == []
    (edit,) = fake.called("editMessageReplyMarkup")
    assert edit.args["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "☑ Rouw",
        "callback_data": "t|0|rouw|1",
    }
    assert fake.called("answerCallbackQuery")[0].args["callback_query_id"] == "cbq-1"


# --------------------------------------------------------------------------- polling


async def _until(condition: Any) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.01)


async def test_polling_hands_over_every_update_and_confirms_after_storing(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.queue_update(_command(1001, "/samen start intervisie"))
    fake.queue_update(_command(1002, "/bel +5"))
    received = Received()
    await adapter.start(received)
    await _until(lambda: len(received.events) == 2)
    assert [(e.key, e.payload["command"]) for e in received.events] == [
        ("1001", "samen"),
        ("1002", "bel"),
    ]
    await _until(lambda: any(c.args.get("offset") == "1003" for c in fake.called("getUpdates")))
    assert fake.called("deleteWebhook"), "polling starts by removing any webhook"


async def test_polling_asks_again_for_an_update_the_store_could_not_take(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """R-ING-3: the offset moves on only after the store; a failure means a second copy."""
    keys: list[str] = []

    async def flaky(event: Inbound) -> None:
        keys.append(event.key)
        if len(keys) == 1:
            raise OSError("database restarting")

    fake.queue_update(_command(2001))
    await adapter.start(flaky)
    await _until(lambda: len(keys) == 2)
    assert keys == ["2001", "2001"]


async def test_start_registers_the_commands_in_dutch_and_english(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    await adapter.start(Received())
    calls = fake.called("setMyCommands")
    assert [c.args.get("language_code") for c in calls] == [None, "nl", "en"]
    assert [c["command"] for c in calls[1].args["commands"]] == ["samen", "bel"]
    assert adapter.username == "SamenTestBot"


async def test_polling_a_button_press_reaches_the_shell_and_stops_the_spinner(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """Through PTB's Update objects and back to Bot API shapes, keyboard included."""
    fake.queue_update(
        {
            "update_id": 3001,
            "callback_query": {
                "id": "cbq-9",
                "from": ANNA,
                "chat_instance": "1",
                "data": "d|0123456789abcdef|stap|themas|0",
                "message": {
                    "message_id": 8,
                    "from": {"id": 123456, "is_bot": True, "first_name": "Samen"},
                    "chat": {"id": 42, "type": "private", "first_name": "Anna"},
                    "date": 1700000000,
                    "text": "Welke thema's?",
                    "reply_markup": {
                        "inline_keyboard": [
                            [{"text": "☑ Rouw", "callback_data": "t|0|rouw|1"}],
                            [{"text": "☐ Geld", "callback_data": "t|0|geld|0"}],
                        ]
                    },
                },
            },
        }
    )
    received = Received()
    await adapter.start(received)
    await _until(lambda: bool(received.events) and bool(fake.called("answerCallbackQuery")))
    (event,) = received.events
    assert event.kind == "answer" and event.channel == "dm:42"
    assert event.payload["value"] == ["rouw"] and event.payload["question"] == "themas"
    assert "42" in adapter.private


async def test_a_first_private_message_after_a_refusal_counts_as_pressing_start(
    fake: FakeTelegram, webhook: TelegramAdapter
) -> None:
    """Someone who was refused (403) and now writes to the bot privately, without the
    link, has started it: the shell hears 'joined' so that what waited goes out."""
    received = Received()
    await webhook.start(received)
    await webhook.state.set_private_chat("42", "blocked")
    hello = {
        "update_id": 950,
        "message": {
            "message_id": 3,
            "from": ANNA,
            "chat": {"id": 42, "type": "private", "first_name": "Anna"},
            "date": 1700000000,
            "text": "hoi",
        },
    }
    assert await _post(webhook, hello, webhook.secret) == 200
    (event,) = received.events
    assert (event.kind, event.channel, event.key, event.payload) == (
        "joined",
        "dm:42",
        "950:start",
        {"start": ""},
    )
    assert await webhook.chat_state("42") == "open"
    hello["update_id"] = 951  # once open, talk in the private chat is nobody's business
    assert await _post(webhook, hello, webhook.secret) == 200
    assert len(received.events) == 1
