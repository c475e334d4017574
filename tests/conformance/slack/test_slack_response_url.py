"""A slash command where Samen cannot post (a private channel it is not in, someone else's
direct message, an archived channel): chat.postEphemeral answers `channel_not_found` and
the like, and the answer goes through the command's `response_url`, as Slack documents,
so the person sees it instead of nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from tests.harness.slack import Workspace, slack_world

ANNA = "U0ANNA"


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    async with slack_world(tmp_path, monkeypatch) as world:
        yield world


async def command(slack: Workspace, text: str, channel: str, response_url: str) -> int:
    fields = dict(parse_qsl(slack.slash_body(ANNA, "/samen", text)))
    fields.update(channel_id=channel, channel_name="privategroup", response_url=response_url)
    status, _ = await slack.post(urlencode(fields))
    await slack.settle()
    return status


@pytest.mark.parametrize(
    "code", ["channel_not_found", "not_in_channel", "is_archived", "user_not_in_channel"]
)
async def test_the_answer_goes_through_the_response_url(slack: Workspace, code: str) -> None:
    slack.fake.fail_next("chat.postEphemeral", code)
    url = slack.fake.response_url()
    assert await command(slack, "help", "G0PRIVATE", url) == 200
    (answer,) = slack.fake.called("response_url")
    assert answer.args["response_type"] == "ephemeral"
    assert answer.args["replace_original"] is False
    assert "/samen" in answer.args["text"]  # the help text reached the person


async def test_a_channel_samen_can_post_in_needs_no_response_url(slack: Workspace) -> None:
    assert await command(slack, "help", "C0WIJKTEAM", slack.fake.response_url()) == 200
    assert slack.fake.called("chat.postEphemeral")
    assert not slack.fake.called("response_url")


async def test_another_refusal_is_not_rerouted(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.fail_next("chat.postEphemeral", "msg_too_long")
    assert await command(slack, "help", "C0WIJKTEAM", slack.fake.response_url()) == 200
    assert not slack.fake.called("response_url")
    assert "failed: msg_too_long" in caplog.text


async def test_a_response_url_slack_no_longer_takes_fails_with_its_status(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack takes five answers per response_url; the fake answers the sixth 404
    `used_url`. (Real commands each bring a new URL; this one is given six times.)"""
    url = slack.fake.response_url("busy")
    for _ in range(6):
        slack.fake.fail_next("chat.postEphemeral", "channel_not_found")
        assert await command(slack, "help", "G0PRIVATE", url) == 200
    assert len(slack.fake.called("response_url")) == 6
    assert caplog.text.count("failed: response_url_404") == 1
