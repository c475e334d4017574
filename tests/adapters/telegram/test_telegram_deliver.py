"""Delivery through the real python-telegram-bot `Bot` against the local fake Bot API."""

from __future__ import annotations

import pytest

from adapters.telegram import TelegramAdapter
from bot.core.effects import Message, MessageKind, OptionView, QuestionView
from bot.runtime.delivery import Delivery, DeliveryResult
from tests.harness.fake_telegram import FakeTelegram

GROUP = "-1001234567890"
RUN = "0123456789abcdef"


def _say(text: str = "Welkom bij de intervisie") -> Message:
    return Message(MessageKind.say, text)


def _form(current: str | None = None, closed: bool = False) -> Message:
    question = QuestionView(
        "stap",
        "zorg",
        "choice",
        "Grootste zorg?",
        options=(OptionView("rouw", "Rouw"), OptionView("geld", "Geld")),
        current=current,
    )
    return Message(MessageKind.form, "Vraag", questions=(question,), closed=closed)


async def test_send_to_a_group_returns_a_ref_and_opens_a_thread(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    result = await adapter.deliver(Delivery(1, "send", GROUP, _say(), group=True))
    assert result.ok and result.ref == f"{GROUP}:1" and result.thread == "1"
    (call,) = fake.called("sendMessage")
    assert call.args["chat_id"] == GROUP and call.args["text"] == "Welkom bij de intervisie"
    assert "parse_mode" not in call.args  # plain text: nothing in it is markup


async def test_a_thread_message_replies_to_the_runs_first_message(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    result = await adapter.deliver(Delivery(2, "send", GROUP, _say(), thread="1", group=True))
    assert result.ok and result.thread is None
    reply = fake.called("sendMessage")[0].args["reply_parameters"]
    assert reply["message_id"] == 1 and reply["allow_sending_without_reply"] is True


async def test_a_form_in_a_private_chat_carries_its_buttons(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    result = await adapter.deliver(Delivery(3, "send", "dm:42", _form(), run=RUN))
    assert result.ok and result.ref == "42:1" and result.thread is None
    args = fake.called("sendMessage")[0].args
    assert args["chat_id"] == "42"
    datas = [b["callback_data"] for row in args["reply_markup"]["inline_keyboard"] for b in row]
    assert datas == [f"a|{RUN}|stap|zorg|rouw", f"a|{RUN}|stap|zorg|geld"]
    assert "42" in adapter.private


async def test_edit_by_ref_changes_text_and_buttons_in_place(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    sent = await adapter.deliver(Delivery(4, "send", "dm:42", _form(), run=RUN))
    edited = await adapter.deliver(
        Delivery(5, "edit", "", _form(current="geld"), ref=sent.ref, run=RUN)
    )
    assert edited.ok and edited.ref == sent.ref
    (call,) = fake.called("editMessageText")
    assert call.args["chat_id"] == "42" and call.args["message_id"] == "1"
    labels = [b["text"] for row in call.args["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Rouw", "✓ Geld"]
    closed = await adapter.deliver(Delivery(6, "edit", "", _form(closed=True), ref=sent.ref))
    assert closed.ok
    assert "reply_markup" not in fake.called("editMessageText")[1].args


async def test_an_edit_without_a_ref_fails_without_a_call(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    result = await adapter.deliver(Delivery(7, "edit", "", _say(), ref=None))
    assert result.failed == "no message ref"
    assert fake.called("editMessageText") == []


# PTB's own RetryAfter constructor reads its deprecated int attribute; not our code.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_429_becomes_retry_after_and_nothing_is_retried_here(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """R-OUT-2: the adapter reports; the outbox waits."""
    fake.rate_limit_next("sendMessage", retry_after=3)
    result = await adapter.deliver(Delivery(8, "send", GROUP, _say(), group=True))
    assert result.retry_after == 3.0 and not result.ok and result.failed is None
    assert len(fake.called("sendMessage")) == 1


async def test_a_private_chat_never_started_is_blocked_until_start_and_remembered(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """403: no failure, no retries: the outbox parks it; the next message to the same
    person costs no call until they press Start."""
    fake.not_started.add(77)
    result = await adapter.deliver(Delivery(9, "send", "dm:77", _form(), run=RUN))
    assert result.blocked_until_start and result.failed is None and not result.ok
    assert adapter.needs_start("77")
    again = await adapter.deliver(Delivery(10, "send", "dm:77", _form(), run=RUN))
    assert again.blocked_until_start
    assert len(fake.called("sendMessage")) == 1
    assert await adapter.state.private_chat("77") == "blocked"


async def test_a_person_telegram_never_saw_is_blocked_until_start_too(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    result = await adapter.deliver(Delivery(9, "send", "dm:78", _form(), run=RUN))
    assert result.blocked_until_start and adapter.needs_start("78")


async def test_long_callback_data_and_reply_routing_are_kept_in_the_state(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """What a restart must not lose is written through to the attached state."""
    question = QuestionView(
        "een-heel-lange-stapnaam",
        "een-heel-lange-vraagnaam",
        "choice",
        "Vraag?",
        options=(OptionView("een-heel-lange-optienaam", "Optie"),),
    )
    free = QuestionView("stap", "toelichting", "text", "Toelichting?")
    form = Message(MessageKind.form, "Vraag", questions=(question, free))
    result = await adapter.deliver(Delivery(14, "send", "dm:42", form, run=RUN))
    assert result.ok
    [[button], *_] = fake.called("sendMessage")[0].args["reply_markup"]["inline_keyboard"]
    token = button["callback_data"]
    assert token.startswith("k|") and len(token.encode()) <= 64
    assert await adapter.state.tokens([token]) == {
        token: f"a|{RUN}|een-heel-lange-stapnaam|een-heel-lange-vraagnaam|een-heel-lange-optienaam"
    }
    assert await adapter.state.prompt("42:1") == (RUN, [[2, "stap", "toelichting", "text", True]])
    closed = Message(MessageKind.form, "Vraag", questions=(question, free), closed=True)
    assert (await adapter.deliver(Delivery(15, "edit", "dm:42", closed, ref="42:1", run=RUN))).ok
    assert await adapter.state.prompt("42:1") is None


async def test_other_errors_fail_with_telegrams_reason_as_a_code_only(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    result = await adapter.deliver(Delivery(11, "send", GROUP, _say("geheim"), group=True))
    assert result.failed == "chat_not_found"
    fake.fail_next("sendMessage", 400, "Bad Request: something new geheim")
    result = await adapter.deliver(Delivery(12, "send", GROUP, _say("geheim"), group=True))
    assert result.failed == "bad_request"  # an unknown description is not copied


async def test_a_reply_goes_to_the_private_chat_when_there_is_one_else_the_group(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    adapter.names["43"] = "Bea"
    in_group = await adapter.deliver(
        Delivery(12, "reply", GROUP, _say("Alleen de voorzitter mag dat."), user="43")
    )
    assert in_group.ok
    args = fake.called("sendMessage")[0].args
    assert args["chat_id"] == GROUP and args["text"].startswith("Bea: ")
    assert args["entities"][0]["type"] == "text_mention"
    assert args["entities"][0]["user"]["id"] == 43
    await adapter.state.set_private_chat("43", "open")  # e.g. stored before a restart
    direct = await adapter.deliver(Delivery(13, "reply", GROUP, _say("Dank je."), user="43"))
    assert direct.ok and fake.called("sendMessage")[1].args["chat_id"] == "43"


# ---------------------------------------------------------------------------- deletes


def _delete(ref: str | None, id: int = 20) -> Delivery:
    """A delete as the outbox hands it over: the ref, the chat it went to, no text."""
    return Delivery(id, "delete", "dm:42", Message(MessageKind.say, ""), ref=ref)


async def test_a_delete_removes_the_message_and_its_reply_routing(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    free = QuestionView("stap", "toelichting", "text", "Toelichting?")
    form = Message(MessageKind.form, "Vraag", questions=(free,))
    sent = await adapter.deliver(Delivery(1, "send", "dm:42", form, run=RUN))
    assert sent.ref == "42:1" and await adapter.state.prompt("42:1") is not None
    result = await adapter.deliver(_delete(sent.ref))
    assert result == DeliveryResult.sent(ref="42:1")
    (call,) = fake.called("deleteMessage")
    assert (call.args["chat_id"], call.args["message_id"]) == ("42", "1")
    assert fake.messages == [] and fake.deleted == [(42, 1)]
    assert await adapter.state.prompt("42:1") is None and "42:1" not in adapter.prompts


async def test_a_message_that_is_gone_already_counts_as_deleted(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    sent = await adapter.deliver(Delivery(1, "send", GROUP, _say(), group=True))
    assert (await adapter.deliver(_delete(sent.ref))).ok
    assert (await adapter.deliver(_delete(sent.ref, id=21))).ok  # "message to delete not found"
    assert len(fake.called("deleteMessage")) == 2 and len(fake.deleted) == 1


async def test_a_message_older_than_48_hours_is_refused_and_stays(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    moment = [1000.0]
    fake.now = lambda: moment[0]
    sent = await adapter.deliver(Delivery(1, "send", "dm:42", _say()))
    moment[0] += 48 * 3600
    result = await adapter.deliver(_delete(sent.ref))
    assert result == DeliveryResult(failed="message_cant_be_deleted")
    assert len(fake.messages) == 1 and fake.deleted == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_delete_is_paced_by_429_and_a_forbidden_chat_fails_it(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    sent = await adapter.deliver(Delivery(1, "send", "dm:42", _say()))
    fake.rate_limit_next("deleteMessage", retry_after=4)
    assert (await adapter.deliver(_delete(sent.ref))).retry_after == 4.0
    fake.fail_next("deleteMessage", 403, "Forbidden: bot was blocked by the user")
    assert await adapter.deliver(_delete(sent.ref)) == DeliveryResult(failed="forbidden")
    assert await adapter.deliver(_delete(None)) == DeliveryResult(failed="no message ref")
    assert len(fake.called("deleteMessage")) == 2 and len(fake.messages) == 1
