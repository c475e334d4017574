"""The Slack adapter: slack-bolt's AsyncApp in, slack-sdk's AsyncWebClient out.

Inbound (HTTP mode), the front door (`_http_events`) checks Slack's signature over the raw
bytes (401 without a good one) and the body's shape (400) before Bolt or anything else
parses it; what Samen has no listener for is acknowledged with a quiet 200 (`_on_error`).
Bolt calls our listeners, which parse the payload (`parse.py`), hand the events to the
shell and only then `ack()` (R-ING-3): the app runs with `process_before_response=True`,
so Bolt sends the HTTP response (or the Socket Mode envelope ack) only after the listener
returned, also for Events API callbacks that Bolt would otherwise ack before running the
listener. Storing has a budget below Slack's 3 s; past it the listener fails, Slack
retries and the inbox absorbs the copy. A slash command's `response_url` is kept (in
memory, per channel and person) for answers Samen cannot post where it was typed.

Outbound, `deliver` makes exactly one Web API call and reports 429s and errors in its
result; the client has no retry handlers, because the outbox owns back-off (R-OUT-2/3).
A delete (`samen forget`) is `chat.delete`, a Tier 3 method (about 50 a minute per
workspace; `Limits.deletes`): `message_not_found` means it is gone already (done);
`cant_delete_message` and other refusals fail it, never retried.

Two reads happen after the ack, outside the inbox: `app_home_opened` publishes the
person's overview (`use_overview`, home.py), and each person's profile is read with
users.info at most once a day so their zone can be stored (`use_timezones`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import ClientSession, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import Inbound, InboundHandler
from adapters.slack import parse
from adapters.slack.home import render_home
from adapters.slack.render import MODAL_CALLBACK, render_message, render_modal
from bot.runtime.delivery import Delivery, DeliveryResult, Limits
from bot.teams.overview import Overview

log = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://slack.com/api/"
# chat.delete is a Tier 3 method: 50+ calls a minute per workspace; keep to 50.
DELETE_LIMIT: Final = (50, 60.0)
# chat.delete's answer for a message that is not there (any more): nothing left to do.
GONE_ERRORS: Final = frozenset({"message_not_found"})
ACK_BUDGET: Final = 2.5  # seconds to store an event; Slack retries after 3
SIGNATURE_MAX_AGE: Final = 5 * 60  # seconds: Slack's documented replay window
LIVENESS_TIMEOUT: Final = 90.0  # R-OPS-1
# The Events API events Samen subscribes to (adapters/slack/manifest.yaml lists the same).
EVENTS: Final = ("app_mention", "member_joined_channel", "member_left_channel")
HOME_EVENT: Final = "app_home_opened"

# One person's overview for the App Home tab (bound by the composition root).
OverviewFor = Callable[[str], Awaitable[Overview]]
# Stores a person's zone on their member rows; False when they are in no team yet.
RememberZone = Callable[[str, str], Awaitable[bool]]
PROFILE_MAX_AGE: Final = 24 * 3600.0  # users.info at most once per person per day
# A slash command's response_url takes up to 5 answers within 30 minutes (Slack's docs).
RESPONSE_URL_AGE: Final = 30 * 60.0
RESPONSE_URL_USES: Final = 5
RESPONSE_URLS_KEPT: Final = 1000
# chat.postEphemeral's answers where Samen cannot post: not a member of a private
# channel, someone else's direct message, an archived channel. The command's response_url
# still reaches the person.
CANNOT_POST_HERE: Final = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "user_not_in_channel"}
)


class StoreFailed(Exception):
    """The shell did not store an event within the ack budget (or failed): no ack."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _ResponseUrl:
    """Where Slack takes the answers to one person's last slash command in one channel."""

    url: str
    given: float
    uses: int = 0


@dataclass
class _Profile:
    """What users.info said about a person, and whether the store has their zone."""

    fetched: float
    timezone: str | None = None
    stored: bool = False


