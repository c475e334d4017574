"""Every Slack payload in fixtures/, taken from slack-bolt's own test suite (each file names
its source and licence), sent signed to the real adapter in HTTP mode in front of the real
runtime: acknowledged as Slack expects (200, or the url_verification challenge), no crash,
no traceback or error in the log, stored in the inbox only when Samen uses it, and no
message where none is due.

Slack counts any non-2xx answer as a failure: it retries events and shows the person an
error for an interaction. Bolt answers 404 (with a warning and a code snippet) for
anything without a listener; Samen acknowledges those quietly."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.harness.slack import FORM, Workspace, slack_world

FIXTURES = Path(__file__).parent / "fixtures"
# Web API methods that put something in front of a person.
SPEAKING = ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.publish")
STORED = re.compile(r"inbox row \d+ kind=(\w+)")


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    async with slack_world(tmp_path, monkeypatch) as world:
        yield world


def request_of(fixture: dict[str, Any]) -> tuple[str, str]:
    """(raw body, content type) as Slack sends this fixture."""
    body = fixture["body"]
    if fixture["sent_as"] == "json":
        return json.dumps(body), "application/json"
    if fixture["sent_as"] == "payload":
        return urlencode({"payload": json.dumps(body)}), FORM
    return str(body), FORM  # a slash command or ssl_check: the form as it came


def test_every_fixture_names_its_source_and_licence() -> None:
    assert len(fixtures()) >= 30
    for path in fixtures():
        fixture = json.loads(path.read_text())
        assert fixture["source"].startswith("https://github.com/slackapi/"), path.name
        assert fixture["licence"].startswith("MIT"), path.name


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.stem)
async def test_a_payload_from_slacks_own_tests(
    slack: Workspace, caplog: pytest.LogCaptureFixture, path: Path
) -> None:
    fixture = json.loads(path.read_text())
    expect = fixture["expect"]
    caplog.set_level(logging.INFO)
    body, content_type = request_of(fixture)
    status, answer = await slack.post(body, content_type)
    await slack.settle()

    assert status == expect["status"]
    if expect.get("challenge"):
        assert json.loads(answer) == {"challenge": fixture["body"]["challenge"]}
    assert STORED.findall(caplog.text) == expect["inbox"]
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    spoken = [c.method for c in slack.fake.calls if c.method in SPEAKING]
    assert spoken == expect.get("speaks", [])
