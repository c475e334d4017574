"""The Telegram adapter: python-telegram-bot's `Bot` out, long polling or a webhook in.

Inbound, every update is parsed (`parse.py`) and handed to the shell, and only after the
shell returned (the event is in the inbox) is Telegram told we have it (R-ING-3):

- Long polling runs python-telegram-bot's `Updater` inside an `Application` built with
  `job_queue(None)` (Samen's scheduler owns time). The Updater confirms an update by
  asking for the next offset only after `update_queue.put` returned for the whole batch;
  our queue's `put` IS the hand-over to the shell, so the offset moves on only after the
  store. If the shell fails, `put` raises a `NetworkError`: the Updater backs off and asks
  again with the old offset, and the inbox absorbs the updates it already has (R-ING-4).
  The Application's own dispatch (handlers, `concurrent_updates`) is not used: it runs
  after the offset has moved on, so a crash in between would lose an update.
- Webhook mode serves an aiohttp endpoint. A request whose `X-Telegram-Bot-Api-Secret-Token`
  is not the secret we registered with `setWebhook` (random per start, compared with
  `hmac.compare_digest`) gets 403 and is not parsed (R-SEC-3); a stored update gets 200;
  a failing store 500, so Telegram delivers it again.

Outbound, `deliver` makes one Bot API call and reports 429s and errors in its result; it
never sleeps or retries (the outbox owns that, R-OUT). Transport errors (timeouts, resets)
raise, and the outbox retries them. A delete (`samen forget`) is `deleteMessage`: "message
to delete not found" means it is gone already (done); "message can't be deleted" (a bot
may delete its messages only within 48 hours) and other refusals fail it, never retried.

State: the callback token table (`tokens`), the reply routing of sent forms (`prompts`)
and who has a private chat with the bot ("open") or has not pressed Start ("blocked") are
cached in memory and written through to a `TelegramState` (state.py); the composition
root attaches one backed by the store (`attach_state`), so a restart loses none of it.
Before an update is parsed, the tokens and the form it refers to are loaded on a miss.

People who never pressed Start: Telegram refuses a private message to them (403 "bot
can't initiate conversation", or 400 "chat not found" for someone it never saw).
`deliver` then reports `blocked_until_start` (no retries are burnt); the outbox parks
the message and bot/teams/start_links.py posts one deep link (`start_link`) in the team's group.
When the person presses Start, the `/start <token>` arrives as a "joined" event in their
private chat (any first private message does the same), and the parked messages go out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dtm
import hmac
import json
import logging
import re
import secrets
import warnings
from collections import ChainMap
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application
from telegram.request import HTTPXRequest

from adapters.base import Inbound, InboundHandler
from adapters.telegram.parse import (
    PLATFORM,
    Parsed,
    Toggle,
    nesting_depth,
    parse_update,
    prompt_key,
)
from adapters.telegram.render import (
    SEP,
    FreeQuestion,
    Markup,
    ReplyPrompt,
    free_questions,
    render_message,
)
from adapters.telegram.render import toggled_keyboard as _toggled
from adapters.telegram.state import MemoryState, TelegramState
from bot.core.effects import MessageKind
from bot.runtime.delivery import Delivery, DeliveryResult, Limits
from bot.runtime.replies import say

log = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://api.telegram.org/bot"
# Whether a press on an answer button may be stored: (run, user, channel) -> the notice
# for a press that cannot change anything, or None (bot/runtime/presses.py).
PressCheck = Callable[[str, str, str], Awaitable[str | None]]
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes (a message is at most 4096 characters, with entities and a
# replied-to message); its JSON is a few levels deep. Anything far beyond is refused
# before it is parsed.
MAX_UPDATE_BYTES: Final = 1024 * 1024
MAX_UPDATE_DEPTH: Final = 64
# Samen reads messages (commands, replies, people joining, a group's new id), button
# presses and its own membership of groups; nothing else.
# `chat_member` comes only where the bot is an administrator (Telegram's rule): there a
# person who leaves is seen even without a service message.
ALLOWED_UPDATES: Final = ("message", "callback_query", "my_chat_member", "chat_member")
_START_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# In a group, a meeting's warnings and status (time left, paused, extended) go into one
# pinned message per run that is edited, so the group's 20 messages a minute stay for
# what must be seen: phases and bells (new messages, which notify).
STATUS_BOARD_KINDS: Final = frozenset({MessageKind.warning, MessageKind.status})

COMMANDS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "nl": (
        ("samen", "Start een werkvorm, of bekijk status en hulp"),
        ("bel", "De bel: pauze, verder, +5, volgende, stop, proces"),
    ),
    "en": (
        ("samen", "Start a working format, or see status and help"),
        ("bel", "The bell: pauze, verder, +5, volgende, stop, proces"),
    ),
}


def quiet_http_logs() -> None:
    """R-SEC-4: httpx logs every request URL at INFO, and Telegram's URLs contain the bot
    token; python-telegram-bot logs the API URL and each call's parameters (message text)
    at DEBUG. Raise both loggers, leaving stricter settings alone."""
    for name, level in (("httpx", logging.WARNING), ("httpcore", logging.WARNING)):
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)
    telegram_logger = logging.getLogger("telegram")
    if telegram_logger.level < logging.INFO:
        telegram_logger.setLevel(logging.INFO)


class _OneLine(logging.Filter):
    """python-telegram-bot logs a failed polling loop (a revoked token among others) with
    its whole traceback; one line with the error's type says as much to an operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[0].__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_ONE_LINE: Final = _OneLine()


