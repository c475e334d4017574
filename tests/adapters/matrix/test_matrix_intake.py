"""Durable intake, membership, the allowlist, rate limits and encryption failures, through
the real Matrix adapter against the session's Synapse (tests/harness/matrix.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomSendResponse
from sqlalchemy import func, select

from bot.runtime.clock import FakeClock
from bot.store.tables import AnswerRow, InboxRow, OutboxRow, TeamRow
from bot.wiring import Runtime
from tests.harness.matrix import Team, matrix_world, open_team
from tests.harness.synapse import Account, Synapse

HELP = "Samen helpt je team bij vaste werkvormen."


async def count(runtime: Runtime, model: type[Any], *where: Any) -> int:
    async with runtime.store.engine.connect() as conn:
        result = await conn.execute(select(func.count()).select_from(model).where(*where))
        return int(result.scalar_one())


async def test_a_restart_in_the_middle_answers_nothing_twice_and_misses_nothing(
    tmp_path: Path, clock: FakeClock, synapse: Synapse, accounts: dict[str, Account]
) -> None:
    async with matrix_world(tmp_path, clock, synapse, accounts) as team:
        await team.open_room("anna")
        await team.say("anna", "!samen")
        assert team.texts().count(HELP) == 1
        await team.runtime.stop()

        # While Samen is down, two people write to it.
        await team.people["bram"].send(team.room, "!samen")
        await team.people["cor"].send(team.room, "!samen")

        # The same data folder: the sync token, the login and the crypto store are kept.
        again = await open_team(tmp_path, clock, synapse, accounts["bot"], team.people)
        again.room = team.room
        try:
            await again.caught_up()
            # Bram and Cor are answered once each; Anna's command is not answered again.
            assert again.texts().count(HELP) == 3
            assert "Bram: " + HELP in again.texts() and "Cor: " + HELP in again.texts()
            commands = await count(
                again.runtime, InboxRow, InboxRow.platform == "matrix", InboxRow.status == "done"
            )
            assert commands >= 3
            # The restarted bot did not read Anna's command again (nothing before the
            # stored token), so its first events are the two that arrived while down.
            replayed = [e for e in again.inbound if e.kind == "command"]
            assert [e.user for e in replayed] == [
                team.people["bram"].user_id,
                team.people["cor"].user_id,
            ]
            assert again.adapter.device_id == team.adapter.device_id
        finally:
            await again.runtime.stop()


async def test_a_replayed_sync_is_absorbed_by_the_inbox(team: Team) -> None:
    """The shell fails half-way through a sync (as in a crash before the token is stored):
    the adapter syncs again from the old token and the inbox absorbs what it had."""
    await team.open_room("anna")
    failures = {"left": 1}
    handler = team.handler

    async def flaky(event: Any) -> None:
        await handler(event)
        if event.kind == "command" and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("inbox unavailable")

    await team.adapter.stop()
    await team.adapter.start(flaky)  # the same adapter, handing over to a failing shell
    for _ in range(5):
        await team.people["anna"].send(team.room, "!samen status")
    await team.caught_up()
    keys = [e.key for e in team.inbound if e.kind == "command"]
    assert len(keys) == 6 and len(set(keys)) == 5  # one event handed over twice
    rows = await count(team.runtime, InboxRow, InboxRow.platform == "matrix")
    stored = await count(
        team.runtime, InboxRow, InboxRow.platform == "matrix", InboxRow.event_key.in_(keys)
    )
    assert stored == 5 and rows >= 5
    # The greeting when the bot was added, and one answer to each command.
    assert await count(team.runtime, OutboxRow, OutboxRow.op == "reply") == 1 + 5


async def test_a_member_who_leaves_the_room_is_reported_as_left(team: Team) -> None:
    await team.open_room("anna")
    bram = team.people["bram"]
    await bram.client.room_leave(team.room)
    await team.caught_up()
    left = [e for e in team.inbound if e.kind == "left"]
    assert [(e.channel, e.user) for e in left] == [(team.room, bram.user_id)]
    # The invitation made the room a team, added by Anna; once joined, the room's
    # creator (Anna, power without a power level since room version 12) is reported as
    # its coordinator.
    [added] = [e for e in team.inbound if e.kind == "bot_added"]
    anna = team.people["anna"]
    assert (added.user, added.payload) == (anna.user_id, {"channel_name": "Wijkteam Noord"})
    levels = [e.payload["users"] for e in team.inbound if e.kind == "coordinators"]
    assert levels == [[anna.user_id]]
    joined = {e.user for e in team.inbound if e.kind == "joined"}
    assert joined == {p.user_id for p in team.people.values()}


async def test_people_of_a_server_not_on_the_allowlist_are_never_enrolled(
    tmp_path: Path, clock: FakeClock, synapse: Synapse, accounts: dict[str, Account]
) -> None:
    # The test server's name is left off the list: its people count as outsiders here.
    async with matrix_world(
        tmp_path, clock, synapse, accounts, allowed_servers={"zorg.example"}
    ) as team:
        anna = team.people["anna"]
        room = await team.open_room("anna")
        await team.open_direct("anna")
        await anna.send(room, "!samen")
        await team.caught_up()
        member = await anna.client.room_get_state_event(room, "m.room.member", team.adapter.user_id)
        assert member.content["membership"] == "leave"  # the invitation was declined
        assert team.inbound == []
        assert await count(team.runtime, TeamRow) == 0
        assert team.texts() == ""


async def test_the_outbox_waits_as_long_as_the_homeserver_says(
    tmp_path: Path, clock: FakeClock, synapse: Synapse, accounts: dict[str, Account]
) -> None:
    # A bot account whose message rate limit is Synapse's (tight) one for this server.
    limited = {
        **accounts,
        "bot": synapse.register(f"{accounts['bot'].localpart}x", unlimited=False),
    }
    async with matrix_world(tmp_path, clock, synapse, limited) as team:
        await team.open_room("anna")
        for _ in range(8):
            await team.people["anna"].send(team.room, "!samen")
        await team.caught_up()
        assert team.adapter.rate_limited > 0  # Synapse said M_LIMIT_EXCEEDED ...
        assert team.texts().count(HELP) == 8  # ... and every answer went out, once
        assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0


async def test_an_undecryptable_message_is_logged_once_and_the_sender_asked_again(
    team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    room = await team.open_room("anna", encrypted=True)
    anna = team.people["anna"]
    # A client without encryption sends what looks encrypted but no key will ever open.
    raw = AsyncClient(
        team.server.url, anna.user_id, config=AsyncClientConfig(encryption_enabled=False)
    )
    try:
        assert isinstance(await raw.login(anna.account.password), LoginResponse)
        bogus = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnB" + "A" * 60,
            "device_id": raw.device_id,
            "sender_key": "x" * 43,
            "session_id": "s" * 43,
        }
        sent = await raw.room_send(room, "m.room.encrypted", bogus)
        assert isinstance(sent, RoomSendResponse)
    finally:
        await raw.close()
    with caplog.at_level(logging.WARNING, logger="adapters.matrix.adapter"):
        await team.caught_up()
        await team.caught_up()
    assert team.adapter.undecryptable == 1
    lines = [r.getMessage() for r in caplog.records if "could not be decrypted" in r.getMessage()]
    assert lines == [f"matrix: a message could not be decrypted (event {sent.event_id})"]
    assert team.texts().count("Ik kon je laatste bericht niet ontsleutelen") == 1


async def test_without_encryption_an_encrypted_room_is_told_so(
    tmp_path: Path, clock: FakeClock, synapse: Synapse, accounts: dict[str, Account]
) -> None:
    async with matrix_world(tmp_path, clock, synapse, accounts, encryption=False) as team:
        await team.open_room("anna", encrypted=True)
        await team.say("anna", "!samen")
        await team.say("anna", "!samen status")
        said = team.texts()
        assert said.count("Deze kamer is versleuteld, maar deze Samen kan geen") == 1
        assert [e.kind for e in team.inbound if e.kind == "command"] == []


async def test_a_team_in_english_hears_english_with_matrix_commands(team: Team) -> None:
    await team.open_room("anna")
    await team.say("anna", "!samen taal en")
    await team.say("cor", "!samen traject T-0412 2026-05-25")
    await team.say("bram", "!samen")
    help_text = team.texts()
    assert "!samen start" in help_text and "/samen" not in help_text
    await team.wait(timedelta(days=2, hours=2))
    nudge = team.texts("cor")
    assert "How will you take up this evaluation moment?" in nudge
    assert "choose: 1) Put the continuation question on the MDO agenda" in nudge
    assert "Answer with: !a <your answer>" in nudge
    await team.say("cor", "!a the evaluation is already planned", room=team.direct_room("cor"))
    async with team.runtime.store.engine.connect() as conn:
        rows = await conn.execute(
            select(AnswerRow.member, AnswerRow.value).where(AnswerRow.question == "aanpak")
        )
        cor = team.runtime.store.pseudonym(team.people["cor"].user_id)  # stored by pseudonym
        assert dict(rows.all()) == {cor: "gepland"}
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0
