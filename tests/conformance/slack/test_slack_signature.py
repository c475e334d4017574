"""Slack's documented signing example (the one slack-sdk's own tests use), sent over HTTP
to the adapter: the signature Samen checks over the raw bytes is Slack's algorithm, not
one this project made up. One changed byte, and it is refused before anything is parsed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from adapters.base import Inbound
from adapters.slack import SlackAdapter
from tests.harness.fake_slack import FakeSlack

EXAMPLE = json.loads((Path(__file__).parent / "signature" / "docs_example.json").read_text())


@pytest.fixture
async def served() -> AsyncIterator[tuple[SlackAdapter, list[Inbound]]]:
    fake = FakeSlack()
    await fake.start()
    adapter = SlackAdapter(
        bot_token="xoxb-docs",
        signing_secret=EXAMPLE["signing_secret"],
        mode="http",
        port=0,
        api_url=fake.url,
    )
    adapter.signature_clock = lambda: float(EXAMPLE["timestamp"])  # the example's moment
    stored: list[Inbound] = []

    async def store(inbound: Inbound) -> None:
        stored.append(inbound)

    await adapter.start(store)
    try:
        yield adapter, stored
    finally:
        await adapter.stop()
        await fake.stop()


async def post(adapter: SlackAdapter, body: bytes, signature: str) -> int:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": EXAMPLE["timestamp"],
        "X-Slack-Signature": signature,
    }
    url = f"http://127.0.0.1:{adapter.port}/slack/events"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status


async def test_slacks_documented_example_is_accepted(
    served: tuple[SlackAdapter, list[Inbound]],
) -> None:
    adapter, stored = served
    assert await post(adapter, EXAMPLE["body"].encode(), EXAMPLE["signature"]) == 200
    (inbound,) = stored
    assert (inbound.kind, inbound.user, inbound.channel) == ("command", "U2CERLKJA", "G8PSS9T3V")


@pytest.mark.parametrize("change", ["body", "signature"])
async def test_one_changed_byte_is_refused(
    served: tuple[SlackAdapter, list[Inbound]], change: str
) -> None:
    adapter, stored = served
    body, signature = EXAMPLE["body"].encode(), EXAMPLE["signature"]
    if change == "body":
        body = body.replace(b"roadrunner", b"roadrunnes")
    else:
        signature = signature[:-1] + ("4" if signature[-1] != "4" else "5")
    assert await post(adapter, body, signature) == 401
    assert stored == []
