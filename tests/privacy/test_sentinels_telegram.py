"""The sentinel test through the real Telegram adapter (python-telegram-bot, long polling)
against the local fake Bot API: a client name, a BSN, an e-mail address and a phone
number in group commands (answered in the group: no private chat yet) and the bot token
in the configuration appear nowhere — not in the database, not in the logs at DEBUG,
not in any argument sent to the Bot API (the token is only in the URL path); a first
name and the group's title are not in the logs."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from adapters.telegram import TelegramAdapter
from bot.config import Settings
from bot.wiring import build_runtime
from tests.harness.fake_telegram import TOKEN, FakeTelegram
from tests.harness.world import ROOT

CLIENT = "Zonnebloem-Verhaar"
BSN = "247593412"
GROUP_TITLE = "Groep-Zeemeermin"
FIRST_NAME = "Ankerpunt"
EMAIL = "zeewier.kompas@voorbeeld-zorg.nl"
PHONE = "06-48213579"
GROUP = {"id": -1009876543210, "title": GROUP_TITLE, "type": "supergroup"}
ANNA = {"id": 4242, "is_bot": False, "first_name": FIRST_NAME}
BOUND = 10.0


def _command(update_id: int, text: str) -> dict[str, Any]:
    word = text.split()[0]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": ANNA,
            "chat": GROUP,
            "date": 1700000000,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(word)}],
        },
    }


async def test_sentinels_sent_through_telegram_are_found_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    fake = FakeTelegram()
    await fake.start()
    settings = Settings(data_dir=tmp_path / "data", flows_dir=ROOT / "flows")
    telegram = TelegramAdapter(token=TOKEN, api_url=fake.base_url, poll_timeout=1.0)
    runtime = await build_runtime(settings, adapters=[telegram], use_apscheduler=False)
    try:
        await runtime.start()
        texts = [
            f"/samen {CLIENT} {BSN}",
            f"/bel {CLIENT} {BSN}",
            f"/samen traject {BSN} 2026-01-05",
            f"/samen start {EMAIL}",
            f"/samen traject {PHONE} 2026-01-05",
            f"/samen sessie {CLIENT}",
        ]
        for i, text in enumerate(texts):
            fake.queue_update(_command(5001 + i, text))
        async with asyncio.timeout(BOUND):
            while len(fake.called("sendMessage")) < len(texts):
                await asyncio.sleep(0.05)
    finally:
        await runtime.stop()
        await fake.stop()

    sent = json.dumps([c.args for c in fake.calls], ensure_ascii=False, default=str)
    assert "Dat commando ken ik niet" in sent  # the replies did go out
    blobs = [p.read_bytes() for p in (tmp_path / "data").glob("samen.db*")]
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    for sentinel in (CLIENT, BSN, TOKEN, TOKEN.split(":")[1], EMAIL, PHONE):
        assert sentinel not in sent, f"{sentinel!r} sent to the Bot API"
        assert sentinel not in logs, f"{sentinel!r} in the logs"
        for blob in blobs:
            assert sentinel.encode() not in blob
    # The updates' names (a first name, the group's title) are not logged at DEBUG: the
    # SDK's and the drivers' loggers are capped (bot/privacy/logs.py).
    for name in (GROUP_TITLE, FIRST_NAME):
        assert name.lower() not in logs.lower(), f"{name!r} in the logs"
    # A display name and a group's title are stored sealed (members.name, teams.name):
    # not readable in the files.
    for name in (FIRST_NAME, GROUP_TITLE):
        for blob in blobs:
            assert name.encode() not in blob, f"{name!r} in the database files"
