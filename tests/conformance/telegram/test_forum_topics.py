"""Forum topics (a supergroup with topics: one per client group or per meeting). A command
typed in a topic is answered in that topic, and a run started there keeps its messages
there: its announcement and thread messages, the start link for someone who has not
pressed Start, the status message and replies. The group's General topic and groups
without topics are as before: no message_thread_id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.harness.telegram import GROUP, PEOPLE, Group

TOPIC = 77


@pytest.fixture
def team(world: Group) -> Group:
    return world


async def say_in_topic(team: Group, name: str, text: str, topic: int | None = TOPIC) -> None:
    update = team.message_update(name, text)
    message = update["message"]
    message["chat"]["is_forum"] = True
    if topic is not None:
        message["message_thread_id"] = topic
        message["is_topic_message"] = True
    await team.deliver_update(update)


def to_group(team: Group, since: int = 0) -> list[dict[str, Any]]:
    """sendMessage calls to the group, from call number `since` on."""
    return [
        c.args
        for c in team.fake.calls[since:]
        if c.method == "sendMessage" and int(c.args["chat_id"]) == GROUP
    ]


async def test_a_time_out_started_in_a_topic_stays_in_that_topic(team: Group) -> None:
    await say_in_topic(team, "anna", "/samen")
    await team.say("anna", "/samen", private=True)  # Anna has a private chat
    team.fake.not_started.add(PEOPLE["bram"])
    await say_in_topic(team, "bram", "/samen")  # Bram has not pressed Start
    since = len(team.fake.calls)
    await say_in_topic(team, "anna", "/samen start time-out")
    posted = to_group(team, since)
    assert any("Time-out" in m["text"] for m in posted)
    assert any("?start=" in m["text"] for m in posted)  # Bram's start link
    assert posted and all(int(m.get("message_thread_id", 0)) == TOPIC for m in posted)
    # The questions themselves go to the private chats, where topics do not exist.
    private = [
        c.args
        for c in team.fake.calls[since:]
        if c.method == "sendMessage" and int(c.args["chat_id"]) == PEOPLE["anna"]
    ]
    assert private and all("message_thread_id" not in m for m in private)
    # Five minutes on: the time-out's summary, in the topic too.
    since = len(team.fake.calls)
    await team.wait(timedelta(minutes=6))
    later = to_group(team, since)
    assert later and all(int(m["message_thread_id"]) == TOPIC for m in later)


async def test_a_timed_reflection_in_a_topic_rings_and_sums_up_there(team: Group) -> None:
    """Phases, the status message, the bell and the summary of a run started in a topic."""
    await say_in_topic(team, "anna", "/samen")
    await team.say("anna", "/samen", private=True)
    since = len(team.fake.calls)
    await say_in_topic(team, "anna", "/samen start vijf-minuten")
    await team.wait(timedelta(minutes=30))
    posted = to_group(team, since)
    assert len(posted) >= 2
    assert all(int(m["message_thread_id"]) == TOPIC for m in posted)
    texts = " | ".join(m["text"] for m in posted)
    assert "Nog 1 minuut" in texts and "De tijd is om" in texts  # status and bell


async def test_a_reply_to_a_command_in_a_topic_goes_into_the_topic(team: Group) -> None:
    since = len(team.fake.calls)
    await say_in_topic(team, "bram", "/samen status")  # no private chat: answered in the group
    (reply,) = to_group(team, since)
    assert int(reply["message_thread_id"]) == TOPIC


@pytest.mark.parametrize("topic", [None])
async def test_general_and_plain_groups_get_no_topic(team: Group, topic: int | None) -> None:
    since = len(team.fake.calls)
    await say_in_topic(team, "bram", "/samen status", topic=topic)
    await team.say("bram", "/samen help")
    replies = to_group(team, since)
    assert len(replies) == 2
    assert all("message_thread_id" not in m for m in replies)


async def test_a_closed_or_deleted_topic_does_not_swallow_a_message(team: Group) -> None:
    """Someone closed (or deleted) the run's topic: its next message goes to the group."""
    await say_in_topic(team, "anna", "/samen")
    await team.say("anna", "/samen", private=True)
    await say_in_topic(team, "anna", "/samen start vijf-minuten")
    since = len(team.fake.calls)
    team.fake.fail_next("sendMessage", 400, "Bad Request: message thread not found")
    await team.wait(timedelta(minutes=30))
    posted = to_group(team, since)
    assert "message_thread_id" in posted[0]  # refused: the topic is gone
    assert "message_thread_id" not in posted[1]  # the same message, to the group
    assert posted[0]["text"] == posted[1]["text"]
