"""The Matrix world: a team room and direct rooms on a real Synapse around the real runtime.

`matrix_world` builds the runtime (`build_runtime`: store on SQLite, scheduler, outbox,
time on a FakeClock) with the real Matrix adapter, logged in as the bot on the session's
Synapse (tests/harness/synapse.py), and people driven by matrix-nio's own `AsyncClient`
(each with its own device and, for encrypted rooms, its own crypto store). Nothing is
stubbed between a person's message and the bot's answer: real `/sync`, real rooms.

After a person acts, `caught_up` waits until two of the bot's sync rounds have finished
(the second began after the act), then the runtime settles; each person then syncs and
reads what arrived in their rooms.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LoginResponse,
    MegolmEvent,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)

from adapters.base import Inbound
from adapters.matrix import MatrixAdapter
from bot.config import Settings
from bot.runtime.clock import FakeClock
from bot.wiring import Runtime, SealedFile, build_runtime
from tests.harness.synapse import Account, Synapse
from tests.harness.world import FLOWS, World

TEST_KEY = "c2FtZW4tbWF0cml4LXRlc3QtZGF0YS1rZXktMzJieXQ="  # 32 bytes, for the sealed login
BOUND = 30.0  # seconds: a bound on waiting for a sync, never an assertion
PACE = timedelta(seconds=90)
# A person's client reads everything since its last sync (Synapse's default is 10 events).
EVERYTHING = {"room": {"timeline": {"limit": 1000}}}
ENCRYPTED = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


@dataclass
class Seen:
    """One event a person's client saw: who sent it, its id and (decrypted) content."""

    room: str
    event_id: str
    sender: str
    content: dict[str, Any]


class Person:
    """A person of the team: matrix-nio's client on their own new device."""

    def __init__(self, name: str, account: Account, url: str, folder: Path, bot: str) -> None:
        self.name, self.account, self.bot = name, account, bot
        folder.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            url,
            account.user_id,
            store_path=str(folder),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
        )
        self.events: list[Seen] = []
        self.undecryptable = 0

    @property
    def user_id(self) -> str:
        return self.account.user_id

    async def log_in(self) -> None:
        answer = await self.client.login(self.account.password, device_name="test")
        assert isinstance(answer, LoginResponse), answer
        await self.client.set_displayname(self.name.capitalize())
        await self.sync()

    async def close(self) -> None:
        await self.client.close()

    async def sync(self) -> bool:
        """One sync: joins rooms the bot invited them to (True when there were some),
        keeps what arrived."""
        since = self.client.next_batch
        answer = await self.client.sync(timeout=0, sync_filter=EVERYTHING)
        assert isinstance(answer, SyncResponse), answer
        joined = False
        for room_id, invite in answer.rooms.invite.items():
            if any(
                isinstance(e, InviteMemberEvent) and e.sender == self.bot
                for e in invite.invite_state
            ):
                await self.client.join(room_id)
                joined = True
        for room_id, info in answer.rooms.join.items():
            events = list(info.timeline.events)
            if info.timeline.limited and since and info.timeline.prev_batch:
                events = await self._gap(room_id, info.timeline.prev_batch, since) + events
            for event in events:
                if isinstance(event, MegolmEvent) and event.sender == self.bot:
                    self.undecryptable += 1  # only the bot's messages are our business
                source = event.source
                if source.get("type") == "m.room.message" or isinstance(event, MegolmEvent):
                    self.events.append(
                        Seen(
                            room_id,
                            source["event_id"],
                            event.sender,
                            dict(source.get("content") or {}),
                        )
                    )
        await self._keys()
        if joined:
            await self.sync()  # the rooms they joined, with what was said there already
        return joined

    async def _gap(self, room_id: str, start: str, since: str) -> list[Any]:
        """What a limited timeline left out, oldest first (as a client back-paginates)."""
        found: list[Any] = []
        while True:
            page = await self.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            assert isinstance(page, RoomMessagesResponse), page
            found.extend(page.chunk)
            if not page.chunk or not page.end or page.end == start:
                return found[::-1]
            start = page.end

    async def _keys(self) -> None:
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        if self.client.should_claim_keys:
            await self.client.keys_claim(self.client.get_users_for_key_claiming())
        await self.client.send_to_device_messages()

    async def send(self, room: str, text: str, *, reply_to: str | None = None, **extra: Any) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text, **extra}
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        answer = await self.client.room_send(
            room, "m.room.message", content, ignore_unverified_devices=True
        )
        assert isinstance(answer, RoomSendResponse), answer
        return answer.event_id

    # -- what they saw from the bot

    def from_bot(self, room: str) -> list[Seen]:
        return [e for e in self.events if e.room == room and e.sender == self.bot]

    def texts(self, room: str) -> str:
        """The bot's messages in `room` as they read now (edits applied)."""
        shown: dict[str, str] = {}
        for event in self.from_bot(room):
            relates = event.content.get("m.relates_to") or {}
            if relates.get("rel_type") == "m.replace":
                new = event.content.get("m.new_content") or {}
                shown[relates["event_id"]] = str(new.get("body", ""))
            else:
                shown[event.event_id] = str(event.content.get("body", ""))
        return "\n".join(shown.values())

    def edits(self, room: str) -> list[Seen]:
        return [
            e
            for e in self.from_bot(room)
            if (e.content.get("m.relates_to") or {}).get("rel_type") == "m.replace"
        ]

    def last_form(self, room: str, words: str) -> Seen:
        return [e for e in self.from_bot(room) if words in str(e.content.get("body", ""))][-1]


