"""Fixtures for the Slack tests: a started fake Web API and adapters pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.slack import SlackAdapter
from tests.harness.fake_slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


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