def one_line_library_errors() -> None:
    """Install `_OneLine` on python-telegram-bot's loggers (idempotent)."""
    for name in ("telegram.ext", "telegram.ext.Updater", "telegram.ext.Application"):
        logger = logging.getLogger(name)
        if _ONE_LINE not in logger.filters:
            logger.addFilter(_ONE_LINE)


def deep_link(bot_username: str, token: str) -> str:
    """The link that opens a private chat with the bot and sends `/start <token>` when the
    person presses Start (Telegram allows A-Z, a-z, 0-9, _ and -, at most 64)."""
    if not _START_TOKEN.match(token):
        raise ValueError("a start token is 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return f"https://t.me/{bot_username}?start={token}"


def _chat_id(chat: str) -> int | str:
    """`dm:<user id>` -> the private chat (its id is the user's); a group id as an int."""
    raw = chat[3:] if chat.startswith("dm:") else chat
    return int(raw) if raw.lstrip("-").isdigit() else raw


def _utf16_length(text: str) -> int:
    """Telegram counts entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait, from the public `retry_after`: a timedelta where
    PTB_TIMEDELTA is set, else whole seconds (whose reading python-telegram-bot marks as
    deprecated; the warning is for us, not for the operator's log)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        wait = error.retry_after
    if isinstance(wait, dtm.timedelta):
        return max(wait.total_seconds(), 0.0)
    if isinstance(wait, int | float):
        return max(float(wait), 0.0)
    return 1.0


class MalformedUpdate(Exception):
    """An update with a field of a type the Bot API never sends (nothing is stored)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _WatchedRequest(HTTPXRequest):
    """python-telegram-bot's HTTP backend, watching for 401 Unauthorized: the token was
    revoked or is wrong. Nothing can work after that, and python-telegram-bot's polling
    loop stops for good on it while the process stays up; the adapter is told instead
    (`on_unauthorized`), so that `samen run` ends with a clear message."""

    def __init__(self, on_unauthorized: Callable[[str], None], **options: Any) -> None:
        super().__init__(**options)
        self._on_unauthorized = on_unauthorized

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, *args, **kwargs)
        if code == HTTPStatus.UNAUTHORIZED:
            # The URL holds the token: only the API method (its last part) is named.
            self._on_unauthorized(url.rsplit("/", 1)[-1])
        return code, payload


class _HandOver(asyncio.Queue[object]):
    """The Updater's update queue whose `put` hands the update to the shell and returns
    only when it is stored, so the Updater confirms nothing that is not in the inbox."""

    def __init__(self, adapter: TelegramAdapter) -> None:
        super().__init__()
        self._adapter = adapter

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            return
        try:
            await self._adapter.receive(item.to_dict())
        except MalformedUpdate as error:
            # Asking again would bring the same update back forever: confirm and skip it.
            log.warning("telegram polling: malformed update skipped (%s)", error.reason)
        except Exception as error:
            # A TelegramError keeps the Updater's loop alive: it backs off and fetches the
            # same batch again (the offset did not move on). Its text holds no update data.
            raise NetworkError(f"inbox unavailable ({type(error).__name__})") from None


