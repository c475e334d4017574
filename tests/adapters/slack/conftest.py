"""Fixtures for the Slack tests: a started fake Web API, an adapter pointed at it, and the
Slack world (tests/harness/slack.py) for the scenario tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.slack import SlackAdapter
from tests.harness.fake_slack import FakeSlack
from tests.harness.slack import EXAMPLE_SECRET as SECRET
from tests.harness.slack import Workspace, slack_world


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def adapter(fake: FakeSlack) -> AsyncIterator[SlackAdapter]:
    slack = SlackAdapter(
        bot_token="xoxb-test-token",
        signing_secret=SECRET,
        mode="http",
        host="127.0.0.1",
        port=0,
        api_url=fake.url,
    )
    try:
        yield slack
    finally:
        await slack.stop()


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    """The runtime with the real Slack adapter and the fake Slack, on a fake clock."""
    async with slack_world(tmp_path, monkeypatch) as world:
        yield world
