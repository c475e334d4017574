"""Issue 19 through the real Slack adapter (HTTP mode, fake Web API): slash commands in a
direct message, roles, first coordinators, people who leave, and Slack Connect outsiders.
Payloads have the shapes of Slack's docs (slash commands in a DM carry
`channel_name=directmessage` and a D… channel id)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from tests.harness.slack import TEAM_CHANNEL, Workspace, dm, text_of

ANNA, BRAM, COR = "U0ANNA", "U0BRAM", "U0COR"


def in_dm(user: str) -> dict[str, str]:
    return {"channel": dm(user), "channel_name": "directmessage"}


def said_to(slack: Workspace, user: str) -> str:
    """Everything Samen said to `user` privately: posted in their DM or ephemeral."""
    posted = [text_of(c) for c in slack.posted(dm(user))]
    ephemeral = [
        str(c.args.get("text", ""))
        for c in slack.fake.called("chat.postEphemeral")
        if c.args.get("user") == user
    ]
    return "\n".join(posted + ephemeral)


def teams(slack: Workspace) -> list[str]:
    with sqlite3.connect(str(slack.runtime.store.engine.url.database)) as db:
        return sorted(str(c) for (c,) in db.execute("select channel from teams"))


async def test_slash_commands_in_a_direct_message_make_no_team(slack: Workspace) -> None:
    await slack.slash(ANNA, "help")
    assert await slack.slash(ANNA, "traject T-0412 2026-11-02") == 200
    await slack.wait(timedelta(seconds=5))
    before = said_to(slack, ANNA)
    for words in ("help", "open", "evaluaties", "evaluatie T-0412 mdo", "afwezig tot 2026-12-04"):
        assert await slack.slash(ANNA, words, **in_dm(ANNA)) == 200
        await slack.wait(timedelta(seconds=3))
    said = said_to(slack, ANNA)[len(before) :]
    assert "Samen helpt je team" in said
    assert "openstaande vragen" in said
    assert "Ik ken geen traject" not in said
    assert "De evaluatie van T-0412 staat op de agenda" in said
    assert teams(slack) == [TEAM_CHANNEL]  # the DM's D… channel became no team
    # Nothing went to the team channel in answer to the private commands.
    assert not [c for c in slack.posted(TEAM_CHANNEL) if "T-0412" in text_of(c)]
