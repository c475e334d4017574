"""A message longer than its platform allows becomes several outbox rows, never a cut one."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bot.core.effects import Destination, Message, MessageKind, Send
from bot.runtime.outbox import message_from_json
from bot.runtime.outgoing import Outgoing
from bot.store.tables import TeamRow
from bot.wiring import TEXT_LIMITS


class _Run:
    id = "r1"
    version = 3


@pytest.mark.parametrize("platform", ["telegram", "slack"])
def test_a_long_summary_is_sent_in_parts_within_the_platforms_limit(platform: str) -> None:
    outgoing = Outgoing(cast(Any, None), cast(Any, None), text_limits=TEXT_LIMITS)
    team = TeamRow(id="t1", platform=platform, channel="C1", language="nl")
    answers = "\n".join(f"• Collega {n}: " + "een lang antwoord " * 20 for n in range(80))
    summary = Send("summary:s", Destination.thread(), Message(MessageKind.summary, answers))
    rows, _, _ = outgoing.effects_to_rows(team, cast(Any, _Run()), [summary])
    texts = [message_from_json(r["message"]).text for r in rows]
    assert len(rows) > 1 and all(len(t) <= TEXT_LIMITS[platform] for t in texts)
    assert [r["msg_key"] for r in rows][:2] == ["summary:s", "summary:s#2"]
    assert len({r["idempotency_key"] for r in rows}) == len(rows)
    for line in answers.splitlines():
        assert any(line.strip() in t for t in texts)


def test_a_short_message_or_a_form_is_never_split() -> None:
    outgoing = Outgoing(cast(Any, None), cast(Any, None), text_limits={"telegram": 10})
    team = TeamRow(id="t1", platform="console", channel="team", language="nl")
    say = Send("say:x", Destination.thread(), Message(MessageKind.say, "x" * 50))
    rows, _, _ = outgoing.effects_to_rows(team, cast(Any, _Run()), [say])
    assert len(rows) == 1  # the console has no limit
