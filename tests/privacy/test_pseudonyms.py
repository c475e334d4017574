"""People are pseudonymous where Samen does not need their id to deliver (issue 23):
answers are stored by the keyed pseudonym of the person who gave them, never by their
platform id, so one join no longer links every answer to a name. A person's export and
erasure still find their answers, and a team export still says who answered (and keeps
an anonymous answer anonymous). Group titles are sealed like display names, and the
bot still names its teams by them."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Chat, Message, MessageEntity, Update, User

from bot.runtime.clock import FakeClock
from bot.store import privacy
from tests.harness.console import console_world
from tests.harness.telegram import GROUP, PEOPLE, Group, fake_on, telegram_world
from tests.harness.world import START
from tests.privacy.shipped import flows_with

FLOW = """\
id: pseudotoets
title: {nl: Pseudotoets, en: Pseudonym check}
languages: [nl, en]
participants: [member]
triggers:
  - command: pseudotoets
steps:
  - id: vraag
    collect:
      to: [member]
      deadline: 1d
      questions:
        - id: les
          type: text
          text: {nl: "Wat neem je mee?", en: "What do you take along?"}
        - id: gevoel
          type: text
          anonymous: true
          text: {nl: "Hoe gaat het echt?", en: "How are things really?"}
  - id: samen
    summary:
      to: thread
      show: [answers]
"""

PEOPLE_ANSWER = {
    "anna": ("Kompasnaald-Anna", "Vuurtoren-Anna"),
    "bram": ("Kompasnaald-Bram", "Vuurtoren-Bram"),
    "cor": ("Kompasnaald-Cor", "Vuurtoren-Cor"),
}
PSEUDONYM = re.compile(r"^p-[0-9a-f]{16}$")


async def test_answers_are_stored_by_pseudonym_and_still_exported_and_forgotten(
    tmp_path: Path,
) -> None:
    async with console_world(tmp_path, flows=flows_with(tmp_path, "pseudotoets", FLOW)) as t:
        for who in PEOPLE_ANSWER:
            await t.type(f"/als {who}", "/samen")
        await t.type("/als anna", "/samen start pseudotoets")
        for who, (les, gevoel) in PEOPLE_ANSWER.items():
            await t.type(f"/als {who}", f"/a 1 {les}", f"/a 2 {gevoel}")
        await t.wait(timedelta(days=1, minutes=5))
        said = t.said()
        assert "Kompasnaald-Bram" in said and "Vuurtoren-Cor" in said  # the summary went out
        store = t.runtime.store

        # The raw table, every column: no platform id, members only as pseudonyms.
        rows = t.rows("SELECT * FROM answers")
        assert len(rows) == 6
        raw = repr(rows)
        for who in PEOPLE_ANSWER:
            assert who not in raw.lower(), f"{who!r} stored in answers"
        members = {m for (m,) in t.rows("SELECT member FROM answers")}
        assert all(PSEUDONYM.match(str(m)) for m in members), members
        assert members == {store.pseudonym(who) for who in PEOPLE_ANSWER}

        # A person's export finds their answers, and nobody else's.
        now = t.clock.now()
        mine = await privacy.export_person(store, "anna", actor="admin:test", now=now)
        assert sorted(a["value"] for a in mine["answers"]) == sorted(PEOPLE_ANSWER["anna"])

        # A team export names who answered, and keeps an anonymous answer anonymous.
        team_id = (await store.teams())[0].id
        export = await privacy.export_team(
            store, team_id, actor="admin:test", flows=t.runtime.runs.flows, now=now
        )
        shown: dict[str, Any] = {}
        for answer in export["answers"]:
            shown.setdefault(answer["question"], []).append((answer["member"], answer["value"]))
        assert sorted(shown["les"]) == [(who, les) for who, (les, _) in PEOPLE_ANSWER.items()]
        assert sorted(shown["gevoel"]) == [
            ("anonymous", gevoel) for (_, gevoel) in PEOPLE_ANSWER.values()
        ]

        # Forget finds them by their pseudonym: their answers go, the others' stay.
        erased = await privacy.forget(store, "anna", actor="admin:test", now=now)
        assert erased.counts["answers"] == 2
        left = {str(m) for (m,) in t.rows("SELECT member FROM answers")}
        assert left == {store.pseudonym("bram"), store.pseudonym("cor")}
        mine = await privacy.export_person(store, "anna", actor="admin:test", now=now)
        assert mine["answers"] == []


# ---------------------------------------------------------------------- group titles

IDS = iter(range(70_000, 80_000))
NOORD, ZUID = "Wijkteam Noord", "Wijkteam Zuid"
OTHER_GROUP = -1009876543210


def _typed(name: str, text: str, *, chat: Chat) -> dict[str, Any]:
    head = text.split(" ")[0]
    entities = [MessageEntity(MessageEntity.BOT_COMMAND, 0, len(head))]
    who = User(PEOPLE[name], name.capitalize(), False)
    message = Message(next(IDS), START, chat, from_user=who, text=text, entities=entities)
    return Update(next(IDS), message=message).to_dict()


@pytest.fixture
async def group(tmp_path: Path) -> AsyncIterator[Group]:
    clock = FakeClock(START)
    fake = fake_on(clock)
    await fake.start()
    try:
        async with telegram_world(tmp_path, clock, fake) as made:
            yield made
    finally:
        await fake.stop()


async def test_group_titles_are_sealed_at_rest_and_still_name_the_teams(group: Group) -> None:
    zuid = Chat(OTHER_GROUP, Chat.SUPERGROUP, title=ZUID)
    noord = Chat(GROUP, Chat.SUPERGROUP, title=NOORD)
    private = Chat(PEOPLE["anna"], Chat.PRIVATE, first_name="Anna")
    await group.deliver_update(_typed("anna", "/samen", chat=zuid))  # Zuid is the older team
    await group.wait(timedelta(seconds=5))
    await group.deliver_update(_typed("anna", "/samen", chat=noord))
    await group.wait(timedelta(seconds=5))
    store = group.runtime.store

    # At rest: sealed, the titles readable nowhere in the database files.
    database = Path(str(store.engine.url.database))
    with sqlite3.connect(database) as db:
        raw = db.execute("SELECT name FROM teams").fetchall()
    assert len(raw) == 2 and all(str(name).startswith("sealed:") for (name,) in raw), raw
    for path in database.parent.glob(database.name + "*"):
        blob = path.read_bytes()
        assert b"Wijkteam" not in blob, f"a group title in {path.name}"

    # In use: the store reads them, sorts by them (in Python), and the bot names its
    # teams by them in a private chat and finds a team by the name typed.
    assert [t.name for t in await store.teams()] == [ZUID, NOORD]
    assert [t.name for t in await store.teams(by_name=True)] == [NOORD, ZUID]
    await group.deliver_update(_typed("anna", "/samen afwezig tot 2026-12-04", chat=private))
    await group.wait(timedelta(seconds=5))
    said = group.texts("anna")
    assert "Over welk team gaat dit?" in said and NOORD in said and ZUID in said
    await group.deliver_update(
        _typed("anna", "/samen afwezig tot 2026-12-04 in wijkteam zuid", chat=private)
    )
    await group.wait(timedelta(seconds=5))
    away = {}
    for team in await store.teams():
        for member in await store.members(team.id):
            away[team.name] = member.absent_until
    assert away[NOORD] is None and away[ZUID] is not None
