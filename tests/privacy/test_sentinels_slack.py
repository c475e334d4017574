"""The sentinel test through the real Slack adapter (slack-bolt, HTTP mode) against the
local fake Web API: a client name, a BSN, an e-mail address and a phone number in signed
slash commands, and in a forged request, and the bot token and signing secret in the
configuration, appear nowhere — not in the database, not in the logs at DEBUG, not in
any call to the Web API; the display name and channel title of the payloads are not in
the logs either."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack import SlackAdapter
from bot.config import Settings
from bot.wiring import build_runtime
from tests.harness.fake_slack import FakeSlack
from tests.harness.world import ROOT

CLIENT = "Zonnebloem-Verhaar"
BSN = "247593412"
BOT_TOKEN = "xoxb-sentinel-slack-7c1d9e"
SIGNING_SECRET = "sentinel0signing0secret0abc123"
EMAIL = "zeewier.kompas@voorbeeld-zorg.nl"
PHONE = "06-48213579"
GROUP_TITLE = "Kanaal-Zeemeermin"
USER_NAME = "ankerpunt-anna"
BOUND = 10.0


def _slash(text: str, n: int) -> str:
    return urlencode(
        {
            "team_id": "T0001",
            "channel_id": "C1",
            "channel_name": GROUP_TITLE,
            "user_id": "U2",
            "user_name": USER_NAME,
            "command": "/samen",
            "text": text,
            "api_app_id": "A1",
            "response_url": "https://hooks.slack.com/commands/1/2",
            "trigger_id": f"1334522460{n}.7384.abc",
        }
    )


async def _post(base: str, body: str, secret: str) -> int:
    timestamp = str(int(time.time()))
    digest = hmac.new(
        secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BOUND)) as session,
        session.post(f"{base}/slack/events", data=body.encode(), headers=headers) as response,
    ):
        return response.status


async def test_sentinels_sent_through_slack_are_found_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    fake = FakeSlack()
    await fake.start()
    settings = Settings(data_dir=tmp_path / "data", flows_dir=ROOT / "flows")
    slack = SlackAdapter(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        mode="http",
        host="127.0.0.1",
        port=0,
        api_url=fake.url,
    )
    runtime = await build_runtime(settings, adapters=[slack], use_apscheduler=False)
    try:
        await runtime.start()
        base = f"http://127.0.0.1:{slack.port}"
        forged = await _post(base, _slash(f"{CLIENT} {BSN}", 0), "not-the-secret")
        assert forged == 401
        texts = [f"{CLIENT} {BSN}", f"vliegen {CLIENT} {BSN}", f"traject {BSN} 2026-01-05"]
        texts += [f"start {EMAIL}", f"traject {PHONE} 2026-01-05", f"sessie {CLIENT}"]
        for n, text in enumerate(texts, start=1):
            assert await _post(base, _slash(text, n), SIGNING_SECRET) == 200
        async with asyncio.timeout(BOUND):
            while len([c for c in fake.calls if c.method.startswith("chat.")]) < len(texts):
                await asyncio.sleep(0.05)
    finally:
        await runtime.stop()
        await fake.stop()

    sent = json.dumps([c.args for c in fake.calls], ensure_ascii=False, default=str)
    assert "ken ik niet" in sent  # the replies did go out
    blobs = [p.read_bytes() for p in (tmp_path / "data").glob("samen.db*")]
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    for sentinel in (CLIENT, BSN, BOT_TOKEN, SIGNING_SECRET, EMAIL, PHONE):
        assert sentinel not in sent, f"{sentinel!r} sent to the Web API"
        assert sentinel not in logs, f"{sentinel!r} in the logs"
        for blob in blobs:
            assert sentinel.encode() not in blob
    # The payloads' names (a display name, the channel's title) are not logged at DEBUG:
    # the SDK's and the drivers' loggers are capped (bot/privacy/logs.py).
    for name in (GROUP_TITLE, USER_NAME):
        assert name.lower() not in logs.lower(), f"{name!r} in the logs"
    # A display name is stored sealed (members.name): not readable in the files.
    for name in (USER_NAME, "Person U2"):
        for blob in blobs:
            assert name.encode() not in blob, f"{name!r} in the database files"
