"""Socket Mode smoke test against a local websocket fake: the envelope is acked only after
the event was stored (R-ING-3)."""

from __future__ import annotations

import asyncio
import time

from adapters.base import Inbound
from adapters.slack import SlackAdapter
from tests.harness.fake_slack import FakeSlack


async def test_an_event_over_socket_mode_is_stored_then_acked(fake: FakeSlack) -> None:
    fake.envelopes = [
        {
            "envelope_id": "env-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "token": "x",
                "team_id": "T0001",
                "channel_id": "C1",
                "user_id": "U2",
                "user_name": "anna",
                "command": "/bel",
                "text": "pauze",
                "trigger_id": "77.88.sock",
                "api_app_id": "A1",
            },
        }
    ]
    stored: list[tuple[float, Inbound]] = []

    async def handler(inbound: Inbound) -> None:
        await asyncio.sleep(0.05)
        stored.append((time.monotonic(), inbound))

    slack = SlackAdapter(bot_token="xoxb-t", app_token="xapp-t", mode="socket", api_url=fake.url)
    await slack.start(handler)
    try:
        for _ in range(500):  # bounded: at most 5 s
            if fake.acks:
                break
            await asyncio.sleep(0.01)
        ((acked_at, ack),) = fake.acks
        assert ack["envelope_id"] == "env-1"
        ((stored_at, inbound),) = stored
        assert stored_at <= acked_at
        assert inbound.key == "cmd:77.88.sock"
        assert inbound.payload == {"command": "bel", "args": "pauze"}
        opened = fake.called("apps.connections.open")
        assert opened and opened[0].token == "xapp-t"
        assert slack.liveness is not None
    finally:
        await asyncio.wait_for(slack.stop(), 10)