def web_client(token: str, api_url: str | None = None) -> AsyncWebClient:
    """A Web API client at `api_url` (Slack's by default) that never retries by itself
    and never logs request bodies (those hold message text)."""
    quiet = logging.getLogger("adapters.slack.webapi")
    quiet.setLevel(logging.INFO)  # slack-sdk logs request bodies at DEBUG
    return AsyncWebClient(
        token=token,
        base_url=api_url or DEFAULT_API_URL,
        retry_handlers=[],  # no 429 or connection retries here: the outbox owns them
        logger=quiet,
        timeout=10,
    )


@dataclass
class Liveness:
    """Socket Mode watchdog (R-OPS-1): reconnects when no frame arrived for `timeout` s.

    A frame is any text frame (events, hello, disconnect notices) or the SDK's own
    ping-pong; `check()` is one tick, so tests drive it with a fake clock."""

    reconnect: Callable[[], Awaitable[None]]
    pong_time: Callable[[], float | None]
    timeout: float = LIVENESS_TIMEOUT
    clock: Callable[[], float] = time.time
    last_frame: float = 0.0
    reconnects: int = 0

    def __post_init__(self) -> None:
        self.last_frame = self.clock()

    def frame(self) -> None:
        self.last_frame = self.clock()

    async def check(self) -> bool:
        """Reconnect if deaf; True when it did."""
        now = self.clock()
        last = max(self.last_frame, self.pong_time() or 0.0)
        if now - last < self.timeout:
            return False
        log.warning("slack socket mode: no frame for %.0fs, reconnecting", now - last)
        self.last_frame = now  # one reconnect per silence, not one per tick
        self.reconnects += 1
        await self.reconnect()
        return True