class Team(World):
    """A team room on Synapse, its people and the runtime with the Matrix adapter."""

    def __init__(
        self,
        runtime: Runtime,
        clock: FakeClock,
        server: Synapse,
        adapter: MatrixAdapter,
        people: dict[str, Person],
    ) -> None:
        super().__init__(runtime, clock, pace=PACE)
        self.server, self.adapter, self.people = server, adapter, people
        self.room = ""
        self.direct: dict[str, str] = {}  # name -> the direct room they opened
        self.inbound: list[Inbound] = []

    async def handler(self, event: Inbound) -> None:
        await self.runtime.inbound(event)
        self.inbound.append(event)

    async def caught_up(self) -> None:
        """Two of the bot's sync rounds ended (the second began after the last act)."""
        joined = True
        while joined:  # someone accepted an invitation: the bot hears of it, and so on
            async with asyncio.timeout(BOUND):
                await self.adapter.synced()
                await self.adapter.synced()
            await self.settle()
            joined = False
            for person in self.people.values():
                joined = await person.sync() or joined

    async def wait(self, delta: timedelta) -> None:
        """As `World.wait`, with the people online: at every timer on the way, the bot's
        sync catches up and they read (and accept the bot's invitations)."""
        end = self.clock.now() + delta
        while self.clock.now() < end:
            due = await self.runtime.store.next_due()
            now = self.clock.now()
            await self.clock.advance_to(due if due is not None and now < due < end else end)
            await self.caught_up()

    # -- rooms

    async def open_room(
        self, owner: str, *, encrypted: bool = False, name: str = "Wijkteam Noord"
    ) -> str:
        """`owner` makes the team room, invites the others and the bot; all join."""
        person = self.people[owner]
        others = [p.user_id for n, p in self.people.items() if n != owner]
        answer = await person.client.room_create(
            name=name,
            invite=[*others, self.adapter.user_id],
            initial_state=[ENCRYPTED] if encrypted else [],
        )
        assert isinstance(answer, RoomCreateResponse), answer
        self.room = answer.room_id
        for name_, other in self.people.items():
            if name_ != owner:
                await other.client.join(self.room)
        await self.caught_up()
        return self.room

    async def open_direct(self, name: str, *, encrypted: bool = False) -> str:
        """`name` starts a direct chat with the bot (as Element's "Start chat" does)."""
        person = self.people[name]
        answer = await person.client.room_create(
            is_direct=True,
            invite=[self.adapter.user_id],
            initial_state=[ENCRYPTED] if encrypted else [],
        )
        assert isinstance(answer, RoomCreateResponse), answer
        self.direct[name] = answer.room_id
        await self.caught_up()
        return answer.room_id

    def direct_room(self, name: str) -> str:
        """The direct room of `name` with the bot (theirs, or the one the bot opened)."""
        if name in self.direct:
            return self.direct[name]
        person = self.people[name]
        for room_id, user in self.adapter.direct.items():
            if user == person.user_id:
                return room_id
        raise AssertionError(f"{name} has no direct room with the bot")

    # -- people act

    async def say(self, name: str, text: str, *, room: str | None = None, **options: Any) -> str:
        event_id = await self.people[name].send(room or self.room, text, **options)
        await self._handled(event_id)
        return event_id

    async def _handled(self, event_id: str) -> None:
        async with asyncio.timeout(BOUND):
            while event_id not in self.adapter.handled:
                await self.adapter.synced()
        await self.caught_up()

    def texts(self, name: str | None = None, *, reader: str | None = None) -> str:
        """What the bot said in the team room (name None) or in `name`'s direct room,
        as `reader` (anna in the team room, else `name`) reads it."""
        person = self.people[reader or name or "anna"]
        return person.texts(self.room if name is None else self.direct_room(name))

    async def make_moderator(self, name: str, user_id: str, level: int = 50) -> None:
        """`name` (an admin of the room) raises `user_id` to `level` in the power levels."""
        client = self.people[name].client
        current = await client.room_get_state_event(self.room, "m.room.power_levels")
        levels = dict(current.content)
        levels["users"] = {**levels.get("users", {}), user_id: level}
        answer = await client.room_put_state(self.room, "m.room.power_levels", levels)
        assert hasattr(answer, "event_id"), answer
        await self.caught_up()

    async def pinned(self, room: str) -> list[str]:
        answer = await self.people["anna"].client.room_get_state_event(room, "m.room.pinned_events")
        return list(getattr(answer, "content", {}).get("pinned", []))


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.05)