class TelegramAdapter:
    """Telegram for Samen. `mode` "polling" (default) or "webhook" (serves `webhook_path`
    on `port` and registers `webhook_url` with Telegram)."""

    platform = "telegram"
    limits = Limits(per_chat=(1, 1.0), per_group=(20, 60.0), overall=(30, 1.0))

    def __init__(
        self,
        *,
        token: str,
        mode: str = "polling",
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8443,
        webhook_path: str = "/telegram",
        api_url: str | None = None,
        language: str = "nl",
        poll_timeout: float = 30.0,
        call_timeout: float = 10.0,
        webhook_secret: str | None = None,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError("Telegram mode is 'polling' or 'webhook'")
        if mode == "webhook" and not webhook_url:
            raise ValueError("Telegram webhook mode needs the public webhook URL")
        quiet_http_logs()
        one_line_library_errors()
        self.mode = mode
        self.webhook_url = webhook_url
        # Shared by every process behind one webhook URL; random per start when not given.
        self.webhook_secret = webhook_secret
        self.host = host
        self.port = port
        self.webhook_path = webhook_path
        self.language = language
        self.poll_timeout = poll_timeout
        self.bot = Bot(
            token,
            base_url=api_url or DEFAULT_API_URL,
            request=_WatchedRequest(
                self._unauthorized,
                connection_pool_size=32,
                read_timeout=call_timeout,
                write_timeout=call_timeout,
                connect_timeout=call_timeout,
                pool_timeout=call_timeout,
            ),
            # A long poll holds its connection for `poll_timeout`; PTB adds it to the read
            # timeout of getUpdates itself.
            get_updates_request=_WatchedRequest(self._unauthorized, connect_timeout=call_timeout),
        )
        self.app = (
            Application.builder()
            .bot(self.bot)
            .update_queue(_HandOver(self))
            .job_queue(None)  # Samen's scheduler owns time
            .build()
        )
        # Caches of what `state` keeps (see the module's notes).
        self.state: TelegramState = MemoryState()
        self.tokens: dict[str, str] = {}  # callback token -> callback data (render.py)
        self.prompts: dict[str, ReplyPrompt] = {}  # "chat:message" -> what a reply answers
        self.chats: dict[str, str] = {}  # user -> "open" | "blocked" (their private chat)
        self.names: dict[str, str] = {}  # user id -> first name (to address replies)
        self.username: str | None = None
        self.secret: str | None = None  # webhook secret token, new on every start
        self._handler: InboundHandler | None = None
        self._runner: web.AppRunner | None = None
        self._initialized = False
        self._press_check: PressCheck | None = None
        # Set when Telegram answered 401 Unauthorized: `samen run` stops (see `halted`).
        self.halted = asyncio.Event()
        self.halt_reason = ""

    def _unauthorized(self, method: str) -> None:
        if not self.halted.is_set():
            self.halt_reason = (
                f"Telegram refused the bot token (401 Unauthorized on {method}): it was "
                "revoked or is wrong. Get the current token from @BotFather, set "
                "TELEGRAM_BOT_TOKEN and start Samen again"
            )
            log.error("telegram: 401 Unauthorized on %s: the bot token is not valid", method)
            self.halted.set()

    # ------------------------------------------------------------------ state

    def attach_state(self, state: TelegramState) -> None:
        """Where to keep what must survive a restart (the composition root gives the
        store's); the caches start empty and fill from it on demand."""
        self.state = state
        self.tokens.clear()
        self.prompts.clear()
        self.chats.clear()

    @property
    def private(self) -> set[str]:
        """The people known to have a private chat with the bot (from the cache)."""
        return {user for user, state in self.chats.items() if state == "open"}

    async def chat_state(self, user: str) -> str | None:
        """ "open", "blocked" or None (never tried) for `user`'s private chat."""
        if user not in self.chats:
            state = await self.state.private_chat(user)
            if state is None:
                return None
            self.chats[user] = state
        return self.chats[user]

    async def _set_chat(self, user: str, state: str) -> str | None:
        """Record `user`'s private chat as `state`; returns what it was before."""
        before = await self.chat_state(user)
        if before != state:
            await self.state.set_private_chat(user, state)
            self.chats[user] = state
        return before

    async def _keep_tokens(self, drawn: Mapping[str, str]) -> None:
        new = {k: v for k, v in drawn.items() if self.tokens.get(k) != v}
        if new:
            await self.state.save_tokens(new)  # stored before the button is out there
            self.tokens.update(new)

    def _drawing_table(self) -> tuple[dict[str, str], MutableMapping[str, str]]:
        """A table for render.py: reads our tokens, collects new ones apart."""
        drawn: dict[str, str] = {}
        return drawn, ChainMap(drawn, self.tokens)

    async def _load_for(self, update: Mapping[str, Any]) -> None:
        """Load the tokens and the form an update refers to that the cache lacks (they
        were drawn before a restart)."""
        wanted: set[str] = set()
        query = update.get("callback_query")
        if isinstance(query, Mapping):
            wanted |= _tokens_in(query)
        missing = wanted - self.tokens.keys()
        if missing:
            self.tokens.update(await self.state.tokens(missing))
        message = update.get("message")
        if isinstance(message, Mapping):
            chat, replied = message.get("chat"), message.get("reply_to_message")
            if isinstance(chat, Mapping) and isinstance(replied, Mapping):
                key = prompt_key(chat.get("id", ""), replied.get("message_id", ""))
                if key not in self.prompts:
                    stored = await self.state.prompt(key)
                    if stored is not None:
                        self.prompts[key] = _prompt_from_json(stored)

    def start_link(self, token: str) -> str:
        """The deep link bot/teams/start_links.py posts in a group for someone to press Start."""
        if self.username is None:
            raise RuntimeError("Telegram adapter not started")
        return deep_link(self.username, token)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, handler: InboundHandler) -> None:
        self._handler = handler
        await self.app.initialize()  # getMe: checks the token, learns our username
        self._initialized = True
        self.username = self.bot.username
        await self._set_commands()
        if self.mode == "webhook":
            await self._start_webhook()
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(
                poll_interval=0.0,
                timeout=dtm.timedelta(seconds=self.poll_timeout),
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,  # updates waiting while we were down are work
                error_callback=_polling_error,
            )
        log.info("telegram %s mode started", self.mode)

    async def _set_commands(self) -> None:
        """Commands in the menu: Dutch and English by the person's app language, and the
        team language for everyone else."""
        for language in (None, "nl", "en"):
            words = COMMANDS.get(language or self.language.split("-")[0], COMMANDS["nl"])
            await self.bot.set_my_commands(
                [BotCommand(name, text) for name, text in words], language_code=language
            )

    async def _start_webhook(self) -> None:
        server = web.Application(client_max_size=MAX_UPDATE_BYTES)
        server.router.add_post(self.webhook_path, self._on_webhook)
        # No access log: the path and status only, but we choose what goes into our logs.
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # aiohttp exposes them here
        if sockets:
            self.port = int(sockets[0].getsockname()[1])  # port 0 -> the one bound
        self.secret = self.webhook_secret or secrets.token_urlsafe(32)
        await self.bot.set_webhook(
            url=str(self.webhook_url),
            secret_token=self.secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
        )

    async def stop(self) -> None:
        updater = self.app.updater
        if updater is not None and updater.running:
            try:
                await updater.stop()  # its last getUpdates confirms what we stored
            except TelegramError as error:  # the poller had ended already (a 401)
                log.info("telegram: polling had stopped (%s)", type(error).__name__)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._initialized:
            self._initialized = False
            await self.app.shutdown()

    # ------------------------------------------------------------------ inbound

    async def _on_webhook(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if self.secret is None or not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("telegram webhook: request without the right secret refused")
            return web.Response(status=403)
        if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
            log.warning("telegram webhook: update too large refused (413)")
            return web.Response(status=413)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("telegram webhook: update too large refused (413)")
            return web.Response(status=413)
        if nesting_depth(raw) > MAX_UPDATE_DEPTH:
            log.warning("telegram webhook: update nested too deeply refused (400)")
            return web.Response(status=400)
        try:
            update = json.loads(raw)
        except (ValueError, RecursionError):
            log.warning("telegram webhook: update that is not JSON refused (400)")
            return web.Response(status=400)
        if not isinstance(update, Mapping):
            log.warning("telegram webhook: update that is not an object refused (400)")
            return web.Response(status=400)
        try:
            await self.receive(update)
        except MalformedUpdate as error:
            log.warning("telegram webhook: malformed update refused (400): %s", error.reason)
            return web.Response(status=400)
        except Exception as error:
            # Not stored: a non-2xx makes Telegram deliver the update again.
            log.warning("telegram webhook: update not stored (%s)", type(error).__name__)
            return web.Response(status=500)
        return web.Response(status=200)

    async def receive(self, update: Mapping[str, Any]) -> None:
        """Parse one update and hand its events to the shell; then draw a toggle and stop
        the button's spinner (both cosmetic: failures are logged by type, not raised)."""
        if self._handler is None:
            raise RuntimeError("Telegram adapter not started")
        try:
            await self._load_for(update)
            parsed = parse_update(
                update, bot_username=self.username, tokens=self.tokens, prompts=self.prompts
            )
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
            # A field of a type the Bot API never sends: not an update Samen can use.
            raise MalformedUpdate(type(error).__name__) from None
        if parsed.closed_private is not None:
            # They blocked the bot: their private messages wait, as for someone who never
            # pressed Start (bot/teams/start_links.py posts the group's start link).
            await self._set_chat(parsed.closed_private, "blocked")
            log.info("telegram: a person blocked the bot; their private messages wait")
        started = await self._remember(parsed)
        if parsed.callback_id is not None:
            refusal = await self._refusal(parsed)
            if refusal is not None:
                # Stale, foreign or not ours: a notice on the button, no chat message.
                await self._quietly(
                    self.bot.answer_callback_query(parsed.callback_id, text=refusal)
                )
                return
        inbounds = await self._with_coordinators(parsed.inbounds)
        if started and not inbounds and parsed.private_user:
            # Their first private message after we were refused: they started the bot
            # (without the link). The shell delivers what waited for them.
            user = parsed.private_user
            key = f"{update.get('update_id')}:start"
            inbounds = (Inbound(PLATFORM, key, "joined", f"dm:{user}", user, {"start": ""}),)
        for inbound in inbounds:
            await self._handler(inbound)
        if parsed.toggle is not None:
            await self._quietly(self._draw_toggle(parsed.toggle))
        if parsed.callback_id is not None:
            await self._quietly(self.bot.answer_callback_query(parsed.callback_id))

    async def _with_coordinators(self, inbounds: tuple[Inbound, ...]) -> tuple[Inbound, ...]:
        """The bot was added to a group: its human administrators (getChatAdministrators)
        go with the event, as the team's first coordinators."""
        found = []
        for inbound in inbounds:
            if inbound.kind == "bot_added":
                if not inbound.channel.lstrip("-").isdigit():
                    raise MalformedUpdate("chat id")
                try:
                    admins = await self.bot.get_chat_administrators(int(inbound.channel))
                except TelegramError as error:
                    log.warning("telegram getChatAdministrators failed: %s", type(error).__name__)
                    admins = ()
                people = [[str(a.user.id), a.user.first_name] for a in admins if not a.user.is_bot]
                if people:
                    payload = {**inbound.payload, "coordinators": people}
                    inbound = dataclasses.replace(inbound, payload=payload)
            found.append(inbound)
        return tuple(found)

    def use_press_check(self, check: PressCheck) -> None:
        """Whether a press on an answer button may go to the inbox (the composition root
        reads the run: gone, ended, or from another group gives the notice's text)."""
        self._press_check = check

    async def _refusal(self, parsed: Parsed) -> str | None:
        """The notice for a press that cannot change anything, or None to store it."""
        if not parsed.inbounds and parsed.toggle is None:
            # Not one of ours, a token no store knows, or a message Telegram no longer
            # shows the bot (older than 48 hours): nothing the press can still do.
            return say("bad_answer_target", self.language)
        if self._press_check is None:
            return None
        for inbound in parsed.inbounds:
            run = inbound.payload.get("run") if inbound.kind == "answer" else None
            if run:
                refusal = await self._press_check(str(run), inbound.user, inbound.channel)
                if refusal is not None:
                    return refusal
        return None

    async def _remember(self, parsed: Parsed) -> bool:
        """Note who has a private chat; True when it was refused before (they started)."""
        for inbound in parsed.inbounds:
            if inbound.user_name:
                self.names[inbound.user] = inbound.user_name
        if parsed.private_user is None:
            return False
        return await self._set_chat(parsed.private_user, "open") == "blocked"

    async def _draw_toggle(self, toggle: Toggle) -> None:
        drawn, table = self._drawing_table()
        markup = _toggled(toggle.keyboard, toggle.pressed, table)
        await self._keep_tokens(drawn)
        if markup is not None:
            await self.bot.edit_message_reply_markup(
                chat_id=toggle.chat_id, message_id=toggle.message_id, reply_markup=markup
            )

    @staticmethod
    async def _quietly(call: Any) -> None:
        try:
            await call
        except TelegramError as error:
            log.info("telegram: cosmetic call failed (%s)", type(error).__name__)

    # ------------------------------------------------------------------ outbound

    def needs_start(self, user: str) -> bool:
        """True when a private message to `user` was refused: they never pressed Start."""
        return self.chats.get(user) == "blocked"

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """One Bot API call. Platform answers are reported; transport errors raise."""
        if delivery.op == "delete":
            return await self._delete(delivery)
        private_to = delivery.chat[3:] if delivery.chat.startswith("dm:") else None
        if private_to is not None and await self.chat_state(private_to) == "blocked":
            # Refused before and not started since: no call, the outbox parks it.
            return DeliveryResult(blocked_until_start=True)
        drawn, table = self._drawing_table()
        text, markup = render_message(
            delivery.message, run=delivery.run, language=delivery.language, tokens=table
        )
        await self._keep_tokens(drawn)
        try:
            if delivery.op == "edit":
                return await self._edit(delivery, text, markup)
            if delivery.op == "reply":
                return await self._reply(delivery, text, markup)
            return await self._send(delivery, text, markup)
        except RetryAfter as error:
            return DeliveryResult(retry_after=_seconds(error))
        except Forbidden as error:
            # A private chat the person never opened or blocked (or a group that removed
            # the bot): a private message waits until they press Start.
            if private_to is not None:
                why = "blocked the bot" if "blocked" in str(error) else "never pressed Start"
                log.info("telegram: private message refused (403: the person %s)", why)
                await self._set_chat(private_to, "blocked")
                return DeliveryResult(blocked_until_start=True)
            return DeliveryResult(failed="forbidden")
        except ChatMigrated as error:
            # A group became a supergroup: its id changed. Tell the shell (the team's
            # channel and its waiting messages move) and raise, so that the outbox tries
            # again with back-off, to the new id, a bounded number of times.
            if self._handler is None:
                return DeliveryResult(failed="chat_migrated")
            new = str(error.new_chat_id)
            await self._handler(
                Inbound(
                    PLATFORM,
                    f"migrate:{delivery.chat}:{new}",
                    "migrated",
                    delivery.chat,
                    "",
                    {"to": new},
                )
            )
            raise
        except BadRequest as error:
            if delivery.topic and bad_request_code(error) in TOPIC_GONE:
                # The run's topic was deleted or closed: the message goes to the group.
                log.info(
                    "telegram: forum topic gone (%s), sent to the group", bad_request_code(error)
                )
                return await self.deliver(dataclasses.replace(delivery, topic=None))
            if delivery.op == "edit" and "not modified" in str(error).lower():
                return DeliveryResult.sent(ref=delivery.ref)  # the same form drawn again
            if private_to is not None and "chat not found" in str(error).lower():
                # Someone Telegram never saw talking to us: the same as not started.
                await self._set_chat(private_to, "blocked")
                return DeliveryResult(blocked_until_start=True)
            return DeliveryResult(failed=bad_request_code(error))
        except (TimedOut, NetworkError):
            raise  # transport: the outbox retries with back-off
        except TelegramError as error:
            return DeliveryResult(failed=type(error).__name__)

    async def _send(self, delivery: Delivery, text: str, markup: Markup) -> DeliveryResult:
        chat_id = _chat_id(delivery.chat)
        in_group = not delivery.chat.startswith("dm:")
        reply_to = None
        if in_group and delivery.thread and delivery.thread.isdigit():
            # Telegram has no threads: the run's messages reply to its first message.
            reply_to = ReplyParameters(int(delivery.thread), allow_sending_without_reply=True)
        status = delivery.message.kind in STATUS_BOARD_KINDS and not delivery.message.questions
        if in_group and delivery.op == "send" and delivery.run and status:
            return await self._status_board(delivery, delivery.run, text)
        message = await self.bot.send_message(
            chat_id,
            text,
            message_thread_id=_topic(delivery) if in_group else None,
            reply_markup=markup,
            reply_parameters=reply_to,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        await self._track_prompt(delivery, message.chat_id, message.message_id)
        if not in_group:
            await self._set_chat(delivery.chat[3:], "open")
        opens_thread = in_group and delivery.thread is None and delivery.op == "send"
        return DeliveryResult.sent(
            ref=f"{message.chat_id}:{message.message_id}",
            thread=str(message.message_id) if opens_thread else None,
        )

    async def _status_board(self, delivery: Delivery, run: str, text: str) -> DeliveryResult:
        """The run's pinned status message in the group: edited when there is one; sent
        silently and pinned (once) when there is not yet."""
        ref = await self.state.pinned(delivery.chat, run)
        if ref is not None:
            chat, _, message_id = ref.rpartition(":")
            try:
                await self.bot.edit_message_text(
                    text,
                    chat_id=_chat_id(chat),
                    message_id=int(message_id),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                return DeliveryResult.sent(ref=ref)
            except BadRequest as error:
                if "not modified" in str(error).lower():
                    return DeliveryResult.sent(ref=ref)
                if "not found" not in str(error).lower():
                    raise
                # Deleted by someone: a new status message follows.
        message = await self.bot.send_message(
            _chat_id(delivery.chat),
            text,
            message_thread_id=_topic(delivery),
            disable_notification=True,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        ref = f"{message.chat_id}:{message.message_id}"
        await self.state.set_pinned(delivery.chat, run, ref)
        await self._quietly(
            self.bot.pin_chat_message(
                message.chat_id, message.message_id, disable_notification=True
            )
        )
        return DeliveryResult.sent(ref=ref)

    async def _edit(self, delivery: Delivery, text: str, markup: Markup) -> DeliveryResult:
        chat, _, message_id = (delivery.ref or "").rpartition(":")
        if not chat or not message_id.isdigit():
            return DeliveryResult(failed="no message ref")
        await self.bot.edit_message_text(
            text,
            chat_id=_chat_id(chat),
            message_id=int(message_id),
            # Only inline keyboards can be edited; a reply prompt stays as it was sent.
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        await self._track_prompt(delivery, _chat_id(chat), int(message_id))
        return DeliveryResult.sent(ref=delivery.ref)

    async def _reply(self, delivery: Delivery, text: str, markup: Markup) -> DeliveryResult:
        """Telegram has no ephemeral messages: to the person's private chat when they have
        one, else a short message in the group that mentions them."""
        user = delivery.user
        if delivery.chat.startswith("dm:") or user is None:
            return await self._send(delivery, text, markup)
        if await self.chat_state(user) == "open":
            return await self._send(
                Delivery(delivery.id, "send", f"dm:{user}", delivery.message, run=delivery.run),
                text,
                markup,
            )
        entities = None
        name = self.names.get(user)
        if name and user.isdigit():
            text = f"{name}: {text}"
            entities = [
                MessageEntity(
                    MessageEntity.TEXT_MENTION,
                    0,
                    _utf16_length(name),
                    user=User(int(user), name, is_bot=False),
                )
            ]
        message = await self.bot.send_message(
            _chat_id(delivery.chat),
            text,
            message_thread_id=_topic(delivery),
            entities=entities,
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        return DeliveryResult.sent(ref=f"{message.chat_id}:{message.message_id}")

    async def _delete(self, delivery: Delivery) -> DeliveryResult:
        """deleteMessage of the message `delivery.ref` names ("<chat id>:<message id>");
        a form's reply routing goes with it."""
        chat, _, message_id = (delivery.ref or "").rpartition(":")
        if not chat or not message_id.isdigit():
            return DeliveryResult(failed="no message ref")
        try:
            await self.bot.delete_message(_chat_id(chat), int(message_id))
        except RetryAfter as error:
            return DeliveryResult(retry_after=_seconds(error))
        except BadRequest as error:
            reason = str(error).lower()
            if "can't be deleted" in reason or "cant be deleted" in reason:
                return DeliveryResult(failed="message_cant_be_deleted")
            if "message to delete not found" not in reason and "message not found" not in reason:
                return DeliveryResult(failed=bad_request_code(error))
            # Gone already (deleted by the person, or the chat cleared): done.
        except Forbidden:
            return DeliveryResult(failed="forbidden")  # blocked by the person, or removed
        except ChatMigrated:
            return DeliveryResult(failed="chat_migrated")
        except (TimedOut, NetworkError):
            raise  # transport: the outbox retries with back-off
        except TelegramError as error:
            return DeliveryResult(failed=type(error).__name__)
        key = prompt_key(chat, message_id)
        await self.state.save_prompt(key, None)  # nothing can reply to it any more
        self.prompts.pop(key, None)
        return DeliveryResult.sent(ref=delivery.ref)

    async def _track_prompt(self, delivery: Delivery, chat_id: int | str, message_id: int) -> None:
        """Remember what a reply to this form answers; forget it once the form closed."""
        if not delivery.message.questions:
            return
        key = prompt_key(chat_id, message_id)
        prompt = free_questions(delivery.message, delivery.run)
        if prompt is None:
            await self.state.save_prompt(key, None)
            self.prompts.pop(key, None)
        else:
            await self.state.save_prompt(key, _prompt_to_json(prompt))
            self.prompts[key] = prompt


# Telegram's 400 descriptions (they name what is wrong, never the message) as short codes
# for the outbox's log and the row's error; anything else is "bad_request".
BAD_REQUESTS: Final = (
    ("chat not found", "chat_not_found"),
    ("message thread not found", "thread_not_found"),
    ("topic_closed", "topic_closed"),
    ("message to edit not found", "message_not_found"),
    ("message not found", "message_not_found"),
    ("message is too long", "message_too_long"),
    ("not enough rights", "not_enough_rights"),
    ("have no rights", "not_enough_rights"),
    ("can't parse entities", "cant_parse_entities"),
    ("message is not modified", "message_not_modified"),
    ("user not found", "user_not_found"),
)


# A forum topic that is no longer there to post in.
TOPIC_GONE: Final = frozenset({"thread_not_found", "topic_closed"})


def bad_request_code(error: TelegramError) -> str:
    """A short code for Telegram's 400 answer (see `BAD_REQUESTS`)."""
    description = str(error).lower()
    return next((code for text, code in BAD_REQUESTS if text in description), "bad_request")


def _topic(delivery: Delivery) -> int | None:
    """The forum topic a group message goes into (None: the group itself, or General)."""
    topic = delivery.topic
    return int(topic) if topic is not None and topic.isdigit() else None


def _tokens_in(query: Mapping[str, Any]) -> set[str]:
    """The short tokens a button press carries: its own data and its keyboard's."""
    found = set()
    data = query.get("data")
    if isinstance(data, str):
        found.add(data)
    message = query.get("message")
    markup = message.get("reply_markup") if isinstance(message, Mapping) else None
    rows = markup.get("inline_keyboard") if isinstance(markup, Mapping) else None
    for row in rows if isinstance(rows, list) else ():
        for button in row if isinstance(row, list) else ():
            if isinstance(button, Mapping) and isinstance(button.get("callback_data"), str):
                found.add(button["callback_data"])
    return {t for t in found if t.startswith("k" + SEP)}


def _prompt_to_json(prompt: ReplyPrompt) -> tuple[str, list[Any]]:
    # Whether the form numbers its questions rides along on each question's row, so that
    # the stored shape (run id, question rows) stays as it was.
    return prompt.run, [
        [q.number, q.step, q.question, q.type, prompt.numbered] for q in prompt.questions
    ]


def _prompt_from_json(stored: tuple[str, list[Any]]) -> ReplyPrompt:
    """A stored reply routing; a row kept before `numbered` was has four items."""
    run, questions = stored
    numbered = any(len(row) > 4 and row[4] for row in questions) or len(questions) > 1
    return ReplyPrompt(
        run,
        tuple(FreeQuestion(int(n), str(s), str(q), str(t)) for n, s, q, t, *_ in questions),
        numbered,
    )


def _polling_error(error: TelegramError) -> None:
    # The default callback logs the whole exception; its type is what an operator needs.
    log.warning("telegram polling: %s, retrying", type(error).__name__)
