"""The Slack world: a workspace around the real runtime, for scenario tests.

`slack_world` starts the fake Slack Web API on 127.0.0.1 (tests.harness.fake_slack) and
`build_runtime` connects store (SQLite), service, scheduler (its firing path, without
APScheduler's wall clock), outbox and the real Slack adapter in HTTP mode, whose Web API
client points at the fake Slack (`SAMEN_SLACK_API_URL`). People act by genuinely signed
HTTP requests to `/slack/events`: slash commands, block_actions clicks, view submissions
and Events API callbacks. Time is a `FakeClock`; the fake Slack enforces its 1 message/s
per channel on that same clock, so the outbox's pacing is checked for real.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from adapters.slack import SlackAdapter, slack_adapter_from_env
from bot.config import Settings
from bot.runtime.clock import FakeClock
from bot.wiring import Runtime, build_runtime
from tests.harness.fake_slack import Call, FakeSlack
from tests.harness.world import FLOWS, START, World

SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
# The signing secret of Slack's documented signing example (the adapter tests sign with it).
EXAMPLE_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM_CHANNEL = "C0WIJKTEAM"
FORM = "application/x-www-form-urlencoded"
TIMEOUT = aiohttp.ClientTimeout(total=10)
PACE = timedelta(seconds=30)  # the longest wait for a rate limit the clock skips
NAMES = {"U0ANNA": "anna", "U0BRAM": "bram", "U0COR": "cor"}


def sign(body: str, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    """Slack's request signature: v0= HMAC-SHA256(secret, "v0:{ts}:{raw body}")."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def dm(user: str) -> str:
    """The IM channel the fake opens for `user` (conversations.open)."""
    return "D" + user.lstrip("U")


def elements(call: Call) -> Iterator[dict[str, Any]]:
    """Every interactive element in the blocks of one posted or updated message."""
    for block in call.args.get("blocks") or []:
        if block.get("type") == "actions":
            yield from block.get("elements", [])


def text_of(call: Call) -> str:
    return json.dumps(call.args.get("blocks") or [], ensure_ascii=False) + str(
        call.args.get("text", "")
    )


