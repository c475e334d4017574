"""Button presses that can no longer change anything (the run ended or is gone, the form
belongs to another group, Telegram no longer shows the bot the message, a token no store
knows) are answered on the button itself, with answerCallbackQuery's text, and nothing
else: no message in the group or the private chat, nothing in the inbox. A press that
still counts goes on as before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import telegram as tg
from sqlalchemy import update

from bot.store.tables import RunRow
from tests.harness.telegram import GROUP, PEOPLE, Group

NOTICE = "Die vraag hoort bij iets dat niet meer loopt."


@pytest.fixture
async def team(world: Group) -> Group:
    """Anna (with a private chat) has a visit's form with buttons."""
    await world.say("anna", "/samen")
    await world.say("anna", "/samen", private=True)  # her private chat is open
    await world.say("anna", "/samen bezoek 2026-11-24 14:00")
    await world.wait(timedelta(hours=5))
    return world


def the_form(team: Group) -> dict[str, Any]:
    forms = [m for m in team.sent_to("anna") if m.get("reply_markup")]
    assert forms, "no form with buttons reached Anna"
    return forms[0]


def first_button(message: dict[str, Any]) -> str:
    return str(message["reply_markup"]["inline_keyboard"][0][0]["text"])


async def outcome(team: Group, press: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The Bot API calls a press caused (besides polling), and answerCallbackQuery's args."""
    before = len(team.fake.calls)
    await press
    calls = [c for c in team.fake.calls[before:] if c.method != "getUpdates"]
    answers = [c.args for c in calls if c.method == "answerCallbackQuery"]
    return [c.method for c in calls], answers


async def test_a_press_on_a_form_of_an_ended_run_gets_a_notice_on_the_button(
    team: Group,
) -> None:
    form = the_form(team)
    async with team.runtime.store.engine.begin() as conn:
        await conn.execute(update(RunRow).values(status="done"))
    methods, answers = await outcome(team, team.press("anna", form, first_button(form)))
    assert methods == ["answerCallbackQuery"]
    assert answers[0]["text"] == NOTICE


async def test_a_press_on_a_form_of_a_run_that_is_gone(team: Group) -> None:
    """A button whose data names a run this database does not have (purged, or a button
    from before a database was wiped)."""
    form = the_form(team)
    gone = {"text": "Ja", "callback_data": f"a|{'0' * 16}|vooraf|klaar|ja"}
    old = {**form, "reply_markup": {"inline_keyboard": [[gone]]}}
    methods, answers = await outcome(team, team.press("anna", old, "Ja"))
    assert methods == ["answerCallbackQuery"]
    assert answers[0]["text"] == NOTICE


async def test_a_press_from_another_group_on_this_teams_form(team: Group) -> None:
    form = the_form(team)
    elsewhere = {**form, "chat": {"id": -100555, "type": "supergroup", "title": "Ander team"}}
    methods, answers = await outcome(team, team.press("anna", elsewhere, first_button(form)))
    assert methods == ["answerCallbackQuery"]
    assert answers[0]["text"] == NOTICE


@pytest.mark.parametrize("data", ["k|no-such-token", None])
async def test_a_press_on_a_message_telegram_no_longer_shows(team: Group, data: str | None) -> None:
    chat = tg.Chat(GROUP, tg.Chat.SUPERGROUP, title="Wijkteam Noord")
    anna = tg.User(PEOPLE["anna"], "Anna", is_bot=False)
    query = tg.CallbackQuery("cb-old", anna, "-1", tg.InaccessibleMessage(chat, 4), data=data)
    update_ = tg.Update(next(team._ids), callback_query=query).to_dict()
    methods, answers = await outcome(team, team.deliver_update(update_))
    assert methods == ["answerCallbackQuery"]
    assert answers[0]["text"] == NOTICE


async def test_a_press_that_still_counts_is_stored_and_answered_without_a_notice(
    team: Group,
) -> None:
    form = the_form(team)
    methods, answers = await outcome(team, team.press("anna", form, first_button(form)))
    assert "answerCallbackQuery" in methods
    assert "text" not in answers[0]
