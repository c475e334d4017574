"""Issue 19 through the full runtime and the real Telegram adapter polling the fake Bot
API: private chats, first coordinators (getChatAdministrators), people who leave, a
person who blocks the bot, and a forged run id in a button. Every update is built with
python-telegram-bot's own classes (`telegram.Update(...).to_dict()`)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    CallbackQuery,
    Chat,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberUpdated,
    Message,
    MessageEntity,
    Update,
    User,
)

from bot.runtime.clock import FakeClock
from tests.harness.fake_telegram import BOT
from tests.harness.telegram import GROUP, PEOPLE, Group, fake_on, telegram_world
from tests.harness.world import START

IDS = itertools.count(90_000)
WHEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
OTHER_GROUP = -1009876543210
BOT_USER = User(BOT["id"], BOT["first_name"], True, username=BOT["username"])


def person(name: str) -> User:
    return User(PEOPLE[name], name.capitalize(), False)


def group_chat(chat_id: int = GROUP) -> Chat:
    title = "Wijkteam Noord" if chat_id == GROUP else "Wijkteam Zuid"
    return Chat(chat_id, Chat.SUPERGROUP, title=title)


def private_chat(name: str) -> Chat:
    return Chat(PEOPLE[name], Chat.PRIVATE, first_name=name.capitalize())


def typed(name: str, text: str, *, private: bool = False, group: int = GROUP) -> dict[str, Any]:
    chat = private_chat(name) if private else group_chat(group)
    head = text.split(" ")[0]
    entities = [MessageEntity(MessageEntity.BOT_COMMAND, 0, len(head))]
    message = Message(next(IDS), WHEN, chat, from_user=person(name), text=text, entities=entities)
    return Update(next(IDS), message=message).to_dict()


def bot_membership(chat: Chat, by: User, old: Any, new: Any) -> dict[str, Any]:
    change = ChatMemberUpdated(chat, by, WHEN, old, new)
    return Update(next(IDS), my_chat_member=change).to_dict()


def member_change(name: str, old: Any, new: Any) -> dict[str, Any]:
    change = ChatMemberUpdated(group_chat(), person(name), WHEN, old, new)
    return Update(next(IDS), chat_member=change).to_dict()


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Group]:
    clock = FakeClock(START)
    fake = fake_on(clock)
    await fake.start()
    try:
        async with telegram_world(tmp_path, clock, fake) as group:
            yield group
    finally:
        await fake.stop()


async def press(team: Group, name: str, message: dict[str, Any], data: str) -> None:
    """`name` presses a button with callback `data` on `message` (as the chat shows it)."""
    query = CallbackQuery(
        f"cb{next(IDS)}", person(name), "1", message=Message.de_json(message, None), data=data
    )
    await team.deliver_update(Update(next(IDS), callback_query=query).to_dict())


async def pause(team: Group) -> None:
    await team.wait(timedelta(seconds=5))  # the outbox paces a chat's messages


async def privately(team: Group, name: str, *texts: str) -> None:
    """`name` types each of `texts` in their private chat with the bot."""
    for text in texts:
        await team.deliver_update(typed(name, text, private=True))
        await pause(team)


async def test_commands_in_a_private_chat_and_the_start_greeting(team: Group) -> None:
    await team.deliver_update(typed("anna", "/samen"))
    await privately(team, "anna", "/start", "/samen help", "/samen open", "/samen evaluaties")
    said = team.texts("anna")
    assert "Hallo! Ik ben Samen" in said and "(Wijkteam Noord)" in said
    assert "Samen helpt je team" in said
    assert "Je hebt geen openstaande vragen." in said
    assert "evaluatie" in said.lower()
    teams = await team.runtime.store.teams()
    assert [t.channel for t in teams] == [str(GROUP)]  # the private chat made no team


async def test_group_administrators_become_the_first_coordinators_once(team: Group) -> None:
    team.fake.administrators[GROUP] = [
        ChatMemberOwner(person("bram"), False).to_dict(),
        ChatMemberAdministrator(person("cor"), False, *([False] * 11)).to_dict(),
        ChatMemberAdministrator(BOT_USER, False, *([False] * 11)).to_dict(),
    ]
    added = bot_membership(
        group_chat(), person("anna"), ChatMemberLeft(BOT_USER), ChatMemberMember(BOT_USER)
    )
    await team.deliver_update(added)
    await pause(team)
    group = team.texts(None)
    assert group.count("Bram en Cor coördineren dit team in Samen") == 1
    assert "Dank je! Samen helpt dit team" in group
    # Anna added the bot but is no administrator: she may not hand out roles.
    await team.deliver_update(typed("anna", "/samen rol @102 voorzitter"))
    await pause(team)
    assert "Alleen een coördinator van dit team" in team.texts(None)
    await team.deliver_update(typed("bram", "/samen rol @101 voorzitter"))
    await pause(team)
    assert "Anna heeft nu de rol voorzitter." in team.texts(None)
    assert team.texts(None).count("dit team in Samen") == 1


async def test_a_member_who_leaves_the_group_is_marked_left(team: Group) -> None:
    await team.deliver_update(typed("anna", "/samen"))
    await team.deliver_update(typed("bram", "/samen"))
    left = member_change("bram", ChatMemberMember(person("bram")), ChatMemberLeft(person("bram")))
    await team.deliver_update(left)
    store = team.runtime.store
    [found] = await store.teams()
    assert [m.user for m in await store.members(found.id)] == [str(PEOPLE["anna"])]


async def test_a_person_who_blocks_the_bot_gets_the_group_start_link(team: Group) -> None:
    await team.deliver_update(typed("anna", "/samen"))
    await team.deliver_update(typed("bram", "/samen"))
    await team.deliver_update(typed("bram", "/start", private=True))
    await pause(team)
    blocked = bot_membership(
        private_chat("bram"),
        person("bram"),
        ChatMemberMember(BOT_USER),
        ChatMemberBanned(BOT_USER, datetime(1970, 1, 1, tzinfo=UTC)),
    )
    await team.deliver_update(blocked)
    assert await team.adapter.chat_state(str(PEOPLE["bram"])) == "blocked"
    before = len(team.sent_to("bram"))
    await team.deliver_update(typed("anna", "/samen bezoek 2026-11-24 14:00"))
    await team.wait(timedelta(hours=5))
    # Nothing more was tried in bram's private chat; the group holds his start link.
    assert len(team.sent_to("bram")) == before
    assert "Bram, er staan vragen voor je klaar" in team.texts(None)
    # He unblocks the bot: what waited for him arrives.
    unblocked = bot_membership(
        private_chat("bram"),
        person("bram"),
        ChatMemberBanned(BOT_USER, datetime(1970, 1, 1, tzinfo=UTC)),
        ChatMemberMember(BOT_USER),
    )
    await team.deliver_update(unblocked)
    await pause(team)
    assert "Hoe zit je erbij" in team.texts("bram")


async def test_a_forged_run_id_in_a_button_from_another_group_is_refused(team: Group) -> None:
    await team.deliver_update(typed("anna", "/samen"))
    await team.deliver_update(typed("bram", "/samen"))
    await team.deliver_update(typed("anna", "/samen bezoek 2026-11-24 14:00"))
    await team.wait(timedelta(hours=5))
    form = next(m for m in team.sent_to("anna") if m.get("reply_markup"))
    # Cor, of another group, presses a copy of anna's button in his own group's chat.
    forged = dict(form, chat=group_chat(OTHER_GROUP).to_dict())
    button = next(b for row in form["reply_markup"]["inline_keyboard"] for b in row)
    await press(team, "cor", forged, button["callback_data"])
    store = team.runtime.store
    teams = await store.teams()
    members = {m.user for t in teams for m in await store.members(t.id)}
    assert str(PEOPLE["cor"]) not in members
    assert [t.channel for t in teams] == [str(GROUP)]


async def test_a_person_in_two_groups_is_asked_which_team(team: Group) -> None:
    await team.deliver_update(typed("anna", "/samen"))
    await team.deliver_update(typed("anna", "/samen", group=OTHER_GROUP))
    await pause(team)
    await privately(team, "anna", "/samen afwezig tot 2026-12-04")
    said = team.texts("anna")
    assert "Over welk team gaat dit?" in said and "Wijkteam Zuid" in said
    store = team.runtime.store

    async def away() -> dict[str, object]:
        found = {}
        for t in await store.teams():
            for m in await store.members(t.id):
                found[t.name] = m.absent_until
        return found

    assert await away() == {"Wijkteam Noord": None, "Wijkteam Zuid": None}
    # A button per team: pressing one types the command again for that team.
    asked = next(m for m in team.sent_to("anna") if "Over welk team" in m["text"])
    buttons = [b for row in asked["reply_markup"]["inline_keyboard"] for b in row]
    assert sorted(b["text"] for b in buttons) == ["Wijkteam Noord", "Wijkteam Zuid"]
    zuid = next(b for b in buttons if b["text"] == "Wijkteam Zuid")
    await press(team, "anna", asked, zuid["callback_data"])
    await pause(team)
    assert await away() == {"Wijkteam Noord": None, "Wijkteam Zuid": date(2026, 12, 4)}
    # Typed with `in <team>`, any case: back in Zuid.
    await privately(team, "anna", "/samen terug in wijkteam zuid")
    assert await away() == {"Wijkteam Noord": None, "Wijkteam Zuid": None}
    # Open questions look across both teams without asking.
    await privately(team, "anna", "/samen open")
    assert team.texts("anna").count("Over welk team") == 1


async def test_private_replies_speak_the_teams_language(team: Group) -> None:
    await team.deliver_update(typed("anna", "/samen taal en"))
    await privately(team, "anna", "/start", "/samen rol @101 chiar")
    said = team.texts("anna")
    assert "Hello! I am Samen." in said
    assert "I don't know that role. Did you mean 'chair'?" in said


async def test_someone_in_no_team_who_presses_start_is_told_where_samen_starts(
    team: Group,
) -> None:
    await privately(team, "cor", "/start", "/samen open")
    said = team.texts("cor")
    assert said.count("Ik ken je nog niet in een team") == 2
    assert await team.runtime.store.teams() == []  # still no team, nobody enrolled


async def test_a_private_button_of_a_run_that_is_no_more_makes_no_team(team: Group) -> None:
    message = Message(next(IDS), WHEN, private_chat("anna"), from_user=BOT_USER, text="?")
    await press(team, "anna", message.to_dict(), "a|0123456789abcdef|prep|rol|leiden")
    await pause(team)
    assert await team.runtime.store.teams() == []
    # Told on the button itself (answerCallbackQuery), not with a chat message.
    notices = [c.args.get("text") for c in team.fake.calls if c.method == "answerCallbackQuery"]
    assert "Die vraag hoort bij iets dat niet meer loopt." in notices
    assert team.texts("anna") == ""
