"""The factory from settings, and the Socket Mode liveness watchdog (R-OPS-1)."""

from __future__ import annotations

import pytest

from adapters.slack import SlackAdapter, SlackNotConfigured, slack_adapter_from_env
from adapters.slack.adapter import Liveness
from bot.config import Settings


@pytest.fixture(autouse=True)
def no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings also read the process environment: start from none of Slack's variables."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)


def settings(**env: str) -> Settings:
    return Settings.model_validate(env)


def test_the_factory_builds_socket_mode_from_the_tokens() -> None:
    slack = slack_adapter_from_env(
        settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1"), environ={}
    )
    assert isinstance(slack, SlackAdapter)
    assert slack.mode == "socket"
    assert slack.client.base_url == "https://slack.com/api/"
    assert slack.limits.overall == (8, 1.0)


def test_the_factory_reads_the_api_url_and_the_workspace_cap() -> None:
    slack = slack_adapter_from_env(
        settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s"),
        http=True,
        port=8123,
        environ={
            "SAMEN_SLACK_API_URL": "http://127.0.0.1:9/api/",
            "SAMEN_SLACK_WORKSPACE_CAP": "4",
        },
    )
    assert (slack.mode, slack.port) == ("http", 8123)
    assert slack.client.base_url == "http://127.0.0.1:9/api/"
    assert slack.limits.overall == (4, 1.0)


@pytest.mark.parametrize(
    ("env", "http", "missing"),
    [
        ({}, False, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, False, "SLACK_APP_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, True, "SLACK_SIGNING_SECRET"),
    ],
)
def test_a_missing_credential_is_named_and_no_secret_is_shown(
    env: dict[str, str], http: bool, missing: str
) -> None:
    with pytest.raises(SlackNotConfigured, match=missing) as raised:
        slack_adapter_from_env(settings(**env), http=http, environ={})
    assert "xoxb-1" not in str(raised.value)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_watchdog_reconnects_once_after_90_silent_seconds() -> None:
    clock = Clock()
    reconnects: list[float] = []
    pong: list[float | None] = [None]

    async def reconnect() -> None:
        reconnects.append(clock.now)

    watchdog = Liveness(reconnect=reconnect, pong_time=lambda: pong[0], clock=clock)
    clock.now += 89
    assert not await watchdog.check()
    watchdog.frame()  # an event arrived
    clock.now += 89
    assert not await watchdog.check()
    clock.now += 2  # 91 s without a frame
    assert await watchdog.check()
    assert not await watchdog.check()  # one reconnect per silence
    assert reconnects == [1180.0]


async def test_the_sdks_ping_pong_counts_as_a_frame() -> None:
    clock = Clock()
    pong: list[float | None] = [None]
    calls = 0

    async def reconnect() -> None:
        nonlocal calls
        calls += 1

    watchdog = Liveness(reconnect=reconnect, pong_time=lambda: pong[0], clock=clock)
    clock.now += 80
    pong[0] = clock.now
    clock.now += 80
    assert not await watchdog.check()
    assert calls == 0
