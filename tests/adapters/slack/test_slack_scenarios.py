"""Scenarios through the whole runtime and the real Slack adapter (HTTP mode, fake Web API).

Everyone acts by signed requests; everything Samen says reaches the fake Slack through the
outbox, which the fake holds to 1 message/s per channel on the scenario's clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_world import TEAM_CHANNEL, Workspace, dm, text_of, workspace

ANNA, BRAM, COR = "U0ANNA", "U0BRAM", "U0COR"


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    async for world in workspace(tmp_path, monkeypatch):
        yield world


async def join(slack: Workspace, *users: str) -> None:
    """Each person uses Samen once in the channel, so the team knows them."""
    for user in users:
        assert await slack.slash(user, "help") == 200


def pending_forms(slack: Workspace, user: str, says: str) -> Any:
    return slack.last(dm(user), says)


async def test_alignment_before_a_visit_fans_out_chases_and_sums_up_in_the_thread(
    slack: Workspace,
) -> None:
    await join(slack, ANNA, BRAM)
    assert await slack.slash(ANNA, "bezoek 2026-11-24 14:00") == 200
    (planned,) = slack.fake.called("chat.postEphemeral")[-1:]
    assert "Genoteerd" in planned.args["text"] and planned.args["user"] == ANNA

    await slack.wait(timedelta(hours=5, seconds=1))  # 13:00 UTC = 14:00 in Amsterdam
    announcement = slack.last(TEAM_CHANNEL, "samen op bezoek")
    assert "thread_ts" not in announcement.args  # it opens the run's thread
    # Fan-out: each gets the form in a direct message, opened with conversations.open.
    anna_form = slack.last(dm(ANNA), "Hoe zit je erbij")
    slack.last(dm(BRAM), "Hoe zit je erbij")
    assert {c.args["users"] for c in slack.fake.called("conversations.open")} == {ANNA, BRAM}

    # Anna answers: the role by button, the open question in the modal.
    assert await slack.click(ANNA, anna_form, "a|", action_ts=1000.0) == 200  # "leiden"
    assert await slack.open_and_submit(ANNA, anna_form, {"erbij": "Nieuwsgierig"}) == 200
    (modal,) = slack.fake.called("views.open")
    assert modal.args["view"]["private_metadata"].endswith(f"|{dm(ANNA)}")

    # She changes her mind: the form she answered in is updated, not posted again.
    posts_to_anna = len(slack.posted(dm(ANNA)))
    updates = len(slack.fake.called("chat.update"))
    support = slack.button(anna_form, "Ondersteunen")
    assert await slack.click(ANNA, anna_form, support["action_id"]) == 200
    assert len(slack.posted(dm(ANNA))) == posts_to_anna
    update = slack.fake.called("chat.update")[-1]
    assert len(slack.fake.called("chat.update")) == updates + 1
    assert (update.args["channel"], update.args["ts"]) == slack.ref(anna_form)
    assert "✓ Ondersteunen" in text_of(update)
    assert "Nieuwsgierig" not in text_of(update)  # free text is never echoed (R-PRV-3)
    assert slack.fake.messages[slack.ref(anna_form)]["text"] == update.args["text"]

    # Bram does not answer: he, and only he, is chased, in his DM (3 h and 1 h before
    # the answers close at 12:00 local time).
    await slack.wait(timedelta(hours=21))  # to 10:00 UTC on the 24th, 11:00 local
    assert len(slack.posted(dm(BRAM), "Herinnering")) == 2
    assert slack.posted(dm(ANNA), "Herinnering") == []
    assert slack.posted(TEAM_CHANNEL, "Herinnering") == []

    # At the deadline (2 h before the visit) the overview goes into the thread.
    await slack.wait(timedelta(hours=1, seconds=1))
    summary = slack.last(TEAM_CHANNEL, "Zo gaan jullie het bezoek in")
    assert summary.args["thread_ts"] == slack.ref(announcement)[1]
    assert "Nieuwsgierig" in text_of(summary)
    assert "Ondersteunen" in text_of(summary)
    # Both forms now show they are closed, in place.
    updated = slack.fake.called("chat.update")
    closed = {c.args["channel"] for c in updated if "Gesloten" in text_of(c)}
    assert closed == {dm(ANNA), dm(BRAM)}
    assert slack.fake.enforced_429s == 0  # the outbox kept to 1 message/s per channel


async def dump(slack: Workspace) -> str:
    return "\n".join(
        f"{c.method} {c.args.get('channel') or c.args.get('users')} "
        f"{json.dumps(c.args.get('text', ''), ensure_ascii=False)[:90]}"
        for c in slack.fake.calls
    )