class Workspace(World):
    """The runtime with the real Slack adapter in HTTP mode, and the fake Web API."""

    def __init__(
        self, runtime: Runtime, adapter: SlackAdapter, fake: FakeSlack, clock: FakeClock
    ) -> None:
        super().__init__(runtime, clock, [fake], pace=PACE)
        self.adapter, self.fake = adapter, fake
        self._ids = itertools.count(1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}/slack/events"

    # ------------------------------------------------------------------ inbound

    async def post(
        self,
        body: str,
        content_type: str = FORM,
        *,
        timestamp: int | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        # Bolt checks the timestamp against real time: the request is signed "now".
        sent = {"Content-Type": content_type, **sign(body, timestamp or int(time.time()), secret)}
        sent |= headers or {}
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(self.base, data=body.encode(), headers=sent) as response,
        ):
            return response.status, await response.text()

    def slash_body(
        self,
        user: str,
        command: str,
        text: str,
        channel: str = TEAM_CHANNEL,
        channel_name: str = "wijkteam-oost",
    ) -> str:
        return urlencode(
            {
                "token": "x",
                "team_id": "T0001",
                "team_domain": "zorgteam",
                "channel_id": channel,
                "channel_name": channel_name,
                "user_id": user,
                "user_name": NAMES.get(user, user.lower()),
                "command": command,
                "text": text,
                "api_app_id": "A1",
                "is_enterprise_install": "false",
                "response_url": "https://hooks.slack.com/commands/T0001/1/x",
                "trigger_id": f"{next(self._ids)}.4242.trigger",
            }
        )

    async def slash(self, user: str, text: str = "", command: str = "/samen", **where: str) -> int:
        """A slash command; `channel=`, `channel_name=` elsewhere than the team channel
        (a direct message: `channel=dm(user), channel_name="directmessage"`)."""
        status, _ = await self.post(self.slash_body(user, command, text, **where))
        await self.settle()
        return status

    def click_body(
        self,
        user: str,
        element: dict[str, Any],
        *,
        channel: str,
        message_ts: str,
        action_ts: float | None = None,
    ) -> str:
        action = {
            "type": element["type"],
            "action_id": element["action_id"],
            "block_id": "b",
            "text": element.get("text"),
            "value": element.get("value"),
            "action_ts": f"{action_ts if action_ts is not None else time.time():.6f}",
        }
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": NAMES.get(user, user), "team_id": "T0001"},
            "api_app_id": "A1",
            "token": "x",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "trigger_id": f"{next(self._ids)}.4242.click",
            "team": {"id": "T0001", "domain": "zorgteam"},
            "channel": {"id": channel, "name": "x"},
            "message": {"type": "message", "ts": message_ts},
            "actions": [action],
        }
        return urlencode({"payload": json.dumps(payload)})

    async def click(self, user: str, call: Call, action_id: str, **options: Any) -> int:
        """Click the element `action_id` (a prefix is enough) on the message `call` posted."""
        element = self.element(call, action_id)
        channel, ts = self.ref(call)
        status, _ = await self.post(
            self.click_body(user, element, channel=channel, message_ts=ts, **options)
        )
        await self.settle()
        return status

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, str]) -> int:
        """Submit an opened modal with a text per question id."""
        state = {
            f"q|{question}": {"v": {"type": "plain_text_input", "value": text}}
            for question, text in values.items()
        }
        payload = {
            "type": "view_submission",
            "team": {"id": "T0001"},
            "user": {"id": user, "username": NAMES.get(user, user), "team_id": "T0001"},
            "api_app_id": "A1",
            "token": "x",
            "trigger_id": f"{next(self._ids)}.4242.submit",
            "view": {
                "id": "V0001",
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "state": {"values": state},
            },
        }
        status, _ = await self.post(urlencode({"payload": json.dumps(payload)}))
        await self.settle()
        return status

    async def open_and_submit(self, user: str, call: Call, values: dict[str, str]) -> int:
        """Click a form's modal button, see views.open called, submit the modal."""
        before = len(self.fake.called("views.open"))
        await self.click(user, call, "m|")  # settled: views.open, made after the ack, too
        opened = self.fake.called("views.open")
        assert len(opened) > before, "the click opened no modal"
        return await self.submit(user, opened[-1].args["view"], values)

    def event_body(self, event: dict[str, Any], event_id: str) -> str:
        return json.dumps(
            {
                "token": "x",
                "team_id": "T0001",
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            }
        )

    # ------------------------------------------------------------------ outbound

    def posted(self, channel: str | None = None, says: str = "") -> list[Call]:
        """Messages the fake accepted (a 429'd attempt is not a message)."""
        return [
            c
            for c in self.fake.called("chat.postMessage")
            if c.response is not None
            and c.response.get("ok")
            and (channel is None or c.args.get("channel") == channel)
            and says in text_of(c)
        ]

    def last(self, channel: str, says: str = "") -> Call:
        found = self.posted(channel, says)
        assert found, f"nothing posted in {channel} saying {says!r}"
        return found[-1]

    @staticmethod
    def ref(call: Call) -> tuple[str, str]:
        """(channel, ts) the fake gave the message `call` posted."""
        assert call.response is not None and call.response.get("ok"), "not accepted"
        return str(call.response["channel"]), str(call.response["ts"])

    @staticmethod
    def element(call: Call, action_id: str) -> dict[str, Any]:
        for element in elements(call):
            if str(element.get("action_id", "")).startswith(action_id):
                return element
        raise AssertionError(f"no element {action_id!r} on that message")

    @staticmethod
    def elements_of(call: Call) -> list[dict[str, Any]]:
        return list(elements(call))

    @staticmethod
    def button(call: Call, label: str) -> dict[str, Any]:
        for element in elements(call):
            if (element.get("text") or {}).get("text") == label:
                return element
        raise AssertionError(f"no button {label!r} on that message")


@asynccontextmanager
async def slack_world(
    tmp_path: Path, monkeypatch: Any, *, start: datetime = START
) -> AsyncIterator[Workspace]:
    """The fake Slack, the real adapter (HTTP mode, signing secret `SECRET`) and the
    runtime on a fresh database in `tmp_path`, the clock at `start`."""
    clock = FakeClock(start)
    fake = FakeSlack(per_channel_rate=1.0, clock=lambda: clock.now().timestamp())
    await fake.start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-scenario")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv("SAMEN_SLACK_API_URL", fake.url)
    settings = Settings(data_dir=tmp_path, flows_dir=FLOWS, teams_file=tmp_path / "teams.yaml")
    adapter = slack_adapter_from_env(settings, http=True, port=0, host="127.0.0.1")
    runtime = await build_runtime(settings, clock=clock, adapters=[adapter], use_apscheduler=False)
    await adapter.start(runtime.inbound)
    try:
        yield Workspace(runtime, adapter, fake, clock)
    finally:
        await runtime.stop()
        await fake.stop()
