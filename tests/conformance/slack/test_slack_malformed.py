"""Bodies Slack never sends, at Samen's Slack door in HTTP mode: the signature over the raw
bytes is checked before anything is parsed (unsigned or wrongly signed: 401), and a signed
body of the wrong shape gets 400. Either way: one log line, no traceback, no body in the
log, nothing stored, nothing sent."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.harness.slack import FORM, SECRET, TIMEOUT, Workspace, sign, slack_world

JSON = "application/json"
SECRET_WORD = "GEHEIM_ANTWOORD"


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    async with slack_world(tmp_path, monkeypatch) as world:
        yield world


async def post_bytes(
    slack: Workspace, body: bytes, content_type: str, headers: dict[str, str]
) -> int:
    sent = {"Content-Type": content_type, **headers}
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(slack.base, data=body, headers=sent) as response,
    ):
        return response.status


def signed_bytes(body: bytes) -> dict[str, str]:
    import hashlib
    import hmac

    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def actions_not_a_list() -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ANNA", "username": "anna"},
        "trigger_id": "1.2.3",
        "team": {"id": "T0001"},
        "channel": {"id": "C0WIJKTEAM"},
        "actions": {"action_id": "a|x|y|z|0", "value": SECRET_WORD},
    }
    return urlencode({"payload": json.dumps(payload)})


MALFORMED = {
    "invalid-json": (f'{{"type": "event_callback", "x": "{SECRET_WORD}"', JSON),
    "payload-not-json": (urlencode({"payload": "{" + SECRET_WORD}), FORM),
    "payload-null": (urlencode({"payload": "null"}), FORM),
    "payload-array": (urlencode({"payload": "[]"}), FORM),
    "json-null": ("null", JSON),
    "json-array": ("[]", JSON),
    "json-string": (f'"{SECRET_WORD}"', JSON),
    "actions-not-a-list": (actions_not_a_list(), FORM),
    "event-not-an-object": (json.dumps({"type": "event_callback", "event": [1]}), JSON),
    "user-a-number": (urlencode({"payload": json.dumps({"type": "shortcut", "user": 5})}), FORM),
    "view-values-mistyped": (
        urlencode(
            {
                "payload": json.dumps(
                    {
                        "type": "view_submission",
                        "user": {"id": "U0ANNA", "username": "anna"},
                        "trigger_id": "5.5.5",
                        "view": {
                            "callback_id": "samen_form",
                            "private_metadata": "0123456789abcdef|stap|D0ANNA",
                            "state": {"values": {"q|vraag": [SECRET_WORD]}},
                        },
                    }
                )
            }
        ),
        FORM,
    ),
    "deeply-nested": ("[" * 100_000 + "]" * 100_000, JSON),
    "field-twice": ("command=%2Fsamen&command=%2Fbel&user_id=U1&trigger_id=1.2", FORM),
}


def assert_one_quiet_line(caplog: pytest.LogCaptureFixture, status: int) -> None:
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert f"({status})" in lines[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert SECRET_WORD not in caplog.text


@pytest.mark.parametrize("name", MALFORMED)
async def test_a_signed_malformed_body_gets_400(
    slack: Workspace, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    body, content_type = MALFORMED[name]
    caplog.set_level(logging.INFO)
    status, _ = await slack.post(body, content_type)
    await slack.settle()
    assert status == 400
    assert_one_quiet_line(caplog, 400)
    assert "inbox row" not in caplog.text
    assert [c.method for c in slack.fake.calls if c.method != "auth.test"] == []


@pytest.mark.parametrize("name", MALFORMED)
async def test_the_same_body_unsigned_gets_401_before_any_parsing(
    slack: Workspace, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    body, content_type = MALFORMED[name]
    caplog.set_level(logging.INFO)
    status, _ = await slack.post(body, content_type, secret="not-the-secret")
    assert status == 401
    assert_one_quiet_line(caplog, 401)
    assert slack.fake.calls == []


async def test_a_body_that_is_not_utf8(slack: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    body = b"payload=\xff\xfe" + SECRET_WORD.encode()
    caplog.set_level(logging.INFO)
    assert await post_bytes(slack, body, FORM, {}) == 401
    assert await post_bytes(slack, body, FORM, signed_bytes(body)) == 400
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.parametrize("timestamp", ["soon", "", "1e9", "-5", str(2**70)])
async def test_a_timestamp_that_is_no_number_gets_401(
    slack: Workspace, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    body = slack.slash_body("U0ANNA", "/samen", "help")
    caplog.set_level(logging.INFO)
    headers = {**sign(body, int(time.time())), "X-Slack-Request-Timestamp": timestamp}
    status = await post_bytes(slack, body.encode(), FORM, headers)
    assert status == 401
    assert_one_quiet_line(caplog, 401)


async def test_a_well_formed_command_still_works(slack: Workspace) -> None:
    assert await slack.slash("U0ANNA", "help") == 200
    assert slack.fake.called("chat.postEphemeral")


async def test_a_body_over_a_mebibyte_gets_413(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"payload=" + b"x" * (1024 * 1024 + 1)
    caplog.set_level(logging.INFO)
    assert await post_bytes(slack, body, FORM, signed_bytes(body)) == 413
    assert_one_quiet_line(caplog, 413)


async def test_a_command_whose_text_holds_the_word_payload_still_arrives(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt reads any form body containing "payload" as an interaction."""
    caplog.set_level(logging.INFO)
    assert await slack.slash("U0ANNA", "vliegen payload") == 200
    assert "inbox row 1 kind=command" in caplog.text
    (reply,) = slack.fake.called("chat.postEphemeral")
    assert "vliegen" in reply.args["text"]  # the unknown word, answered