def bot_adapter(server: Synapse, bot: Account, folder: Path, **options: Any) -> MatrixAdapter:
    """The adapter as `samen run` builds it, with a first login by password (a new device
    and crypto store in `folder`, kept sealed for a restart)."""
    from bot.store.sealed import Keyring

    folder.mkdir(parents=True, exist_ok=True)
    keyring = Keyring.from_environment(folder, env={"SAMEN_DATA_KEY": TEST_KEY})
    return MatrixAdapter(
        homeserver=server.url,
        user_id=bot.user_id,
        password=bot.password,
        session=SealedFile(folder / "session.sealed", lambda: keyring, "matrix_session"),
        store_path=folder / "crypto",
        pickle_key="test-passphrase",
        poll_timeout=0.2,
        **options,
    )


async def open_team(
    folder: Path,
    clock: FakeClock,
    server: Synapse,
    bot: Account,
    people: dict[str, Person],
    **options: Any,
) -> Team:
    settings = Settings(data_dir=folder, flows_dir=FLOWS)
    adapter = bot_adapter(server, bot, folder / "matrix", **options)
    runtime = await build_runtime(settings, clock=clock, adapters=[adapter], use_apscheduler=False)
    team = Team(runtime, clock, server, adapter, people)
    await adapter.start(team.handler)
    async with asyncio.timeout(BOUND):
        await adapter.synced()
    return team


@asynccontextmanager
async def matrix_world(
    folder: Path, clock: FakeClock, server: Synapse, accounts: dict[str, Account], **options: Any
) -> AsyncIterator[Team]:
    people = {
        name: Person(name, account, server.url, folder / "people" / name, accounts["bot"].user_id)
        for name, account in accounts.items()
        if name != "bot"
    }
    for person in people.values():
        await person.log_in()
    team = await open_team(folder, clock, server, accounts["bot"], people, **options)
    try:
        yield team
    finally:
        await team.runtime.stop()
        for person in people.values():
            await person.close()
