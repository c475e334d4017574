"""SlackAdapter.deliver through the real AsyncWebClient against the local fake Web API."""

from __future__ import annotations

import json

import pytest
from slack_sdk.errors import SlackApiError

from adapters.slack import SlackAdapter
from bot.core.effects import Message, MessageKind, QuestionView
from bot.runtime.delivery import Delivery, DeliveryResult
from tests.harness.fake_slack import FakeSlack

RUN = "0123456789abcdef"


def say(text: str = "Welkom bij de intervisie") -> Message:
    return Message(MessageKind.say, text)


async def test_send_to_a_channel_posts_and_opens_the_runs_thread(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    result = await adapter.deliver(Delivery(1, "send", "C1", say(), run=RUN))
    assert result.ok
    (call,) = fake.called("chat.postMessage")
    assert call.token == "xoxb-test-token"
    assert call.args["channel"] == "C1"
    assert call.args["text"] == "Welkom bij de intervisie"
    assert call.args["blocks"][0]["type"] == "section"
    assert "thread_ts" not in call.args
    ts = "1700000000.000001"
    assert result == DeliveryResult.sent(ref=f"C1:{ts}", thread=ts)


async def test_send_in_a_thread_replies_there_and_opens_no_new_thread(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    result = await adapter.deliver(Delivery(2, "send", "C1", say(), thread="1699.000001"))
    (call,) = fake.called("chat.postMessage")
    assert call.args["thread_ts"] == "1699.000001"
    assert result.ok and result.thread is None


async def test_a_direct_message_opens_the_im_once_and_posts_there(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    first = await adapter.deliver(Delivery(3, "send", "dm:U42", say()))
    second = await adapter.deliver(Delivery(4, "send", "dm:U42", say("Nog een")))
    assert len(fake.called("conversations.open")) == 1  # cached
    assert fake.called("conversations.open")[0].args["users"] == "U42"
    assert [c.args["channel"] for c in fake.called("chat.postMessage")] == ["D42", "D42"]
    assert first.ref is not None and first.ref.startswith("D42:")
    assert first.thread is None and second.thread is None  # a DM opens no run thread


async def test_an_edit_updates_the_original_message_from_its_ref(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    form = Message(
        MessageKind.form, "Vooraf", questions=(QuestionView("vooraf", "ok", "yesno", "Klaar?"),)
    )
    sent = await adapter.deliver(Delivery(5, "send", "dm:U42", form, run=RUN))
    answered = Message(
        MessageKind.form,
        "Vooraf",
        questions=(QuestionView("vooraf", "ok", "yesno", "Klaar?", current="yes"),),
    )
    result = await adapter.deliver(Delivery(6, "edit", "", answered, ref=sent.ref, run=RUN))
    assert result == DeliveryResult.sent(ref=sent.ref)
    (update,) = fake.called("chat.update")
    channel, ts = str(sent.ref).split(":")
    assert (update.args["channel"], update.args["ts"]) == (channel, ts)
    assert "✓ Ja" in json.dumps(update.args["blocks"], ensure_ascii=False)
    assert len(fake.called("chat.postMessage")) == 1  # updated, not duplicated


async def test_an_edit_without_a_ref_fails_without_a_call(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    result = await adapter.deliver(Delivery(7, "edit", "", say()))
    assert result.failed == "no message ref"
    assert fake.calls == []


async def test_a_reply_is_ephemeral_to_the_person_in_the_channel(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    reply = Message(MessageKind.reply, "Alleen de voorzitter kan pauzeren.")
    result = await adapter.deliver(Delivery(8, "reply", "C1", reply, user="U7"))
    assert result.ok and result.ref is None and result.thread is None
    (call,) = fake.called("chat.postEphemeral")
    assert (call.args["channel"], call.args["user"]) == ("C1", "U7")
    assert fake.called("chat.postMessage") == []


async def test_a_429_gives_retry_after_and_the_adapter_does_not_retry_itself(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    fake.rate_limit_next("chat.postMessage", retry_after=7)
    result = await adapter.deliver(Delivery(9, "send", "C1", say()))
    assert result == DeliveryResult(retry_after=7.0)
    assert len(fake.called("chat.postMessage")) == 1  # no hidden retry inside slack-sdk


async def test_the_fake_enforces_one_message_per_second_per_channel(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    fake.per_channel_rate = 1.0
    assert (await adapter.deliver(Delivery(1, "send", "C1", say()))).ok
    assert (await adapter.deliver(Delivery(2, "send", "C2", say()))).ok  # another channel
    again = await adapter.deliver(Delivery(3, "send", "C1", say()))
    assert again.retry_after is not None and again.retry_after >= 1.0


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_an_api_error_fails_with_its_code_only(
    fake: FakeSlack, adapter: SlackAdapter, error: str
) -> None:
    fake.fail_next("chat.postMessage", error)
    result = await adapter.deliver(Delivery(10, "send", "C1", say("GEHEIM_ANTWOORD")))
    assert result == DeliveryResult(failed=error)
    assert "GEHEIM" not in repr(result)


@pytest.mark.parametrize(("error", "status"), [("internal_error", 500), ("fatal_error", 200)])
async def test_a_server_error_raises_so_that_the_outbox_retries_it(
    fake: FakeSlack, adapter: SlackAdapter, error: str, status: int
) -> None:
    """R-OUT-3: Slack's own trouble is retried with back-off, not a lost message."""
    fake.fail_next("chat.postMessage", error, status=status)
    with pytest.raises(SlackApiError):
        await adapter.deliver(Delivery(11, "send", "C1", say()))
    again = await adapter.deliver(Delivery(11, "send", "C1", say()))
    assert again.ok


def test_the_adapter_declares_slacks_limits() -> None:
    slack = SlackAdapter(bot_token="xoxb-x", app_token="xapp-x", workspace_cap=5)
    assert slack.platform == "slack"
    assert slack.limits.per_chat == (1, 1.0)
    assert slack.limits.overall == (5, 1.0)
    assert slack.limits.deletes == (50, 60.0)  # chat.delete is a Tier 3 method
    assert slack.client.retry_handlers == []


# ---------------------------------------------------------------------------- deletes


def delete(ref: str | None, id: int = 20) -> Delivery:
    """A delete as the outbox hands it over: the ref, the chat it went to, no text."""
    return Delivery(id, "delete", "dm:U42", Message(MessageKind.say, ""), ref=ref)


async def test_a_delete_removes_the_message_with_chat_delete(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    sent = await adapter.deliver(Delivery(1, "send", "dm:U42", say("Hoe zit je erbij?")))
    channel, ts = str(sent.ref).split(":")
    assert (channel, ts) in fake.messages
    result = await adapter.deliver(delete(sent.ref))
    assert result == DeliveryResult.sent(ref=sent.ref)
    (call,) = fake.called("chat.delete")
    assert (call.args["channel"], call.args["ts"]) == (channel, ts)
    assert call.response == {"ok": True, "channel": channel, "ts": ts}
    assert (channel, ts) not in fake.messages and fake.deleted == [(channel, ts)]
    assert len(fake.called("conversations.open")) == 1  # the ref names the channel


async def test_a_message_that_is_gone_already_counts_as_deleted(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    sent = await adapter.deliver(Delivery(1, "send", "C1", say()))
    assert (await adapter.deliver(delete(sent.ref))).ok
    again = await adapter.deliver(delete(sent.ref, id=21))
    assert again.ok
    assert fake.called("chat.delete")[-1].response == {"ok": False, "error": "message_not_found"}


async def test_a_delete_slack_refuses_fails_with_its_code_and_a_429_waits(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    sent = await adapter.deliver(Delivery(1, "send", "C1", say()))
    fake.fail_next("chat.delete", "cant_delete_message")
    assert await adapter.deliver(delete(sent.ref)) == DeliveryResult(failed="cant_delete_message")
    fake.rate_limit_next("chat.delete", retry_after=20)
    assert await adapter.deliver(delete(sent.ref)) == DeliveryResult(retry_after=20.0)
    fake.fail_next("chat.delete", "internal_error", status=500)
    with pytest.raises(SlackApiError):  # Slack's own trouble: the outbox retries it
        await adapter.deliver(delete(sent.ref))
    assert len(fake.called("chat.delete")) == 3
    assert fake.messages  # still there: none of the three deleted it


async def test_a_delete_without_a_ref_fails_without_a_call(
    fake: FakeSlack, adapter: SlackAdapter
) -> None:
    assert await adapter.deliver(delete(None)) == DeliveryResult(failed="no message ref")
    assert fake.called("chat.delete") == []