class SlackAdapter:
    """Slack for Samen. `mode` "socket" (default, app token) or "http" (signing secret,
    serves `/slack/events` and `/healthz` on `port`)."""

    platform = "slack"

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str | None = None,
        app_token: str | None = None,
        mode: str = "socket",
        host: str = "127.0.0.1",
        port: int = 3000,
        api_url: str | None = None,
        workspace_cap: int = 8,
        language: str = "nl",
        ack_budget: float = ACK_BUDGET,
    ) -> None:
        if mode not in ("socket", "http"):
            raise ValueError("Slack mode is 'socket' or 'http'")
        if mode == "http" and not signing_secret:
            raise ValueError("Slack HTTP mode needs SLACK_SIGNING_SECRET")
        if mode == "socket" and not app_token:
            raise ValueError("Slack Socket Mode needs SLACK_APP_TOKEN")
        self.limits = Limits(per_chat=(1, 1.0), overall=(workspace_cap, 1.0), deletes=DELETE_LIMIT)
        self.mode = mode
        self.host = host
        self.port = port
        self.language = language
        self.ack_budget = ack_budget
        self._app_token = app_token
        self.client = web_client(bot_token, api_url)
        parts = urlsplit(api_url or DEFAULT_API_URL)
        self._api_origin = f"{parts.scheme}://{parts.netloc}/"
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret or "",
            # HTTP mode checks signatures at its own front door (`_http_events`), over the
            # raw bytes and before any parsing; Socket Mode has none.
            request_verification_enabled=False,
            process_before_response=True,  # ack only after the listener stored (R-ING-3)
            logger=logging.getLogger("adapters.slack.bolt"),
            # What Samen has no listener for reaches `_on_error` (a quiet 200), not Bolt's
            # 404 with a warning: Slack retries a non-2xx event and shows the person an
            # error for an interaction.
            raise_error_for_unhandled_request=True,
        )
        self._signing_secret = (signing_secret or "").encode()
        self.app.error(self._on_error)
        self._handler: InboundHandler | None = None
        self._dm: dict[str, str] = {}  # user id -> IM channel id (conversations.open)
        self._clicks = parse.Clicks()  # folds a double click into one event
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.liveness: Liveness | None = None
        self._overview: OverviewFor | None = None
        self._remember_zone: RememberZone | None = None
        self._profiles: dict[str, _Profile] = {}
        # (channel, user) -> the response_url of their last slash command there
        self._response_urls: dict[tuple[str, str], _ResponseUrl] = {}
        self.wall_clock: Callable[[], float] = time.time  # for the profile cache's age
        self.signature_clock: Callable[[], float] = time.time  # a signature's age
        self._register()

    def use_timezones(self, remember: RememberZone) -> None:
        """Learn each person's zone from users.info (the composition root stores it)."""
        self._remember_zone = remember

    def use_overview(self, overview: OverviewFor) -> None:
        """Where the App Home tab gets a person's overview from (the composition root)."""
        self._overview = overview

    # ------------------------------------------------------------------ inbound

    def _register(self) -> None:
        app = self.app
        app.command(re.compile(r"^/"))(self._on_command)
        app.action(re.compile(r"^[asnbcf]\|"))(self._on_action)
        app.action(re.compile(r"^m\|"))(self._on_modal_button)
        app.view(MODAL_CALLBACK)(self._on_view)
        for event in EVENTS:
            app.event(event)(self._on_event)
        app.event(HOME_EVENT)(self._on_home)

    async def _on_error(self, error: Exception) -> BoltResponse:
        """Bolt's global error handler: the answer Slack gets when no listener took a
        request or one raised. One log line with the error's type, never a traceback or
        the body."""
        if isinstance(error, BoltUnhandledRequestError):
            return BoltResponse(status=200, body="")  # not Samen's: acknowledged quietly
        if isinstance(error, StoreFailed):
            # Not in the inbox: a non-2xx makes Slack send it again (the inbox absorbs it).
            log.warning("slack: event not stored (%s), Slack will retry", error.reason)
            return BoltResponse(status=500, body="")
        log.warning("slack: request refused (400): %s", type(error).__name__)
        return BoltResponse(status=400, body="")

    @property
    def pending_tasks(self) -> int:
        """Work started after an ack (users.info, views.open, views.publish) not yet done."""
        return sum(1 for task in self._tasks if not task.done())

    async def _store(self, inbounds: list[Inbound]) -> None:
        """Hand events to the shell within the ack budget. Past it the store goes on
        (shielded) but we raise: no ack, Slack retries, the inbox absorbs the copy."""
        if self._handler is None:
            raise RuntimeError("Slack adapter not started")
        for inbound in inbounds:
            try:
                await asyncio.wait_for(asyncio.shield(self._handler(inbound)), self.ack_budget)
            except Exception as error:
                raise StoreFailed(type(error).__name__) from None
        for user in {i.user for i in inbounds if i.user}:
            if self._wants_profile(user):
                self._spawn(self._learn_timezone(user))  # after the ack, never before

    def _wants_profile(self, user: str) -> bool:
        if self._remember_zone is None:
            return False
        profile = self._profiles.get(user)
        if profile is None or self.wall_clock() - profile.fetched >= PROFILE_MAX_AGE:
            return True
        return profile.timezone is not None and not profile.stored

    async def _learn_timezone(self, user: str) -> None:
        """users.info once a day per person; their zone goes to the store until it holds."""
        assert self._remember_zone is not None
        now = self.wall_clock()
        profile = self._profiles.get(user)
        try:
            if profile is None or now - profile.fetched >= PROFILE_MAX_AGE:
                profile = self._profiles[user] = _Profile(now)  # one call, even if racing
                response = await self.client.users_info(user=user)
                person = response.get("user") or {}
                zone = person.get("tz") if not person.get("is_bot") else None
                profile.timezone = str(zone) if zone else None
            if profile.timezone and not profile.stored:
                # False while the inbox has not yet added them to a team: next event.
                profile.stored = await self._remember_zone(user, profile.timezone)
        except SlackApiError as error:
            log.warning("slack users.info failed: %s", _error_code(error))
        except Exception as error:  # learning a zone must never break the adapter
            log.warning("slack time zone not stored: %s", type(error).__name__)

    async def _on_command(self, ack: Any, body: Mapping[str, Any]) -> None:
        inbound = parse.parse_command(body)
        if inbound is not None:
            self._remember_response_url(inbound.channel, inbound.user, body.get("response_url"))
        await self._store([inbound] if inbound is not None else [])
        await ack()  # empty: the answer comes as a message or an ephemeral reply

    def _remember_response_url(self, channel: str, user: str, url: object) -> None:
        # Slack's are https://hooks.slack.com/...; a Web API base of our own (a proxy, the
        # tests' fake) may answer them too. The request was signed: Slack sent this URL.
        if not isinstance(url, str) or not url.startswith(("https://", self._api_origin)):
            return
        if len(self._response_urls) >= RESPONSE_URLS_KEPT:
            self._response_urls.pop(next(iter(self._response_urls)))  # the oldest
        self._response_urls.pop((channel, user), None)  # re-inserted as the newest
        self._response_urls[(channel, user)] = _ResponseUrl(url, time.monotonic())

    def _response_url(self, channel: str, user: str) -> _ResponseUrl | None:
        found = self._response_urls.get((channel, user))
        if found is None or found.uses >= RESPONSE_URL_USES:
            return None
        if time.monotonic() - found.given > RESPONSE_URL_AGE:
            return None
        return found

    async def _reply_by_response_url(
        self, delivery: Delivery, blocks: list[Any], text: str, refused: SlackApiError
    ) -> DeliveryResult:
        """chat.postEphemeral refused the channel: answer through the command's
        response_url when there is a fresh one, else fail with Slack's code."""
        found = self._response_url(delivery.chat, delivery.user or "")
        if found is None:
            return _result_of(refused)
        found.uses += 1
        hook = AsyncWebhookClient(
            found.url,
            timeout=10,
            session=self.client.session,
            logger=logging.getLogger("adapters.slack.webapi"),
            retry_handlers=[],  # the outbox owns retries
        )
        response = await hook.send(
            text=text, blocks=blocks, response_type="ephemeral", replace_original=False
        )
        if response.status_code == 200:
            return DeliveryResult.sent()
        if response.status_code >= 500:
            raise ConnectionError(f"response_url answered {response.status_code}")
        return DeliveryResult(failed=f"response_url_{response.status_code}")

    async def _on_action(self, ack: Any, body: Mapping[str, Any]) -> None:
        await self._store(parse.parse_block_actions(body, self._clicks))
        await ack()

    async def _on_modal_button(self, ack: Any, body: Mapping[str, Any]) -> None:
        request = parse.parse_modal_request(body)
        await ack()
        if request is not None:
            # views.open must happen within 3 s of the click; the ack need not wait for it.
            self._spawn(self._open_modal(request))

    async def _open_modal(self, request: parse.ModalRequest) -> None:
        language = request.language or self.language
        view = render_modal(request.run, request.step, request.channel, request.spec, language)
        try:
            await self.client.views_open(trigger_id=request.trigger_id, view=view)
        except SlackApiError as error:
            log.warning("slack views.open failed: %s", _error_code(error))

    async def _on_view(self, ack: Any, body: Mapping[str, Any]) -> None:
        errors = parse.submission_errors(body, self.language)
        if errors:
            await ack(response_action="errors", errors=errors)  # R-ING-7: nothing stored
            return
        await self._store(parse.parse_view_submission(body))
        await ack()

    async def _on_event(self, body: Mapping[str, Any], context: Any) -> None:
        # Events API listeners are acked by Bolt after this returns (auto-ack).
        inbound = parse.parse_event(body, getattr(context, "bot_user_id", None))
        if inbound is not None and inbound.kind == "bot_added" and not inbound.user:
            inbound = await self._by_creator(inbound)
        await self._store([inbound] if inbound is not None else [])

    async def _by_creator(self, inbound: Inbound) -> Inbound:
        """Samen joined a channel and Slack named no inviter: the channel's creator
        (conversations.info) counts as the one who added it (the first coordinator)."""
        try:
            response = await self.client.conversations_info(channel=inbound.channel)
        except SlackApiError as error:
            log.warning("slack conversations.info failed: %s", _error_code(error))
            return inbound
        creator = str((response.get("channel") or {}).get("creator") or "")
        return dataclasses.replace(inbound, user=creator) if creator else inbound

    async def _on_home(self, body: Mapping[str, Any]) -> None:
        """The Home tab was opened: ack at once, then publish the person's overview. A read,
        not an event for the inbox; a repeated delivery publishes the same view again."""
        event = body.get("event") or {}
        user = str(event.get("user") or "")
        if event.get("tab") == "home" and user and self._overview is not None:
            self._spawn(self._publish_home(user))

    async def _publish_home(self, user: str) -> None:
        assert self._overview is not None
        try:
            view = render_home(await self._overview(user))
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as error:
            log.warning("slack views.publish failed: %s", _error_code(error))
        except Exception as error:  # a home tab must never take the adapter down
            log.warning("slack home tab failed: %s", type(error).__name__)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self, handler: InboundHandler) -> None:
        self._handler = handler
        if self.client.session is None:
            # One connection pool for every call instead of a session per request.
            self.client.session = ClientSession()
        if self.mode == "http":
            await self._start_http()
        else:
            await self._start_socket()

    async def _start_http(self) -> None:
        server = web.Application()
        server.router.add_post("/slack/events", self._http_events)
        server.router.add_get("/healthz", self._http_health)
        # No access log: paths only, but keep the logs to what we decide to write.
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])  # port 0 -> the one the OS chose
        log.info("slack http mode listening on port %s", self.port)

    async def _http_events(self, request: web.Request) -> web.StreamResponse:
        """The front door of HTTP mode: the signature over the raw bytes first, then the
        body's shape, and only then Bolt. Refusals are one log line each, never a
        traceback and never the body (R-SEC-1)."""
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("slack http: request body too large refused (413)")
            return web.Response(status=413)
        headers = request.headers
        if not self._signed(
            raw,
            headers.get("X-Slack-Request-Timestamp", ""),
            headers.get("X-Slack-Signature", ""),
        ):
            log.warning("slack http: unsigned or wrongly signed request refused (401)")
            return web.Response(status=401)
        problem = parse.request_problem(raw, request.content_type)
        if problem is not None:
            log.warning("slack http: malformed request refused (400): %s", problem)
            return web.Response(status=400)
        try:
            bolt_request = AsyncBoltRequest(
                body=parse.for_bolt(raw.decode("utf-8")),
                query=request.query_string,
                headers=dict(headers),
            )
        except Exception as error:  # a shape Bolt cannot read: the sender's mistake
            log.warning("slack http: malformed request refused (400): %s", type(error).__name__)
            return web.Response(status=400)
        try:
            bolt_response = await self.app.async_dispatch(bolt_request)
        except Exception as error:
            # Bolt's error handler itself read a field the body lacks (its kwargs look at
            # `view.type`, `actions[0]`, ...): a shape Slack does not send.
            log.warning("slack http: malformed request refused (400): %s", type(error).__name__)
            return web.Response(status=400)
        return await to_aiohttp_response(bolt_response)

    def _signed(self, raw: bytes, timestamp: str, signature: str) -> bool:
        """Slack's v0 signature, HMAC-SHA256 over `v0:<timestamp>:<raw body>` with the
        signing secret, checked over the bytes as they came (no decoding first), with a
        timestamp within five minutes of now (replays)."""
        if not timestamp.isdigit() or not signature.startswith("v0="):
            return False
        if abs(self.signature_clock() - int(timestamp)) > SIGNATURE_MAX_AGE:
            return False
        base = b"v0:" + timestamp.encode() + b":" + raw
        expected = hmac.new(self._signing_secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"v0={expected}".encode(), signature.encode())

    async def _http_health(self, _: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "platform": self.platform, "mode": self.mode})

    async def _start_socket(self) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(self.app, self._app_token)
        client = handler.client
        self.liveness = Liveness(
            reconnect=lambda: client.connect_to_new_endpoint(force=True),
            pong_time=lambda: client.last_ping_pong_time,
        )
        liveness = self.liveness

        async def on_frame(_: object) -> None:
            liveness.frame()

        client.on_message_listeners.append(on_frame)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        self._socket = handler
        self._watchdog_task = asyncio.create_task(self._watch(liveness), name="slack-liveness")
        log.info("slack: socket mode connected")

    async def _watch(self, liveness: Liveness, every: float = 10.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await liveness.check()
            except Exception as error:  # a failed reconnect is retried on the next tick
                log.warning("slack socket mode: reconnect failed: %s", type(error).__name__)

    async def stop(self) -> None:
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog_task
            self._watchdog_task = None
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.client.session is not None:
            if not self.client.session.closed:
                await self.client.session.close()
            self.client.session = None  # deliver() still works: a session per call

    # ------------------------------------------------------------------ outbound

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """One Web API call. Transport errors (timeouts, resets) raise: the outbox retries
        them; platform answers are reported in the result."""
        if delivery.op == "delete":
            return await self._delete(delivery)
        try:
            blocks, text = render_message(
                delivery.message, run=delivery.run, language=delivery.language
            )
        except ValueError:  # no retry draws it: fail it, and the chat's queue moves on
            return DeliveryResult(failed="unrenderable")
        try:
            if delivery.op == "edit":
                return await self._edit(delivery, blocks, text)
            if delivery.op == "reply" and delivery.user and not delivery.chat.startswith("dm:"):
                try:
                    await self.client.chat_postEphemeral(
                        channel=delivery.chat, user=delivery.user, text=text, blocks=blocks
                    )
                except SlackApiError as error:
                    if _error_code(error) not in CANNOT_POST_HERE:
                        raise
                    return await self._reply_by_response_url(delivery, blocks, text, error)
                return DeliveryResult.sent()
            return await self._send(delivery, blocks, text)
        except SlackApiError as error:
            if _transient(error):
                raise  # Slack's own trouble, not the message's: the outbox retries (R-OUT-3)
            return _result_of(error)

    async def _send(self, delivery: Delivery, blocks: list[Any], text: str) -> DeliveryResult:
        direct = delivery.chat.startswith("dm:")
        channel = await self._im(delivery.chat[3:]) if direct else delivery.chat
        response = await self.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=delivery.thread,
            unfurl_links=False,
            unfurl_media=False,
        )
        ts = str(response["ts"])
        posted_in = str(response.get("channel") or channel)
        # A top-level channel message of a run opens its thread; the outbox keeps the first.
        opens_thread = delivery.thread is None and not direct and delivery.op == "send"
        return DeliveryResult.sent(ref=f"{posted_in}:{ts}", thread=ts if opens_thread else None)

    async def _edit(self, delivery: Delivery, blocks: list[Any], text: str) -> DeliveryResult:
        channel, _, ts = (delivery.ref or "").partition(":")
        if not channel or not ts:
            return DeliveryResult(failed="no message ref")
        await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        return DeliveryResult.sent(ref=delivery.ref)

    async def _delete(self, delivery: Delivery) -> DeliveryResult:
        """chat.delete of the message `delivery.ref` names ("<channel>:<ts>")."""
        channel, _, ts = (delivery.ref or "").partition(":")
        if not channel or not ts:
            return DeliveryResult(failed="no message ref")
        try:
            await self.client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as error:
            if _transient(error):
                raise
            if _error_code(error) in GONE_ERRORS:
                return DeliveryResult.sent(ref=delivery.ref)  # gone already: done
            return _result_of(error)  # 429 -> retry_after; a refusal fails with its code
        return DeliveryResult.sent(ref=delivery.ref)

    async def _im(self, user: str) -> str:
        """The IM channel with `user`, opened once and cached (a user id is no channel)."""
        channel = self._dm.get(user)
        if channel is None:
            response = await self.client.conversations_open(users=user)
            channel = str(response["channel"]["id"])
            self._dm[user] = channel
        return channel


def _error_code(error: SlackApiError) -> str:
    data = error.response.data if error.response is not None else None
    if isinstance(data, Mapping) and data.get("error"):
        return str(data["error"])
    status = error.response.status_code if error.response is not None else 0
    return f"http_{status}"


# Slack's answers for trouble on its side that a later call may not meet.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def _transient(error: SlackApiError) -> bool:
    """An HTTP 5xx, or one of Slack's transient error codes."""
    response = error.response
    if response is not None and response.status_code >= 500:
        return True
    return _error_code(error) in TRANSIENT_ERRORS


def _result_of(error: SlackApiError) -> DeliveryResult:
    """429 -> retry_after (Retry-After seconds); anything else -> failed with Slack's error
    code only (never the message text, which the exception's string may contain)."""
    response = error.response
    if response is not None and response.status_code == 429:
        headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
        raw = headers.get("retry-after", "1")
        if isinstance(raw, list):
            raw = raw[0] if raw else "1"
        try:
            wait = float(raw)
        except (TypeError, ValueError):
            wait = 1.0
        return DeliveryResult(retry_after=max(wait, 0.0))
    return DeliveryResult(failed=_error_code(error))
