"""A fake Telegram Bot API on 127.0.0.1 for tests: real response shapes, every call recorded.

It serves `/bot<token>/<method>` for the methods Samen uses (getMe, sendMessage,
editMessageText, editMessageReplyMarkup, deleteMessage, answerCallbackQuery,
setMyCommands, getUpdates, setWebhook, deleteWebhook), answers `{"ok": true, "result":
...}` like Telegram, and can be told to answer the next call of a method with a 429
(`parameters.retry_after`) or a 403. Private chats of people who never pressed Start
answer 403 like the real API. deleteMessage removes a message from `messages` (into
`deleted`) and refuses, like Telegram, one sent 48 hours ago or longer ("message can't
be deleted") and one it does not have ("message to delete not found").
getUpdates serves queued updates by `offset` and waits (bounded) when there are none.

It enforces Telegram's message limits like the real API, with 429 and
`parameters.retry_after`: 1 message a second per chat, 20 a minute per group, 30 a
second overall (sendMessage and editMessageText count; a refused call does not). Time is
`now()`: the runtime's FakeClock in scenario tests, so that a jump in time is one for the
fake too. `limited` counts the 429s it gave for that reason. Unit tests of single calls
switch the limits off (`enforce_limits=False`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.base import Inbound

TOKEN = "123456:AAHfake-token-for-tests_XYZ"
BOT = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Samen",
    "username": "SamenTestBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MAX_POLL_WAIT = 0.5  # seconds a getUpdates call with nothing to serve waits, at most
DELETE_WINDOW = 48 * 3600.0  # seconds: a bot deletes its messages only within 48 hours
LIMITED_METHODS = frozenset({"sendMessage", "editMessageText"})
PER_CHAT = (1, 1.0)
PER_GROUP = (20, 60.0)
OVERALL = (30, 1.0)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str


@dataclass
class FakeTelegram:
    calls: list[Call] = field(default_factory=list)
    not_started: set[int] = field(default_factory=set)  # private chats answering 403
    gone: set[int] = field(default_factory=set)  # chats answering 400 "chat not found"
    now: Callable[[], float] = time.monotonic  # seconds; the scenario's clock in tests
    enforce_limits: bool = True  # off for unit tests that call the adapter back to back
    limited: int = 0  # 429s given because a limit was exceeded
    pinned: dict[int, list[int]] = field(default_factory=dict)  # chat -> pinned message ids
    # chat -> its ChatMember objects (as dicts) for getChatAdministrators
    administrators: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # sent and not deleted
    deleted: list[tuple[int, int]] = field(default_factory=list)  # (chat id, message id)
    _sent_at: dict[tuple[int, int], float] = field(default_factory=dict)
    _sent: dict[tuple[Any, ...], deque[float]] = field(default_factory=dict)
    _failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    base_url: str = ""  # python-telegram-bot's form: ends in /bot, the token follows
    name: str = "the fake Telegram"  # in the harness's reports (tests.harness.settle)
    # Requests being answered now and answered so far; getUpdates is not counted: the
    # adapter polls all the time, and a poll waiting for updates is the bot idling.
    busy: int = 0
    answered: int = 0

    # ------------------------------------------------------------------ control

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def queue_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        self._new_update.set()

    def rate_limit_next(self, method: str, retry_after: int = 3) -> None:
        self._failures.setdefault(method, []).append(
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
        )

    def fail_next(
        self,
        method: str,
        code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        failure: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            failure["parameters"] = parameters
        self._failures.setdefault(method, []).append(failure)

    def confirmed(self, update_id: int) -> bool:
        """True once the bot asked for updates past `update_id` (it has it for good)."""
        return all(u["update_id"] != update_id for u in self._updates)

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # ------------------------------------------------------------------ server

    async def _serve(self, request: web.Request) -> web.Response:
        """Every request, counted while it is answered (subclasses change `_handle`)."""
        if request.match_info["method"] == "getUpdates":
            return await self._handle(request)
        self.busy += 1
        try:
            return await self._handle(request)
        finally:
            self.busy -= 1
            self.answered += 1

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.match_info["token"]
        args = await _arguments(request)
        self.calls.append(Call(method, args, token))
        if token != TOKEN:
            return _answer({"ok": False, "error_code": 401, "description": "Unauthorized"})
        queued = self._failures.get(method)
        if queued:
            return _answer(queued.pop(0))
        if str(args.get("chat_id", "")).lstrip("-").isdigit() and int(args["chat_id"]) in self.gone:
            return _answer(
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            )
        if self.enforce_limits and method in LIMITED_METHODS and "chat_id" in args:
            wait = self._over_limit(int(args["chat_id"]))
            if wait is not None:
                self.limited += 1
                return _answer(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {wait}",
                        "parameters": {"retry_after": wait},
                    }
                )
        handler = getattr(self, "_" + method, None)
        if handler is None:
            return _answer({"ok": False, "error_code": 404, "description": "Not Found"})
        result = await handler(args)
        if isinstance(result, web.Response):
            return result
        return _answer({"ok": True, "result": result})

    def _over_limit(self, chat_id: int) -> int | None:
        """Seconds to wait when this call would exceed a limit; else count it (None)."""
        now = self.now()
        windows = [(("chat", chat_id), *PER_CHAT), (("overall",), *OVERALL)]
        if chat_id < 0:
            windows.append((("group", chat_id), *PER_GROUP))
        wait = 0.0
        for key, count, per in windows:
            sent = self._sent.setdefault(key, deque(maxlen=count))
            if len(sent) >= count and now - sent[0] < per - 1e-9:
                wait = max(wait, per - (now - sent[0]))
        if wait > 0:
            return max(1, math.ceil(wait))
        for key, _, _ in windows:
            self._sent[key].append(now)
        return None

    async def _pinChatMessage(self, args: dict[str, Any]) -> bool:
        self.pinned.setdefault(int(args["chat_id"]), []).append(int(args["message_id"]))
        return True

    async def _getMe(self, _: dict[str, Any]) -> dict[str, Any]:
        return BOT

    async def _setMyCommands(self, args: dict[str, Any]) -> bool:
        return True

    async def _deleteWebhook(self, _: dict[str, Any]) -> bool:
        return True

    async def _setWebhook(self, _: dict[str, Any]) -> bool:
        return True

    async def _answerCallbackQuery(self, _: dict[str, Any]) -> bool:
        return True

    async def _getChatAdministrators(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self.administrators.get(int(args["chat_id"]), [])

    async def _getUpdates(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(args.get("offset") or 0)
        # Confirmed updates (id below the offset) are gone for good, as with Telegram.
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            wait = min(float(args.get("timeout") or 0), MAX_POLL_WAIT)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), wait)
        return list(self._updates)

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "first_name": "Anna", "type": "private"}
        return {"id": chat_id, "title": "Wijkteam Noord", "type": "supergroup"}

    def _message(self, chat_id: int, message_id: int, args: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": {k: BOT[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": self._chat(chat_id),
            "date": 1700000000,
            "text": args.get("text", ""),
        }
        markup = args.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        return message

    async def _sendMessage(self, args: dict[str, Any]) -> dict[str, Any] | web.Response:
        chat_id = int(args["chat_id"])
        if chat_id in self.not_started:
            return _answer(
                {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot can't initiate conversation with a user",
                }
            )
        message = self._message(chat_id, next(self._message_ids), args)
        self.messages.append(message)
        self._sent_at[(chat_id, message["message_id"])] = self.now()
        return message

    async def _deleteMessage(self, args: dict[str, Any]) -> bool | web.Response:
        key = (int(args["chat_id"]), int(args["message_id"]))
        found = [m for m in self.messages if (m["chat"]["id"], m["message_id"]) == key]
        if not found:
            return _answer(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message to delete not found",
                }
            )
        if self.now() - self._sent_at.get(key, self.now()) >= DELETE_WINDOW:
            return _answer(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message can't be deleted",
                }
            )
        self.messages.remove(found[0])
        self.deleted.append(key)
        if key[1] in self.pinned.get(key[0], []):
            self.pinned[key[0]].remove(key[1])
        return True

    async def _editMessageText(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._message(int(args["chat_id"]), int(args["message_id"]), args)

    async def _editMessageReplyMarkup(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._message(int(args["chat_id"]), int(args["message_id"]), args)


async def _arguments(request: web.Request) -> dict[str, Any]:
    """python-telegram-bot posts form fields whose complex values are JSON strings."""
    if request.content_type == "application/json":
        raw: dict[str, Any] = await request.json()
    else:
        raw = dict(await request.post())
    args: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and value[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        args[key] = value
    return args


def _answer(body: dict[str, Any]) -> web.Response:
    status = int(body.get("error_code", 200)) if not body.get("ok") else 200
    return web.json_response(body, status=status)


class Received:
    """An inbound handler that records what it was given (stands in for the shell)."""

    def __init__(self) -> None:
        self.events: list[Inbound] = []

    async def __call__(self, event: Inbound) -> None:
        self.events.append(event)
