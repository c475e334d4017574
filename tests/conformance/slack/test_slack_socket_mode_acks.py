"""Socket Mode: the same payloads from slack-bolt's tests, as envelopes over the websocket.
Slack waits for each envelope's ack and redelivers what is not acked: everything Samen
does not use is acked too, quietly."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import Inbound
from adapters.slack import SlackAdapter
from tests.harness.fake_slack import FakeSlack

FIXTURES = Path(__file__).parent / "fixtures"
# Socket Mode envelope types by how a fixture is sent over HTTP.
ENVELOPE = {"json": "events_api", "payload": "interactive"}
NOT_USED = [
    "event_reaction_added",
    "event_message_changed",
    "event_message_deleted",
    "interaction_view_closed",
    "interaction_global_shortcut",
    "interaction_block_actions_unknown_action",
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.mark.parametrize("name", NOT_USED)
async def test_a_payload_samen_does_not_use_is_acked_over_socket_mode(
    fake: FakeSlack, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    fixture = json.loads((FIXTURES / f"{name}.json").read_text())
    fake.envelopes = [
        {
            "envelope_id": f"env-{name}",
            "type": ENVELOPE[fixture["sent_as"]],
            "accepts_response_payload": fixture["sent_as"] == "payload",
            "payload": fixture["body"],
        }
    ]
    stored: list[Inbound] = []

    async def handler(inbound: Inbound) -> None:
        stored.append(inbound)

    caplog.set_level(logging.INFO)
    slack = SlackAdapter(bot_token="xoxb-t", app_token="xapp-t", mode="socket", api_url=fake.url)
    await slack.start(handler)
    try:
        async with asyncio.timeout(5):
            while not fake.acks:
                await asyncio.sleep(0.01)
    finally:
        await asyncio.wait_for(slack.stop(), 10)
    ((_, ack),) = fake.acks
    assert ack["envelope_id"] == f"env-{name}"
    assert stored == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert all(r.exc_info is None for r in caplog.records)
