"""`--host` for the HTTP modes: 127.0.0.1 unless the operator says otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

import bot.cli
from bot.config import Settings
from bot.wiring import platform_adapters

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-host-test",
    "SLACK_SIGNING_SECRET": "s3cr3t",
    "TELEGRAM_BOT_TOKEN": "123:host-test",
}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    return Settings(data_dir=tmp_path)


def test_the_http_modes_listen_on_this_machine_only_by_default(settings: Settings) -> None:
    adapters = platform_adapters(
        settings, slack_http=True, telegram_webhook="https://samen.example/telegram", port=0
    )
    assert [(a.platform, getattr(a, "host", None)) for a in adapters] == [
        ("slack", "127.0.0.1"),
        ("telegram", "127.0.0.1"),
    ]


def test_host_reaches_both_adapters(settings: Settings) -> None:
    adapters = platform_adapters(
        settings,
        slack_http=True,
        telegram_webhook="https://samen.example/telegram",
        port=0,
        host="0.0.0.0",
    )
    assert {getattr(a, "host", None) for a in adapters} == {"0.0.0.0"}


async def test_the_slack_http_mode_binds_the_address_it_was_given(settings: Settings) -> None:
    slack, _ = platform_adapters(settings, slack_http=True, port=0)

    async def stored(_: Any) -> None:
        return None

    await slack.start(stored)
    try:
        # Reachable on loopback, and a URL of the adapter's own host says where it is.
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{slack.port}/healthz"  # type: ignore[attr-defined]
            async with session.get(url) as response:
                assert response.status == 200
        assert slack.host == "127.0.0.1"  # type: ignore[attr-defined]
    finally:
        await slack.stop()


@pytest.mark.parametrize(("given", "expected"), [([], "127.0.0.1"), (["--host", "::1"], "::1")])
def test_samen_run_passes_host_on(
    monkeypatch: pytest.MonkeyPatch, given: list[str], expected: str
) -> None:
    seen: dict[str, Any] = {}

    def adapters(settings: Settings, **options: Any) -> list[Any]:
        seen.update(options)
        raise ValueError("stop here")

    monkeypatch.setattr(bot.cli, "platform_adapters", adapters)
    result = CliRunner().invoke(bot.cli.app, ["run", "--slack-http", *given])
    assert result.exit_code == 2
    assert seen["host"] == expected
