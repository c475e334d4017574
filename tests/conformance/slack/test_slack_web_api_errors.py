"""The Web API's documented error answers, from the fake Slack through slack-sdk's real
client and the outbox: 429 with Retry-After waits and sends once; a 5xx is retried; a
refusal (`channel_not_found`, `not_in_channel`, `is_archived`, `msg_too_long`) fails the
message with Slack's code and the kind of place in the log (never the text), and when it
was a bell, the chair hears of it once, in their private chat."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.harness.slack import TEAM_CHANNEL, Workspace, dm, slack_world, text_of

ANNA, BRAM = "U0ANNA", "U0BRAM"


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    async with slack_world(tmp_path, monkeypatch) as world:
        yield world


async def running_intervision(slack: Workspace) -> None:
    """Anna (chair) and Bram in the team; an intervision in its first phase."""
    for user in (ANNA, BRAM):
        assert await slack.slash(user, "help") == 200
    assert await slack.slash(ANNA, "rol <@U0ANNA|anna> voorzitter") == 200
    assert await slack.slash(ANNA, "intervisie 2026-11-27 14:00") == 200
    await slack.wait(timedelta(days=4, hours=5, seconds=1))
    assert slack.posted(TEAM_CHANNEL, "Stap 1")


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_a_bell_that_cannot_be_posted_is_logged_with_the_code_and_told_to_the_chair_once(
    slack: Workspace, caplog: pytest.LogCaptureFixture, code: str
) -> None:
    await running_intervision(slack)
    caplog.set_level(logging.INFO)
    slack.fake.fail_next("chat.postMessage", code)
    assert await slack.slash(ANNA, "", command="/bel") == 200  # the chair rings by hand
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == [f"outbox row {failed[0].split()[2]} (bell, send to a thread): failed: {code}"]
    notices = slack.posted(dm(ANNA), code)
    assert len(notices) == 1
    assert "bel" in text_of(notices[0]) and "teamkanaal" in text_of(notices[0])
    assert "De bel" not in text_of(notices[0])  # it does not quote the message

    slack.fake.fail_next("chat.postMessage", code)  # the next bell fails the same way
    assert await slack.slash(ANNA, "", command="/bel") == 200
    assert len(slack.posted(dm(ANNA), code)) == 1  # told once per run


async def test_a_message_too_long_fails_with_its_code_and_is_not_retried(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    await running_intervision(slack)
    caplog.set_level(logging.INFO)
    before = len(slack.fake.called("chat.postMessage"))
    slack.fake.fail_next("chat.postMessage", "msg_too_long")
    assert await slack.slash(BRAM, "proces", command="/bel") == 200
    assert len(slack.fake.called("chat.postMessage")) - before >= 1
    assert "failed: msg_too_long" in caplog.text
    assert "retry" not in caplog.text


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_retried_and_the_bell_arrives(
    slack: Workspace, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    await running_intervision(slack)
    caplog.set_level(logging.INFO)
    slack.fake.fail_next("chat.postMessage", "internal_error", status=status)
    assert await slack.slash(ANNA, "", command="/bel") == 200
    await slack.wait(timedelta(seconds=5))  # the back-off
    assert slack.posted(TEAM_CHANNEL, "De bel")
    assert "retry 1" in caplog.text
    assert "failed" not in caplog.text


async def test_429_waits_for_retry_after_and_sends_once(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    await running_intervision(slack)
    caplog.set_level(logging.INFO)
    slack.fake.rate_limit_next("chat.postMessage", retry_after=7)
    started = slack.clock.now()
    assert await slack.slash(ANNA, "", command="/bel") == 200  # settles: the clock skips on
    assert "429, retry after 7.0s" in caplog.text
    assert len(slack.posted(TEAM_CHANNEL, "De bel")) == 1
    assert slack.clock.now() - started >= timedelta(seconds=7)


async def test_an_english_team_is_told_in_english(slack: Workspace) -> None:
    await running_intervision(slack)
    assert await slack.slash(ANNA, "taal en") == 200
    slack.fake.fail_next("chat.postMessage", "is_archived")
    assert await slack.slash(ANNA, "", command="/bel") == 200
    (notice,) = slack.posted(dm(ANNA), "is_archived")
    assert "did not arrive in the team channel" in text_of(notice)


async def test_questions_that_cannot_reach_a_person_are_told_to_the_chair(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    """Bram's account was deactivated: his form for the visit cannot be delivered. The
    log says so with Slack's code; Anna (chair) hears of it once, privately, and the
    notice names no one."""
    for user in (ANNA, BRAM):
        assert await slack.slash(user, "help") == 200
    assert await slack.slash(ANNA, "rol <@U0ANNA|anna> voorzitter") == 200
    slack.fake.disabled.add(BRAM)
    caplog.set_level(logging.INFO)
    assert await slack.slash(ANNA, "bezoek 2026-11-24 14:00") == 200
    await slack.wait(timedelta(hours=5, seconds=1))
    assert "(form, send to a private chat): failed: user_disabled" in caplog.text
    (notice,) = slack.posted(dm(ANNA), "user_disabled")
    assert "privégesprek" in text_of(notice)
    assert BRAM not in text_of(notice) and "bram" not in text_of(notice).lower()
