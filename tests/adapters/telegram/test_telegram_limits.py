"""The fake Bot API enforces Telegram's limits the way the real one does (429 with
`parameters.retry_after`), and the meeting status board: one pinned message, edited."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.telegram import TelegramAdapter
from bot.core.effects import Message, MessageKind
from bot.runtime.delivery import Delivery
from tests.harness.fake_telegram import TOKEN, FakeTelegram

GROUP = "-1001234567890"
RUN = "0123456789abcdef"


class Ticks:
    """A clock for the fake that moves only when told."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def limited() -> AsyncIterator[tuple[FakeTelegram, Ticks]]:
    ticks = Ticks()
    server = FakeTelegram(now=ticks)
    await server.start()
    try:
        yield server, ticks
    finally:
        await server.stop()


@pytest.fixture
async def telegram(limited: tuple[FakeTelegram, Ticks]) -> AsyncIterator[TelegramAdapter]:
    fake, _ = limited
    adapter = TelegramAdapter(token=TOKEN, api_url=fake.base_url)
    try:
        yield adapter
    finally:
        await adapter.stop()


def say(text: str, kind: MessageKind = MessageKind.say) -> Message:
    return Message(kind, text)


async def test_one_message_a_second_per_chat(
    limited: tuple[FakeTelegram, Ticks], telegram: TelegramAdapter
) -> None:
    fake, ticks = limited
    assert (await telegram.deliver(Delivery(1, "send", "dm:5", say("a")))).ok
    refused = await telegram.deliver(Delivery(2, "send", "dm:5", say("b")))
    assert refused.retry_after == 1.0 and fake.limited == 1
    assert (await telegram.deliver(Delivery(3, "send", "dm:6", say("c")))).ok  # other chat
    ticks.t += 1.0
    assert (await telegram.deliver(Delivery(4, "send", "dm:5", say("b")))).ok


async def test_twenty_messages_a_minute_per_group(
    limited: tuple[FakeTelegram, Ticks], telegram: TelegramAdapter
) -> None:
    fake, ticks = limited
    for n in range(20):
        assert (await telegram.deliver(Delivery(n, "send", GROUP, say(f"{n}"), group=True))).ok
        ticks.t += 1.0
    refused = await telegram.deliver(Delivery(20, "send", GROUP, say("21"), group=True))
    assert refused.retry_after is not None and 40 <= refused.retry_after <= 41
    ticks.t += 41
    assert (await telegram.deliver(Delivery(21, "send", GROUP, say("21"), group=True))).ok
    assert fake.limited == 1


async def test_thirty_messages_a_second_overall(
    limited: tuple[FakeTelegram, Ticks], telegram: TelegramAdapter
) -> None:
    fake, _ = limited
    for n in range(30):
        assert (await telegram.deliver(Delivery(n, "send", f"dm:{100 + n}", say("x")))).ok
    refused = await telegram.deliver(Delivery(31, "send", "dm:999", say("x")))
    assert refused.retry_after == 1.0 and fake.limited == 1


async def test_meeting_status_goes_into_one_pinned_message_that_is_edited(
    limited: tuple[FakeTelegram, Ticks], telegram: TelegramAdapter
) -> None:
    fake, ticks = limited
    await telegram.start(_ignore)
    first = await telegram.deliver(
        Delivery(1, "send", GROUP, say("Nog 2 minuten", MessageKind.warning), group=True, run=RUN)
    )
    ticks.t += 1
    second = await telegram.deliver(
        Delivery(2, "send", GROUP, say("Gepauzeerd", MessageKind.status), group=True, run=RUN)
    )
    ticks.t += 1
    bell = await telegram.deliver(
        Delivery(3, "send", GROUP, say("Bel!", MessageKind.bell), group=True, run=RUN)
    )
    assert first.ok and second.ok and bell.ok
    assert second.ref == first.ref and bell.ref != first.ref
    [sent_status, sent_bell] = fake.called("sendMessage")
    assert sent_status.args["disable_notification"] in (True, "true")
    assert sent_bell.args["text"] == "Bel!"
    [edit] = fake.called("editMessageText")
    assert edit.args["text"] == "Gepauzeerd"
    assert fake.pinned == {int(GROUP): [int(str(first.ref).rpartition(":")[2])]}
    assert await telegram.state.pinned(GROUP, RUN) == first.ref


async def _ignore(_: object) -> None:
    return None
