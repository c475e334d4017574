"""The three stories through the real Matrix adapter against a real Synapse: people on
matrix-nio clients, the bot on the adapter, real `/sync`, real rooms (tests/harness).

Each story runs twice: in a plain team room and in an end-to-end encrypted one. The direct
rooms the bot opens are always encrypted; the people's clients check that they could
decrypt everything the bot sent (`undecryptable == 0`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.store.tables import AnswerRow, MemberRow, OutboxRow
from bot.wiring import Runtime
from tests.harness.matrix import Team

pytestmark = pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])


async def count(runtime: Runtime, model: type[Any], *where: Any) -> int:
    async with runtime.store.engine.connect() as conn:
        result = await conn.execute(select(func.count()).select_from(model).where(*where))
        return int(result.scalar_one())


async def answers(runtime: Runtime, question: str) -> dict[str, Any]:
    """The answers to `question` by the platform id of who gave them (they are stored by
    the person's pseudonym: mapped back through the members)."""
    async with runtime.store.engine.connect() as conn:
        rows = await conn.execute(
            select(AnswerRow.member, AnswerRow.value).where(AnswerRow.question == question)
        )
        users = list(await conn.scalars(select(MemberRow.user)))
    person = {runtime.store.pseudonym(user): user for user in users}
    return {person.get(member, member): value for member, value in rows}


def threaded(team: Team) -> list[str]:
    """The bodies of the bot's messages in a thread of the team room."""
    return [
        str(e.content.get("body"))
        for e in team.people["anna"].from_bot(team.room)
        if (e.content.get("m.relates_to") or {}).get("rel_type") == "m.thread"
    ]


def readable(team: Team) -> None:
    """Every person could decrypt everything they received, and so could the bot."""
    for e in team.people["anna"].from_bot(team.room):
        print(
            "ANNA SEES",
            e.content.get("body", "<<ENCRYPTED>> " + str(e.content.get("session_id")))[:60],
        )
    assert {n: p.undecryptable for n, p in team.people.items()} == {n: 0 for n in team.people}
    assert team.adapter.undecryptable == 0


async def test_alignment_before_a_joint_visit(team: Team, encrypted: bool) -> None:
    await team.open_room("anna", encrypted=encrypted)
    await team.say("anna", "!samen")
    await team.say("bram", "!samen")
    await team.say("anna", "!samen bezoek 2026-11-24 14:00")
    assert "begint ma 23 nov 14:00" in team.texts()
    await team.wait(timedelta(hours=5))

    # The questions reach each person in a direct room the bot opened (encrypted).
    anna = team.people["anna"]
    room = team.direct_room("anna")
    form = anna.last_form(room, "Hoe zit je erbij")
    assert "Welke rol wil jij innemen?" in team.texts("bram")
    assert anna.undecryptable == 0

    # Anna answers with !a, by a reply, and skips one; the form is edited in place.
    await team.say("anna", "!a 2 2", room=room)
    await team.say("anna", "1 Nieuwsgierig", room=room, reply_to=form.event_id)
    await team.say("anna", "!a 3 -", room=room)
    edits = anna.edits(room)
    assert edits and {e.content["m.relates_to"]["event_id"] for e in edits} == {form.event_id}
    assert "✓ 2. Ondersteunen" in anna.texts(room)
    assert "Nieuwsgierig" not in anna.texts(room)  # free text is never echoed
    assert await answers(team.runtime, "rol") == {anna.user_id: "ondersteunen"}

    # After the deadline: one summary, in the thread of the team's announcement.
    await team.wait(timedelta(hours=23))
    summaries = [t for t in threaded(team) if "Zo gaan jullie het bezoek in" in t]
    assert len(summaries) == 1
    assert "Welke rol wil jij innemen?\n• Anna: Ondersteunen" in summaries[0]
    assert "Nog niet (helemaal) geantwoord: Bram en Cor" in summaries[0]
    announcement = team.people["anna"].last_form(team.room, "Jullie gaan samen op bezoek")
    relations = [
        e.content["m.relates_to"]["event_id"]
        for e in team.people["anna"].from_bot(team.room)
        if (e.content.get("m.relates_to") or {}).get("rel_type") == "m.thread"
    ]
    assert set(relations) == {announcement.event_id}
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0
    readable(team)
    assert team.adapter.rate_limited == 0


async def test_intervision_with_the_bell(team: Team, encrypted: bool) -> None:
    anna = team.people["anna"]
    room = await team.open_room("anna", encrypted=encrypted)
    await team.make_moderator("anna", team.adapter.user_id)  # so that it may pin
    # The room's admins and moderators are its coordinators (the bot itself is not).
    levels = [e.payload["users"] for e in team.inbound if e.kind == "coordinators"]
    assert levels and levels[-1] == [anna.user_id]
    await team.say("anna", "!samen")
    await team.say("anna", f"!samen rol {anna.user_id} voorzitter")
    assert "voorzitter" in team.texts() or "chair" in team.texts()
    await team.say("bram", "!samen")
    await team.say("cor", "!samen")
    # A moderator of the room coordinates the team too (issue 19's coordinators), and
    # may then give roles; cor, a plain member, may not.
    bram = team.people["bram"]
    await team.make_moderator("anna", bram.user_id)
    assert await roles_in_store(team) == {
        anna.user_id: ["chair", "coordinator"],
        bram.user_id: ["coordinator"],
        team.people["cor"].user_id: [],
    }
    await team.say("anna", "!samen intervisie 2026-11-27 14:00")
    assert "Genoteerd" in team.texts()
    await team.wait(timedelta(days=4, hours=6, seconds=1))
    assert "Stap 1" in team.texts()
    assert "Bel: !bel pauze · !bel +5 · !bel volgende · !bel stop" in team.texts()

    await team.say("cor", "!bel pauze")  # not the chair: refused, addressed to cor
    assert "Cor: " in team.texts()
    await team.say("anna", "!bel pauze")
    await team.say("anna", "!bel verder")
    await team.say("anna", "!bel +5")
    await team.wait(timedelta(minutes=30))
    assert "🔔 De tijd is om: Stap 1" in team.texts()
    assert "Stap 2" in team.texts()
    await team.say("anna", "!bel volgende")
    assert "Stap 3" in team.texts()
    await team.say("bram", "!bel proces")  # the process bell: anyone may ring it
    assert "🔔 Procesbel" in team.texts()

    # Time left, pause and extension live in ONE status message, edited in place and
    # pinned (the bot is a moderator of the room).
    [pinned] = await team.pinned(room)
    status_edits = [e for e in anna.edits(room) if e.content["m.relates_to"]["event_id"] == pinned]
    assert len(status_edits) >= 2
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0
    readable(team)


async def test_evaluation_nudge_acted_on_in_the_direct_room(team: Team, encrypted: bool) -> None:
    await team.open_room("anna", encrypted=encrypted)
    await team.say("cor", "!samen traject T-0412 2026-05-25")
    assert "Traject T-0412 staat genoteerd" in team.texts()
    await team.wait(timedelta(days=2, hours=2))

    # The nudge and its question reach cor in a direct room, not the team room.
    room = team.direct_room("cor")
    nudge = team.texts("cor")
    assert "Evaluatiemoment voor traject T-0412 (gestart 25 mei 2026, 6 maanden)" in nudge
    assert "kies: 1) De vervolgvraag op de MDO-agenda zetten, 2) Een collega" in nudge
    assert "Evaluatiemoment voor traject" not in team.texts()

    # Cor acts on it there: the second option, by its number.
    await team.say("cor", "!a 2", room=room)
    assert await answers(team.runtime, "aanpak") == {team.people["cor"].user_id: "collega"}
    assert "Vraag je collega om jullie kritisch te bevragen" in team.texts("cor")
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0
    readable(team)


async def roles_in_store(team: Team) -> dict[str, list[str]]:
    """Each member of the team room's team and their roles, as the store has them."""
    (found,) = [t for t in await team.runtime.store.teams() if t.channel == team.room]
    members = await team.runtime.store.members(found.id)
    return {m.user: sorted(m.roles) for m in members}
