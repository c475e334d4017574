"""The Bot API's documented error answers, from the fake Bot API through
python-telegram-bot's real client: 429 with parameters.retry_after, 403 blocked by the
user, 400 "message is not modified", "message to edit not found" and "chat not found",
409 Conflict (another getUpdates caller) and 5xx. Each becomes what the outbox and the
poller expect, with one quiet log line and never the message text."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from adapters.telegram import TelegramAdapter
from bot.core.effects import Message, MessageKind
from bot.runtime.delivery import Delivery, DeliveryResult
from tests.harness.fake_telegram import FakeTelegram, Received
from tests.harness.telegram import Group

GROUP = "-1001234567890"
SECRET_TEXT = "GEHEIM_VERSLAG"


def say(text: str = SECRET_TEXT) -> Message:
    return Message(MessageKind.say, text)


async def deliver(adapter: TelegramAdapter, op: str = "send", **fields: object) -> DeliveryResult:
    fields.setdefault("chat", GROUP)
    return await adapter.deliver(Delivery(1, op, message=say(), group=True, **fields))  # type: ignore[arg-type]


async def test_429_gives_retry_after(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    fake.rate_limit_next("sendMessage", retry_after=11)
    assert await deliver(adapter) == DeliveryResult(retry_after=11.0)


async def test_403_blocked_parks_a_private_message(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    result = await deliver(adapter, chat="dm:101")
    assert result == DeliveryResult(blocked_until_start=True)


async def test_403_in_a_group_fails_with_a_code(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail_next("sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat")
    assert await deliver(adapter) == DeliveryResult(failed="forbidden")


async def test_400_not_modified_on_an_edit_counts_as_done(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail_next(
        "editMessageText",
        400,
        "Bad Request: message is not modified: specified new message content and reply "
        "markup are exactly the same as a current content and reply markup of the message",
    )
    result = await deliver(adapter, "edit", ref=f"{GROUP}:5")
    assert result.ok and result.ref == f"{GROUP}:5"


@pytest.mark.parametrize(
    ("description", "code"),
    [
        ("Bad Request: message to edit not found", "message_not_found"),
        ("Bad Request: chat not found", "chat_not_found"),
        ("Bad Request: message thread not found", "thread_not_found"),
        ("Bad Request: not enough rights to send text messages to the chat", "not_enough_rights"),
    ],
)
async def test_400s_fail_with_a_short_code(
    fake: FakeTelegram, adapter: TelegramAdapter, description: str, code: str
) -> None:
    method = "editMessageText" if "edit" in description else "sendMessage"
    fake.fail_next(method, 400, description)
    op = "edit" if method == "editMessageText" else "send"
    result = await deliver(adapter, op, ref=f"{GROUP}:5")
    assert result == DeliveryResult(failed=code)


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_5xx_raises_for_the_outbox_to_retry(
    fake: FakeTelegram, adapter: TelegramAdapter, status: int
) -> None:
    fake.fail_next("sendMessage", status, "Internal Server Error")
    with pytest.raises(Exception) as raised:
        await deliver(adapter)
    assert SECRET_TEXT not in str(raised.value)
    assert (await deliver(adapter)).ok  # the retry goes through


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (
            409,
            "Conflict: terminated by other getUpdates request; make sure that only one bot "
            "instance is running",
        ),
        (502, "Bad Gateway"),
    ],
)
async def test_polling_goes_on_after_a_conflict_or_a_server_error(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    caplog: pytest.LogCaptureFixture,
    status: int,
    description: str,
) -> None:
    caplog.set_level(logging.INFO)
    fake.fail_next("getUpdates", status, description)
    received = Received()
    await adapter.start(received)
    fake.queue_update(
        {
            "update_id": 900,
            "message": {
                "message_id": 1,
                "date": 1700000000,
                "chat": {"id": -100123, "type": "supergroup", "title": "Wijkteam"},
                "from": {"id": 42, "is_bot": False, "first_name": "Anna"},
                "text": "/samen",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
    )
    async with asyncio.timeout(15):
        while not received.events:
            await asyncio.sleep(0.05)
    assert not adapter.halted.is_set()
    assert "telegram polling:" in caplog.text  # one line with the error's type
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_group_send_refused_for_good_is_logged_and_told_to_the_chair(
    world: Group, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the outbox: the group is gone for Telegram ("chat not found"), so the
    reflection's bell fails with that code in the log, and the chair (who has a private
    chat) is told once, however many of the run's messages fail."""
    await world.say("anna", "/samen")
    await world.say("anna", "/samen", private=True)
    await world.say("anna", "/samen rol @101 voorzitter")
    caplog.set_level(logging.INFO)
    world.fake.gone.add(int(GROUP))
    await world.say("anna", "/samen start vijf-minuten")
    await world.wait(timedelta(minutes=30))
    failures = [
        r.getMessage() for r in caplog.records if "failed: chat_not_found" in r.getMessage()
    ]
    assert any("(bell, send to a" in line for line in failures), failures
    told = [m for m in world.sent_to("anna") if "chat_not_found" in m["text"]]
    assert len(told) == 1
    assert "bel" in told[0]["text"]
    assert SECRET_TEXT not in caplog.text
