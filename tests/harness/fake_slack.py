"""A fake Slack Web API on 127.0.0.1 for tests: real response shapes, every call recorded.

It answers the methods Samen uses (`auth.test`, `chat.postMessage`, `chat.update`,
`chat.delete`, `chat.postEphemeral`, `conversations.open`, `users.info`, `views.open`, and
`views.publish`, and `apps.connections.open` with a Socket Mode websocket at `/link`)
the way Slack does, records each call with its arguments, keeps every posted message
(so a `chat.update` must name one that exists, and a `chat.delete` removes it: a second
delete answers `message_not_found`), and can be told to answer the next call
of a method with a 429 + Retry-After or an `{"ok": false, "error": ...}`. With
`per_channel_rate` set it enforces Slack's ~1 message/s per channel itself, on its own
`clock` (seconds; real monotonic time unless a test hands it its fake clock), and
counts those refusals in `enforced_429s`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_USER = "UBOT"
TEAM = "T0001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    response: dict[str, Any] | None = None  # what the fake answered (None: an error status)


@dataclass
class Failure:
    status: int
    error: str | None
    retry_after: float | None


@dataclass
class FakeSlack:
    per_channel_rate: float | None = None  # seconds between messages per channel
    clock: Callable[[], float] = time.monotonic
    calls: list[Call] = field(default_factory=list)
    # (channel, ts) -> the message as it stands now (chat.update replaces it)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (channel, ts), in order
    enforced_429s: int = 0
    # users.info `tz` per user id (default Europe/Amsterdam)
    zones: dict[str, str] = field(default_factory=dict)
    # conversations.info `creator` per channel id
    creators: dict[str, str] = field(default_factory=dict)
    # deactivated accounts: conversations.open with them answers `user_disabled`
    disabled: set[str] = field(default_factory=set)
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _last_post: dict[str, float] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    url: str = ""
    # Socket Mode: envelopes to push on each new connection, the acks that came back
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    acks: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    connections: int = 0
    name: str = "the fake Slack"  # in the harness's reports (tests.harness.settle)
    busy: int = 0  # requests being answered now
    answered: int = 0  # requests answered so far

    # ------------------------------------------------------------------ control

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{method}", self._serve)
        app.router.add_get("/api/{method}", self._serve)  # slack-sdk GETs users.info
        app.router.add_get("/link", self._socket)
        app.router.add_post("/commands/{rest:.*}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/api/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def rate_limit_next(self, method: str, retry_after: float = 3) -> None:
        self._failures.setdefault(method, []).append(Failure(429, "ratelimited", retry_after))

    def fail_next(self, method: str, error: str, status: int = 200) -> None:
        self._failures.setdefault(method, []).append(Failure(status, error, None))

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # ------------------------------------------------------------------ server

    async def _serve(self, request: web.Request) -> web.Response:
        """Every request, counted while it is answered (subclasses change `_handle`)."""
        self.busy += 1
        try:
            return await self._handle(request)
        finally:
            self.busy -= 1
            self.answered += 1

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            args = {}
        elif request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
        # slack-sdk sends some methods' arguments (conversations.open) as query parameters
        args = {**dict(request.query), **args}
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        call = Call(method, args, token)
        self.calls.append(call)
        queued = self._failures.get(method)
        if queued:
            failure = queued.pop(0)
            return self._fail(failure)
        if method == "chat.postMessage" and self.per_channel_rate is not None:
            channel = str(args.get("channel"))
            now = self.clock()
            last = self._last_post.get(channel)
            if last is not None and now - last < self.per_channel_rate:
                wait = self.per_channel_rate - (now - last)
                self.enforced_429s += 1
                return self._fail(Failure(429, "ratelimited", max(1.0, round(wait))))
            self._last_post[channel] = now
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        call.response = answer(args)
        return web.json_response(call.response)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: hello, the queued envelopes, then record acks."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A1"},
            }
        )
        for envelope in self.envelopes:
            await ws.send_json(envelope)
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                self.acks.append((time.monotonic(), json.loads(frame.data)))
        return ws

    def response_url(self, name: str = "cmd") -> str:
        """A slash command's response_url served by this fake (answers are recorded as
        calls of the method "response_url"; after 5 uses it answers 404 used_url)."""
        return self.url.replace("/api/", f"/commands/T0001/{name}/x")

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await request.json()
        used = sum(
            1 for c in self.calls if c.method == "response_url" and c.args["url"] == request.path
        )
        call = Call("response_url", {**args, "url": request.path}, "")
        self.calls.append(call)
        if used >= 5:
            return web.Response(status=404, text="used_url")
        call.response = {"ok": True}
        return web.Response(status=200, text="ok")

    def _apps_connections_open(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.url.replace("http://", "ws://").replace("/api/", "/link")}

    @staticmethod
    def _fail(failure: Failure) -> web.Response:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after))
        return web.json_response(
            {"ok": False, "error": failure.error}, status=failure.status, headers=headers
        )

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://zorgteam.slack.com/",
            "team": "Zorgteam",
            "user": "samen",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "BBOT",
            "is_enterprise_install": False,
        }

    def _message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": args.get("text", ""),
            "ts": ts,
            "bot_id": "BBOT",
            "blocks": blocks,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return message

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        ts = self._next_ts()
        message = self._message(args, ts)
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("ts", ""))
        channel = str(args.get("channel", ""))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        message = self._message(args, ts)
        self.messages[(channel, ts)] = message
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": args.get("text", ""),
            "message": message,
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        ts = str(args.get("ts", ""))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        del self.messages[(channel, ts)]
        self.deleted.append((channel, ts))
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("user"):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        if users in self.disabled:
            return {"ok": False, "error": "user_disabled"}
        return {"ok": True, "channel": {"id": "D" + users.lstrip("U")}}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel not in self.creators:
            return {"ok": False, "error": "channel_not_found"}
        found = {"id": channel, "is_channel": True, "creator": self.creators[channel]}
        return {"ok": True, "channel": found}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user", ""))
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": TEAM,
                "name": user.lower(),
                "real_name": f"Person {user}",
                "tz": self.zones.get(user, "Europe/Amsterdam"),
                "tz_label": "Central European Time",
                "tz_offset": 3600,
                "is_bot": False,
                "profile": {"display_name": f"P{user}", "real_name": f"Person {user}"},
            },
        }

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return {"ok": True, "view": {"id": "V0001", **(view or {})}}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not args.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if len(view.get("blocks") or []) > 100:
            return {"ok": False, "error": "invalid_blocks"}
        return {"ok": True, "view": {"id": "VHOME", "team_id": TEAM, **view}}
