"""The Matrix adapter: matrix-nio's `AsyncClient`, `/sync` in, room events out.

Inbound, the adapter runs its own sync loop (not nio's `sync_forever`, whose token would
move on before the shell has the events). Each `/sync` response is handed over event by
event: invitations first (accepted from allowed homeservers, declined otherwise), then
every joined room's timeline, parsed (`parse.py`) and given to the shell, which stores
it in the inbox; only when the whole response is in is its `next_batch` token written to
the store (R-ING-3). A crash in between syncs again from the old token: the events come
again with the same event ids, and the inbox absorbs the copies (R-ING-4). The first sync
of a process asks for the rooms' full state (members, power levels, encryption), which a
fresh client does not have.

Rooms: a room the bot is invited to by someone of an allowed homeserver
(`SAMEN_MATRIX_ALLOWED_SERVERS`, default the bot's own) becomes a team ("bot_added",
by the person who invited it); an invitation marked `is_direct` is that person's private
chat (`dm:<user id>`), recorded in the bot's `m.direct` account data as Matrix clients
do. The room's power levels give its coordinators: everyone at moderator level (50) or
above, and its creators (who since room version 12 hold the highest power without being
listed), sent as a "coordinators" event when the bot joins and whenever they change
(the lead maps it onto the roles of the identity model; Telegram's administrators).

Outbound, `deliver` makes one client-server call (a send, an `m.replace` edit, a redaction)
and reports `M_LIMIT_EXCEEDED` as `retry_after` (nio is told not to retry 429s itself:
the outbox owns waiting, R-OUT); transport errors raise and the outbox retries them, with
the outbox row's id in the transaction id so that Synapse does not post a retry twice. A
run's messages in a team room go into a thread (`m.thread`) under its first message; its
status (time left, paused, extended) is one message edited in place and pinned
(`m.room.pinned_events`) when the bot's power level allows. A private message to someone
without a direct room opens one (the bot invites them).

End-to-end encryption (vodozemac through matrix-nio's `e2e` extra): encrypted rooms are
joined like any other; nio decrypts what arrives and encrypts what is sent, sharing room
keys with the devices of the room's members only. Its crypto store (the device's identity
and session keys) lives in the data folder, its secrets pickled under a passphrase the
composition root seals with the data key. A message that cannot be decrypted is logged
once, by event id, and its sender is asked to send it again. Without the encryption
library, the adapter says so at start and answers in an encrypted room that it cannot
read it, never silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Protocol

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    InviteMemberEvent,
    JoinError,
    LocalProtocolError,
    LoginResponse,
    MegolmEvent,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED
from nio.rooms import MatrixRoom

from adapters.base import Inbound, InboundHandler
from adapters.matrix.parse import PLATFORM, Room, allowed, parse_event, reply_target
from adapters.matrix.render import FormPrompt, content, form_prompt, render_text
from adapters.matrix.state import MatrixState, MemoryState
from bot.core.effects import MessageKind
from bot.runtime.delivery import Delivery, DeliveryResult, Limits

log = logging.getLogger(__name__)

COORDINATOR_LEVEL: Final = 50  # Matrix moderators (50) and admins (100)
STATUS_BOARD_KINDS: Final = frozenset({MessageKind.warning, MessageKind.status})
HANDLED_KEPT: Final = 10_000  # event ids remembered in memory (the inbox keeps them all)
ROOM_WAIT: Final = 30.0  # seconds a new direct room may take to reach our sync
# Up to 100 events of a room per sync; a busier room's gap is read with /messages.
SYNC_FILTER: Final = {"room": {"timeline": {"limit": 100}}}

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "undecryptable": {
        "nl": "Ik kon je laatste bericht niet ontsleutelen. Wil je het nog een keer sturen?",
        "en": "I could not decrypt your last message. Could you send it again?",
    },
    "no_encryption": {
        "nl": "Deze kamer is versleuteld, maar deze Samen kan geen versleutelde berichten "
        "lezen (de versleutelingsbibliotheek ontbreekt). Vraag de beheerder om "
        "matrix-nio[e2e] te installeren, of gebruik een onversleutelde kamer.",
        "en": "This room is encrypted, but this Samen cannot read encrypted messages (the "
        "encryption library is missing). Ask the operator to install matrix-nio[e2e], "
        "or use a room without encryption.",
    },
}


class MatrixLoginError(RuntimeError):
    """The bot could not log in: which setting to check, never a secret."""


class SessionKeeper(Protocol):
    """Where the access token and device id of a login are kept (sealed by the caller)."""

    def load(self) -> dict[str, str] | None: ...

    def save(self, session: dict[str, str]) -> None: ...


def say(key: str, language: str) -> str:
    table = _TEXTS[key]
    return table.get(language.split("-")[0], table["nl"])


class MatrixAdapter:
    """Matrix for Samen, on one bot account of one homeserver."""

    platform = PLATFORM
    # Synapse's default for a user is 0.2 messages a second with a burst of 10; the outbox
    # keeps under a little more and waits when Synapse says M_LIMIT_EXCEEDED anyway.
    limits = Limits(per_chat=(5, 1.0), per_group=None, overall=(10, 1.0))

    def __init__(
        self,
        *,
        homeserver: str,
        user_id: str,
        access_token: str | None = None,
        password: str | None = None,
        device_id: str | None = None,
        session: SessionKeeper | None = None,
        store_path: Path | None = None,
        pickle_key: str | Callable[[], str] | None = None,
        allowed_servers: Collection[str] | None = None,
        language: str = "nl",
        poll_timeout: float = 30.0,
        encryption: bool = True,
    ) -> None:
        self.user_id = user_id
        self.language = language
        self.poll_timeout = poll_timeout
        self.allowed_servers = frozenset(allowed_servers or {user_id.partition(":")[2]})
        self.encryption = encryption and ENCRYPTION_ENABLED and store_path is not None
        if not self.encryption:
            log.warning(
                "matrix: end-to-end encryption is not available (%s); encrypted rooms are "
                "refused with a message in the room",
                "install matrix-nio[e2e]" if not ENCRYPTION_ENABLED else "switched off",
            )
        if store_path is not None:
            store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = AsyncClientConfig(
            max_limit_exceeded=0,  # the outbox waits, not nio
            max_timeouts=0,  # the outbox retries, not nio
            encryption_enabled=self.encryption,
            store_sync_tokens=False,  # our token lives in Samen's store
            pickle_key=pickle_key if isinstance(pickle_key, str) else "samen",
        )
        self._pickle_key = pickle_key
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store_path) if store_path is not None else "",
            config=config,
        )
        self._access_token = access_token
        self._password = password
        self._device_id = device_id
        self.session = session
        self.state: MatrixState = MemoryState()
        self.direct: dict[str, str] = {}  # room id -> the person of that direct room
        self.names: dict[str, str] = {}  # user id -> display name
        self.coordinators: dict[str, frozenset[str]] = {}  # team room -> its coordinators
        # The latest event ids this process has looked at (tests wait for theirs).
        self.handled: dict[str, None] = {}
        self.rate_limited = 0  # M_LIMIT_EXCEEDED answers seen (for operators and tests)
        self.undecryptable = 0  # messages we could not decrypt
        self._warned: set[str] = set()  # undecryptable event ids logged already
        self._refused: set[str] = set()  # encrypted rooms told we cannot read them
        self._made: set[str] = set()  # rooms the bot created: direct rooms it opened
        self._creators: dict[str, set[str]] = {}  # room -> who created it
        self._handler: InboundHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._synced = asyncio.Event()
        self._crypto = asyncio.Lock()
        self._new_rooms: dict[str, asyncio.Event] = {}  # direct rooms we wait to see
        self._synced_rooms: set[str] = set()  # rooms our sync has brought

    @property
    def device_id(self) -> str | None:
        """The bot's device (kept across restarts with its keys)."""
        return self.client.device_id

    # ------------------------------------------------------------------ state

    def attach_state(self, state: MatrixState) -> None:
        """Where to keep what must survive a restart (the composition root gives the
        store's)."""
        self.state = state

    # ------------------------------------------------------------------ lifecycle

    async def start(self, handler: InboundHandler) -> None:
        self._handler = handler
        self._stopping = False
        await self._log_in()
        await self._load_direct_rooms()
        self._task = asyncio.create_task(self._sync_loop(), name="matrix-sync")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.client.close()

    async def synced(self) -> None:
        """Wait for the end of the next sync round (tests and start-up)."""
        self._synced.clear()
        await self._synced.wait()

    async def _log_in(self) -> None:
        """The access token and device: kept from an earlier login, given, or a first
        login with the password (whose token and device are then kept)."""
        if callable(self._pickle_key):
            # Read now (the data key is there by start), before a login opens the store.
            self.client.config = replace(self.client.config, pickle_key=self._pickle_key())
        kept = self.session.load() if self.session is not None else None
        token, device = self._access_token, self._device_id
        if kept is not None and (token is None or kept.get("access_token") == token):
            token, device = kept["access_token"], kept.get("device_id") or device
        if token is None:
            if self._password is None:
                raise MatrixLoginError("MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD is not set")
            answer = await self.client.login(self._password, device_name="Samen")
            if not isinstance(answer, LoginResponse):
                raise MatrixLoginError(f"the Matrix login was refused ({answer.status_code})")
            token, device = answer.access_token, answer.device_id
        if device is None:
            self.client.access_token = token
            who = await self.client.whoami()
            device = getattr(who, "device_id", None)
            if not isinstance(who, WhoamiResponse) or device is None:
                code = getattr(who, "status_code", "no device")
                raise MatrixLoginError(f"the Matrix access token was refused ({code})")
        if self.session is not None:
            self.session.save({"access_token": token, "device_id": device})
        self.client.restore_login(self.user_id, device, token)  # loads the crypto store

    async def _load_direct_rooms(self) -> None:
        answer = await self.client.list_direct_rooms()
        rooms = getattr(answer, "rooms", None)
        if isinstance(rooms, Mapping):
            for user, ids in rooms.items():
                for room_id in ids:
                    self.direct[room_id] = user

    # ------------------------------------------------------------------ inbound

    async def _sync_loop(self) -> None:
        token = await self.state.sync_token()
        first = True
        while not self._stopping:
            try:
                response = await self.client.sync(
                    timeout=0 if first else int(self.poll_timeout * 1000),
                    sync_filter=SYNC_FILTER,
                    since=token,
                    full_state=True if first else None,
                )
                if not isinstance(response, SyncResponse):
                    log.warning("matrix sync: %s, retrying", getattr(response, "status_code", ""))
                    await asyncio.sleep(1.0)
                    continue
                await self._keys()
                await self.receive(response, since=token)
                token = response.next_batch
                await self.state.set_sync_token(token)
                first = False
                self._synced.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Not stored (the inbox, the network): sync again from the same token.
                log.warning("matrix sync: %s, retrying", type(error).__name__)
                await asyncio.sleep(1.0)

    async def _keys(self) -> None:
        """What nio's `sync_forever` does for encryption between syncs."""
        if not self.encryption:
            return
        async with self._crypto:
            if self.client.should_upload_keys:
                await self.client.keys_upload()
            if self.client.should_query_keys:
                await self.client.keys_query()
            if self.client.should_claim_keys:
                await self.client.keys_claim(self.client.get_users_for_key_claiming())
            await self.client.send_to_device_messages()

    async def receive(self, response: SyncResponse, *, since: str | None) -> None:
        """Hand one sync response (the one after `since`) to the shell. With no `since`
        (the very first sync of a new bot), history before Samen existed is not read;
        invitations are."""
        if self._handler is None:
            raise RuntimeError("Matrix adapter not started")
        for room_id, invite in response.rooms.invite.items():
            await self._invited(room_id, invite.invite_state)
        for room_id, info in response.rooms.join.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            self._synced_rooms.add(room_id)
            event = self._new_rooms.get(room_id)
            if event is not None:
                event.set()
            await self._learn_names(room)
            if room.encrypted and not self.encryption:
                await self._refuse_encrypted(room_id)
            if since is not None:
                events = list(info.timeline.events)
                if info.timeline.limited and info.timeline.prev_batch:
                    # More happened than one sync returns: read the gap, nothing missed.
                    events = await self._gap(room_id, info.timeline.prev_batch, since) + events
                for timeline_event in events:
                    await self._timeline_event(room, timeline_event)
            await self._coordinators(room, info)

    async def _gap(self, room_id: str, start: str, since: str) -> list[Any]:
        """The events of a room between `since` and the start of a limited timeline,
        oldest first (`/messages`, backwards from `start` to `since`)."""
        found: list[Any] = []
        while True:
            page = await self.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse):
                raise GapUnread(str(getattr(page, "status_code", "error")))
            found.extend(page.chunk)
            if not page.chunk or not page.end or page.end == start:
                break
            start = page.end
        return found[::-1]

    async def _invited(self, room_id: str, invite_state: list[Any]) -> None:
        assert self._handler is not None
        mine = next(
            (
                e
                for e in invite_state
                if isinstance(e, InviteMemberEvent)
                and e.state_key == self.user_id
                and e.membership == "invite"
            ),
            None,
        )
        if mine is None:
            return
        inviter = mine.sender
        if not allowed(inviter, self.allowed_servers):
            log.info("matrix: invitation from a server not on the allowlist declined")
            await self.client.room_leave(room_id)
            return
        direct = bool(mine.content.get("is_direct"))
        if direct:
            self.direct[room_id] = inviter
            await self._record_direct(inviter, room_id)
        else:
            name = next(
                (
                    str(e.source.get("content", {}).get("name") or "")
                    for e in invite_state
                    if e.source.get("type") == "m.room.name"
                ),
                "",
            )
            payload: dict[str, Any] = {"channel_name": name} if name else {}
            # No `coordinators` here: the invitation's stripped state (as nio gives it)
            # holds no power levels, so the person who invited the bot stands for them
            # (issue 19's fallback); once joined, a "coordinators" event lists the room's
            # creators and moderators.
            # Stored before we join: a crash in between sees the invitation again.
            await self._handler(
                Inbound(PLATFORM, f"invited:{room_id}", "bot_added", room_id, inviter, payload)
            )
        answer = await self.client.join(room_id)
        if isinstance(answer, JoinError):
            log.warning("matrix: joining a room failed (%s)", answer.status_code)

    async def _record_direct(self, user: str, room_id: str) -> None:
        """Add the room to the bot's `m.direct` account data (how Matrix clients know a
        room is direct), so that a restart knows it too."""
        rooms: dict[str, list[str]] = {}
        for room, person in self.direct.items():
            rooms.setdefault(person, []).append(room)
        rooms.setdefault(user, [])
        if room_id not in rooms[user]:
            rooms[user].append(room_id)
        path = f"/_matrix/client/v3/user/{self.user_id}/account_data/m.direct"
        session = self.client.client_session
        if session is None:
            return
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        async with session.put(self.client.homeserver + path, json=rooms, headers=headers):
            pass

    async def _learn_names(self, room: MatrixRoom) -> None:
        for user_id, user in room.users.items():
            if user.display_name:
                self.names[user_id] = user.display_name

    def room_view(self, room: MatrixRoom) -> Room:
        person = self.direct.get(room.room_id)
        return Room(room.room_id, person, "" if person else (room.name or ""))

    async def _timeline_event(self, room: MatrixRoom, event: Any) -> None:
        assert self._handler is not None
        source: Mapping[str, Any] = getattr(event, "source", {}) or {}
        event_id = source.get("event_id")
        if isinstance(event, MegolmEvent):
            if self.encryption:
                await self._undecryptable(room, event)
            else:
                await self._refuse_encrypted(room.room_id)
            if isinstance(event_id, str):
                self._looked_at(event_id)
            return
        view = self.room_view(room)
        prompts = await self._prompts_for(room.room_id, source)
        inbound = parse_event(
            source,
            view,
            bot=self.user_id,
            servers=self.allowed_servers,
            prompts=prompts,
            names=self.names,
        )
        if inbound is not None:
            await self._handler(inbound)
        if isinstance(event_id, str):
            self._looked_at(event_id)

    def _looked_at(self, event_id: str) -> None:
        self.handled[event_id] = None
        if len(self.handled) > HANDLED_KEPT:
            del self.handled[next(iter(self.handled))]  # the oldest

    async def _prompts_for(
        self, room_id: str, source: Mapping[str, Any]
    ) -> dict[str, FormPrompt | None]:
        """The forms an event may answer: the one it replies to, the room's latest."""
        found: dict[str, FormPrompt | None] = {}
        if source.get("type") != "m.room.message" or source.get("sender") == self.user_id:
            return found
        target = reply_target(source)
        keys = {"latest": f"{room_id}|latest"}
        if target is not None:
            keys[target] = f"{room_id}|{target}"
        for name, key in keys.items():
            stored = await self.state.prompt(key)
            found[name] = FormPrompt.from_json(stored) if stored is not None else None
        return found

    async def _undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        """Logged once (no content: there is none we can read) and the sender asked to
        send it again, in the room it came from."""
        if event.event_id in self._warned or event.sender == self.user_id:
            return
        self._warned.add(event.event_id)
        self.undecryptable += 1
        log.warning("matrix: a message could not be decrypted (event %s)", event.event_id)
        if not allowed(event.sender, self.allowed_servers):
            return
        async with self._crypto:  # one key exchange at a time (see `_send`)
            await self._quietly(
                self.client.room_send(
                    room.room_id,
                    "m.room.message",
                    content(say("undecryptable", self.language)),
                    tx_id=f"samen-resend-{event.event_id}",
                    ignore_unverified_devices=True,
                )
            )

    async def _refuse_encrypted(self, room_id: str) -> None:
        if room_id in self._refused:
            return
        self._refused.add(room_id)
        # Sent without encryption (we have none): the room shows it as unencrypted.
        await self._quietly(
            self.client.room_send(
                room_id,
                "m.room.message",
                content(say("no_encryption", self.language)),
                tx_id=f"samen-refuse-{room_id}",
            )
        )

    async def _coordinators(self, room: MatrixRoom, info: Any) -> None:
        """A team room's moderators and admins, when they are new or changed."""
        assert self._handler is not None
        events = [getattr(e, "source", {}) for e in [*info.state, *info.timeline.events]]
        made_by = _creators_in(events)
        if made_by:
            self._creators[room.room_id] = set(made_by)
        if self.user_id in self._creators.get(room.room_id, ()):
            self._made.add(room.room_id)
        if room.room_id in self.direct or room.room_id in self._made:
            return  # a direct room (the bot makes no team rooms itself)
        levels = room.power_levels
        creators = self._creators.get(room.room_id, set())
        people = frozenset(
            user
            for user in room.users
            if user != self.user_id
            and allowed(user, self.allowed_servers)
            and (user in creators or levels.get_user_level(user) >= COORDINATOR_LEVEL)
        )
        if self.coordinators.get(room.room_id) == people:
            return
        self.coordinators[room.room_id] = people
        changed = [e.get("event_id") for e in events if e.get("type") == "m.room.power_levels"]
        key = f"levels:{room.room_id}:{changed[-1] if changed else 'start'}"
        await self._handler(
            Inbound(PLATFORM, key, "coordinators", room.room_id, "", {"users": sorted(people)})
        )

    @staticmethod
    async def _quietly(call: Any) -> None:
        try:
            answer = await call
        except Exception as error:
            log.info("matrix: a courtesy message failed (%s)", type(error).__name__)
            return
        if isinstance(answer, ErrorResponse):
            log.info("matrix: a courtesy message failed (%s)", answer.status_code)

    # ------------------------------------------------------------------ outbound

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """One client-server call. Homeserver answers are reported; transport errors
        raise (the outbox retries them)."""
        if delivery.op == "delete":
            return await self._delete(delivery)
        try:
            room_id, person = await self._room_for(delivery)
        except _Refused as refused:
            return refused.result
        if person is not None and not self._has_joined(room_id, person):
            # Invited to the direct room, not in it yet: the message waits (the outbox
            # parks it) until they join, so that the room's key reaches their devices.
            return DeliveryResult(blocked_until_start=True)
        text = render_text(delivery.message, delivery.language)
        body = content(text)
        if delivery.op == "edit":
            target_room, _, event_id = (delivery.ref or "").partition("|")
            if not event_id:
                return DeliveryResult(failed="no message ref")
            answer = await self._send(target_room, _replacing(event_id, body), delivery, "e")
            if isinstance(answer, DeliveryResult):
                return answer
            await self._track_form(delivery, target_room, event_id)
            return DeliveryResult.sent(ref=delivery.ref)
        in_group = room_id not in self.direct
        if in_group and delivery.op == "reply" and delivery.user:
            name = self.names.get(delivery.user) or delivery.user
            body["body"] = f"{name}: {body['body']}"
            body["m.mentions"] = {"user_ids": [delivery.user]}
        status = delivery.message.kind in STATUS_BOARD_KINDS and not delivery.message.questions
        if in_group and delivery.op == "send" and delivery.run and status:
            return await self._status_board(delivery, room_id, delivery.run, body)
        if in_group and delivery.thread and delivery.op == "send":
            body["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": delivery.thread,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": delivery.thread},
            }
        answer = await self._send(room_id, body, delivery, "s")
        if isinstance(answer, DeliveryResult):
            return answer
        await self._track_form(delivery, room_id, answer)
        opens_thread = in_group and delivery.thread is None and delivery.op == "send"
        return DeliveryResult.sent(
            ref=f"{room_id}|{answer}", thread=answer if opens_thread else None
        )

    async def _send(
        self, room_id: str, body: dict[str, Any], delivery: Delivery, what: str
    ) -> str | DeliveryResult:
        """The event id, or the result that reports why there is none."""
        try:
            # One key exchange at a time: a device query in flight elsewhere would leave
            # a newcomer's devices unknown when this room's key is shared.
            async with self._crypto:
                room = self.client.rooms.get(room_id)
                if room is not None and room.encrypted and self.client.should_query_keys:
                    await self.client.keys_query()  # people new to the room: their devices
                answer = await self.client.room_send(
                    room_id,
                    "m.room.message",
                    body,
                    tx_id=f"samen-{delivery.id}-{what}",
                    ignore_unverified_devices=True,
                )
        except LocalProtocolError:
            # nio does not know the room yet (a sync will bring it): try again soon.
            return DeliveryResult(retry_after=1.0)
        if isinstance(answer, RoomSendResponse):
            return answer.event_id
        return self._error(answer)

    def _error(self, answer: Any) -> DeliveryResult:
        code = str(getattr(answer, "status_code", "") or "error")
        if code == "M_LIMIT_EXCEEDED" or code == "429":
            self.rate_limited += 1
            wait = getattr(answer, "retry_after_ms", None) or 1000
            return DeliveryResult(retry_after=max(float(wait) / 1000, 0.001))
        if code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            log.error("matrix: the access token was refused; check MATRIX_ACCESS_TOKEN")
        return DeliveryResult(failed=code)

    def _has_joined(self, room_id: str, person: str) -> bool:
        room = self.client.rooms.get(room_id)
        return room is not None and person in room.users and person not in room.invited_users

    async def _room_for(self, delivery: Delivery) -> tuple[str, str | None]:
        """The room of a delivery and the person when it is a direct room: a team room as
        is; a person's direct room (opened when there is none) for `dm:<user>` and for a
        reply to someone."""
        person = None
        if delivery.chat.startswith("dm:"):
            person = delivery.chat[3:]
        elif (
            delivery.op == "reply"
            and delivery.user
            and self._direct_room_of(delivery.user) is not None
        ):
            # Matrix has no ephemeral messages: their direct room when they have one,
            # else the room they wrote in (addressed to them, see `deliver`).
            person = delivery.user
        if person is None:
            return delivery.chat, None
        room_id = self._direct_room_of(person)
        if room_id is None:
            room_id = await self._open_direct(person)
        return room_id, person

    def _direct_room_of(self, person: str) -> str | None:
        return next((r for r, p in self.direct.items() if p == person), None)

    async def _open_direct(self, person: str) -> str:
        if not allowed(person, self.allowed_servers):
            raise _Refused(DeliveryResult(failed="server not allowed"))
        initial: list[dict[str, Any]] = []
        if self.encryption:
            initial.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        answer = await self.client.room_create(
            is_direct=True, invite=[person], initial_state=initial
        )
        if not isinstance(answer, RoomCreateResponse):
            raise _Refused(self._error(answer))
        self.direct[answer.room_id] = person
        await self._record_direct(person, answer.room_id)
        waiting = self._new_rooms.setdefault(answer.room_id, asyncio.Event())
        # Through our own sync (not just nio's room list): by then its members' devices
        # were queried (`_keys`), so that the room's key reaches the person.
        if answer.room_id not in self._synced_rooms:
            try:
                async with asyncio.timeout(ROOM_WAIT):
                    await waiting.wait()
            except TimeoutError:
                pass  # the send says "try again soon"
        self._new_rooms.pop(answer.room_id, None)
        return answer.room_id

    async def _status_board(
        self, delivery: Delivery, room_id: str, run: str, body: dict[str, Any]
    ) -> DeliveryResult:
        """The run's status message: edited in place when there is one; sent and pinned
        (when the bot may) when there is not yet."""
        ref = await self.state.pinned(room_id, run)
        if ref is not None:
            _, _, event_id = ref.partition("|")
            answer = await self._send(room_id, _replacing(event_id, body), delivery, "b")
            return answer if isinstance(answer, DeliveryResult) else DeliveryResult.sent(ref=ref)
        answer = await self._send(room_id, body, delivery, "s")
        if isinstance(answer, DeliveryResult):
            return answer
        ref = f"{room_id}|{answer}"
        await self.state.set_pinned(room_id, run, ref)
        await self._pin(room_id, answer)
        return DeliveryResult.sent(ref=ref)

    async def _pin(self, room_id: str, event_id: str) -> None:
        room = self.client.rooms.get(room_id)
        if room is not None and not room.power_levels.can_user_send_state(
            self.user_id, "m.room.pinned_events"
        ):
            return  # not a moderator: the status message is edited, not pinned
        current = await self.client.room_get_state_event(room_id, "m.room.pinned_events")
        pinned = list(getattr(current, "content", {}).get("pinned", []) or [])
        await self._quietly(
            self.client.room_put_state(
                room_id, "m.room.pinned_events", {"pinned": [*pinned, event_id]}
            )
        )

    async def _delete(self, delivery: Delivery) -> DeliveryResult:
        room_id, _, event_id = (delivery.ref or "").partition("|")
        if not event_id:
            return DeliveryResult(failed="no message ref")
        answer = await self.client.room_redact(room_id, event_id, tx_id=f"samen-{delivery.id}-d")
        if isinstance(answer, ErrorResponse):
            if answer.status_code == "M_NOT_FOUND":
                return DeliveryResult.sent(ref=delivery.ref)
            return self._error(answer)
        await self.state.save_prompt(f"{room_id}|{event_id}", None)
        return DeliveryResult.sent(ref=delivery.ref)

    async def _track_form(self, delivery: Delivery, room_id: str, event_id: str) -> None:
        """Remember what an answer to this form answers; forget it once it closed."""
        if not delivery.message.questions:
            return
        prompt = form_prompt(delivery.message, delivery.run, delivery.language)
        stored = prompt.to_json() if prompt is not None else None
        await self.state.save_prompt(f"{room_id}|{event_id}", stored)
        latest = await self.state.prompt(f"{room_id}|latest")
        if stored is not None:
            await self.state.save_prompt(f"{room_id}|latest", stored)
        elif latest is not None and delivery.run and latest[0] == delivery.run:
            await self.state.save_prompt(f"{room_id}|latest", None)


def _creators_in(events: Any) -> list[str]:
    """Who created the room, from its `m.room.create` event among `events` (its sender and
    `additional_creators`: since room version 12 they hold the highest power without being
    listed in the power levels)."""
    for event in events:
        if event.get("type") == "m.room.create":
            extra = (event.get("content") or {}).get("additional_creators") or []
            return [str(event.get("sender")), *(str(u) for u in extra)]
    return []


class GapUnread(Exception):
    """The events missing from a limited timeline could not be read: sync again."""


class _Refused(Exception):
    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(result.failed or "retry")
        self.result = result


def _replacing(event_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """An `m.replace` edit of `event_id` to `body` (with the fallback for old clients)."""
    return {
        "msgtype": body["msgtype"],
        "body": "* " + body["body"],
        "m.new_content": dict(body),
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }
