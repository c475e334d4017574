"""Scenarios through the FULL runtime with the real Telegram adapter against the fake Bot
API (the Telegram world of tests/harness/telegram.py): python-telegram-bot polling the fake
(one scenario in webhook mode), time on a FakeClock that the fake's rate limits follow too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.telegram import TelegramAdapter
from bot.core.effects import Message, MessageKind, OptionView, QuestionView
from bot.runtime.clock import FakeClock
from bot.runtime.delivery import Delivery
from bot.store import privacy
from bot.store.tables import AccessLogRow, AnswerRow, InboxRow, MemberRow, OutboxRow
from bot.wiring import Runtime
from tests.harness.fake_telegram import BOT, TOKEN, FakeTelegram
from tests.harness.telegram import (
    GROUP,
    PEOPLE,
    Group,
    fake_on,
    open_group,
    polling_adapter,
    telegram_world,
)
from tests.harness.world import START


async def count(runtime: Runtime, model: type[Any], *where: Any) -> int:
    async with runtime.store.engine.connect() as conn:
        result = await conn.execute(select(func.count()).select_from(model).where(*where))
        return int(result.scalar_one())


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def limited_fake(clock: FakeClock) -> AsyncIterator[FakeTelegram]:
    server = fake_on(clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def team(
    tmp_path: Path, clock: FakeClock, limited_fake: FakeTelegram
) -> AsyncIterator[Group]:
    async with telegram_world(tmp_path, clock, limited_fake) as group:
        yield group


# ---------------------------------------------------------------------------- scenarios


async def test_alignment_before_a_visit_with_a_member_who_has_not_started_the_bot(
    team: Group,
) -> None:
    team.fake.not_started.add(PEOPLE["bram"])
    await team.say("anna", "/samen")
    await team.say("bram", "/samen")
    await team.say("anna", "/samen bezoek 2026-11-24 14:00")
    assert "begint ma 23 nov 14:00" in team.texts(None)
    await team.wait(timedelta(hours=5))

    # Anna has a private chat: her form arrived there.
    [form] = [m for m in team.sent_to("anna") if "Hoe zit je erbij" in m["text"]]
    # Bram has not: ONE deep link in the group, by first name, in Dutch.
    links = re.findall(r"https://t\.me/SamenTestBot\?start=([A-Za-z0-9_-]+)", team.texts(None))
    assert len(links) == 1
    assert "Bram, er staan vragen voor je klaar" in team.texts(None)
    assert team.sent_to("bram") == []
    parked = await count(team.runtime, OutboxRow, OutboxRow.status == "waiting")
    assert parked >= 1
    await team.wait(timedelta(minutes=30))  # more time, maybe reminders: still one link
    assert len(re.findall(r"start=", team.texts(None))) == 1

    # Bram presses Start: the link's /start arrives in his private chat, and what waited
    # for him goes out there.
    team.fake.not_started.discard(PEOPLE["bram"])
    await team.say("bram", f"/start {links[0]}", private=True)
    assert "Hoe zit je erbij" in team.texts("bram")
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "waiting") == 0
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0

    # Anna answers by button and by reply; her form is edited in place, not sent again.
    sent_before = len(team.sent_to("anna"))
    await team.press("anna", form, "Het gesprek leiden")
    await team.say("anna", "1 Nieuwsgierig", private=True, reply_to=form["message_id"])
    await team.say("anna", "3 -", private=True, reply_to=form["message_id"])
    # She changes her mind: the answer is edited, the message too.
    await team.press("anna", form, "Ondersteunen")
    edits = team.edits_of("anna")
    assert edits and all(int(e["message_id"]) == form["message_id"] for e in edits)
    assert "Ondersteunen" in edits[-1]["text"]
    assert len(team.sent_to("anna")) == sent_before
    roles = await _answers(team.runtime, "rol")
    assert roles == {"101": "ondersteunen"}
    assert team.fake.limited == 0


async def _answers(runtime: Runtime, question: str) -> dict[str, Any]:
    """The answers to `question` by the platform id of who gave them (they are stored by
    the person's pseudonym: mapped back through the members)."""
    async with runtime.store.engine.connect() as conn:
        rows = await conn.execute(
            select(AnswerRow.member, AnswerRow.value).where(AnswerRow.question == question)
        )
        users = list(await conn.scalars(select(MemberRow.user)))
    person = {runtime.store.pseudonym(user): user for user in users}
    return {person.get(member, member): value for member, value in rows}


async def test_the_intervision_in_a_group_rings_its_bells_within_the_group_limit(
    team: Group,
) -> None:
    await team.say("anna", "/samen")
    await team.say("anna", "/samen rol @101 voorzitter")
    await team.say("bram", "/samen")
    await team.say("cor", "/samen")
    await team.say("anna", "/samen intervisie 2026-11-27 14:00")
    assert "Genoteerd" in team.texts(None)
    await team.wait(timedelta(days=4, hours=6, seconds=1))
    assert "Stap 1" in team.texts(None)
    await team.say("cor", "/bel pauze")  # not the chair: a refusal, to cor only
    assert "Cor: " in team.texts(None)
    await team.say("anna", "/bel +5")
    await team.wait(timedelta(minutes=30))
    group = team.texts(None)
    assert "🔔" in group and "Stap 2" in group

    # The time left and the extension live in ONE pinned status message, edited in place.
    status_edits = [
        c.args for c in team.fake.called("editMessageText") if int(c.args["chat_id"]) == GROUP
    ]
    assert status_edits, "the status message was never edited"
    [pinned] = team.fake.pinned[GROUP]
    assert {int(e["message_id"]) for e in status_edits} == {pinned}
    assert len(team.fake.called("pinChatMessage")) == 1
    # Bells are new messages, and no call was refused: 0 x 429.
    assert any("🔔" in m["text"] for m in team.sent_to(None))
    assert team.fake.limited == 0
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0


async def test_an_evaluation_moment_nudges_the_owner_privately(team: Group) -> None:
    await team.say("cor", "/samen traject T-0412 2026-05-25")
    assert "Traject T-0412 staat genoteerd" in team.texts(None)
    await team.say("cor", "/start", private=True)  # cor has a private chat with the bot
    await team.wait(timedelta(days=2, hours=2))
    # The nudge and its question reach the owner in their private chat, not the group.
    assert "Evaluatiemoment voor traject T-0412 (gestart 25 mei 2026, 6 maanden)" in team.texts(
        "cor"
    )
    assert "Hoe pak je dit evaluatiemoment op?" in team.texts("cor")
    assert "Evaluatiemoment voor traject" not in team.texts(None)
    assert team.fake.limited == 0


async def test_forget_deletes_the_persons_messages_and_reports_what_telegram_refuses(
    team: Group,
) -> None:
    """Messages to the person are deleted; Telegram refuses those older than 48 hours:
    that is recorded once, never retried, and no delete row is left behind."""
    await team.say("cor", "/samen traject T-0412 2026-05-25")  # "Cor: ..." in the group
    # He writes to the bot privately (a plain /start would also be greeted, issue 19).
    await team.say("cor", "hallo", private=True)
    await team.wait(timedelta(days=2, hours=2))  # the nudge and its question, privately
    [noted] = [m for m in team.sent_to(None) if m["text"].startswith("Cor: Traject T-0412")]
    assert len(team.sent_to("cor")) == 2
    cor = str(PEOPLE["cor"])
    result = await privacy.forget(team.runtime.store, cor, actor="admin:t", now=team.clock.now())
    assert result.deletions_queued == 3
    assert await count(team.runtime, OutboxRow, OutboxRow.op == "delete") == 3

    await team.settle()
    assert team.sent_to("cor") == []  # two hours old: deleted
    assert team.sent_to(None) == [noted]  # fifty hours old: Telegram refused
    assert len(team.fake.called("deleteMessage")) == 3
    await team.wait(timedelta(hours=1))
    assert len(team.fake.called("deleteMessage")) == 3  # a refusal is not retried
    assert await count(team.runtime, OutboxRow, OutboxRow.op == "delete") == 0
    async with team.runtime.store.engine.connect() as conn:
        log = (
            await conn.execute(
                select(AccessLogRow).where(AccessLogRow.action == "erase").order_by(AccessLogRow.id)
            )
        ).all()
    audit = team.runtime.store.db.audit
    assert [r.subject for r in log] == [f"person:{audit.pseudonym(cor)}"] * 2
    assert log[1].what == "platform message not deleted on telegram: message_cant_be_deleted"
    assert team.fake.limited == 0


async def test_the_same_update_twice_is_one_step(team: Group) -> None:
    update = team.message_update("anna", "/samen status")
    await team.adapter.receive(update)  # the first copy (Telegram sends it again when its
    await team.deliver_update(update)  # confirmation was lost): through the polling loop
    assert str(update["update_id"]) in team.seen
    assert await count(team.runtime, InboxRow) == 1
    assert len(team.sent_to(None)) == 1


async def test_webhook_mode_refuses_a_wrong_secret_and_absorbs_a_repeat(
    tmp_path: Path, clock: FakeClock, limited_fake: FakeTelegram
) -> None:
    adapter = TelegramAdapter(
        token=TOKEN,
        api_url=limited_fake.base_url,
        mode="webhook",
        webhook_url="https://samen.example/telegram",
        host="127.0.0.1",
        port=0,
    )
    scenario = await open_group(tmp_path, clock, limited_fake, adapter)
    try:
        [registered] = limited_fake.called("setWebhook")
        assert registered.args["secret_token"] == adapter.secret
        url = f"http://127.0.0.1:{adapter.port}/telegram"
        update = scenario.message_update("anna", "/samen status")
        async with aiohttp.ClientSession() as http:
            for secret in (None, "wrong", str(adapter.secret)[:-1] + "x"):
                headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 403
            assert await count(scenario.runtime, InboxRow) == 0  # nothing stored
            right = {"X-Telegram-Bot-Api-Secret-Token": str(adapter.secret)}
            for _ in range(2):  # Telegram repeats an update it thinks was not received
                async with http.post(url, json=update, headers=right) as response:
                    assert response.status == 200
        await scenario.settle()
        assert await count(scenario.runtime, InboxRow) == 1
        [status] = scenario.sent_to(None)
        assert status["text"].startswith("Anna: ")
    finally:
        await scenario.close()


def _bot_member_update(update_id: int, before: str, after: str) -> dict[str, Any]:
    bot_user = {k: BOT[k] for k in ("id", "is_bot", "first_name", "username")}
    old: dict[str, Any] = {"status": before, "user": bot_user}
    new: dict[str, Any] = {"status": after, "user": bot_user}
    for member in (old, new):
        if member["status"] == "kicked":
            member["until_date"] = 0  # the API's shape for a ban without end
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": {"id": GROUP, "type": "supergroup", "title": "Wijkteam Noord"},
            "from": {"id": PEOPLE["anna"], "is_bot": False, "first_name": "Anna"},
            "date": 1700000000,
            "old_chat_member": old,
            "new_chat_member": new,
        },
    }


async def test_the_bot_added_to_a_group_greets_it_and_removed_stays_quiet(team: Group) -> None:
    await team.deliver_update(_bot_member_update(7001, "left", "member"))
    # The fake group lists no administrators: the person who added Samen coordinates.
    coordinates, hello = team.sent_to(None)
    assert coordinates["text"].startswith("Anna coördineert dit team in Samen")
    assert hello["text"].startswith("Anna: Dank je! Samen helpt dit team")
    assert "één keer op Start in een gesprek met mij" in hello["text"]
    store = team.runtime.store
    found = await store.team_for_channel("telegram", str(GROUP), now=team.clock.now())
    assert found.name == "Wijkteam Noord"
    await team.deliver_update(_bot_member_update(7002, "member", "kicked"))
    assert len(team.sent_to(None)) == 2
    assert await count(team.runtime, InboxRow, InboxRow.status == "done") == 2


async def test_a_group_upgraded_to_a_supergroup_takes_its_team_along(team: Group) -> None:
    old, new = str(GROUP), "-1009999999999"
    await team.say("anna", "/samen")
    store = team.runtime.store
    before = await store.team_for_channel("telegram", old, now=team.clock.now())
    update = team.message_update("anna", "")
    message = update["message"]
    del message["text"]
    message["chat"] = {"id": GROUP, "type": "group", "title": "Wijkteam Noord"}
    message["migrate_to_chat_id"] = int(new)
    await team.deliver_update(update)
    moved = await store.get_team(before.id)
    assert moved is not None and moved.channel == new


async def test_a_send_to_a_migrated_group_moves_the_team_and_goes_to_the_new_id(
    team: Group,
) -> None:
    new = -1009999999999
    await team.say("anna", "/samen")
    store = team.runtime.store
    before = await store.team_for_channel("telegram", str(GROUP), now=team.clock.now())
    team.fake.fail_next(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": new},
    )
    await team.say("anna", "/samen status")
    moved = await store.get_team(before.id)
    assert moved is not None and moved.channel == str(new)
    [status] = [m for m in team.fake.messages if m["chat"]["id"] == new]
    assert status["text"].startswith("Anna: ")
    assert await count(team.runtime, OutboxRow, OutboxRow.status == "failed") == 0


async def test_a_restart_loses_no_token_reply_routing_or_start_state(
    tmp_path: Path, clock: FakeClock, limited_fake: FakeTelegram
) -> None:
    """Everything the adapter must remember is in the store: after a restart (a new
    adapter, a new runtime on the same database) replies still route, long callback
    data still resolves, and a person who has not started the bot is still known."""
    adapter = polling_adapter(limited_fake)
    team = await open_group(tmp_path, clock, limited_fake, adapter)
    limited_fake.not_started.add(PEOPLE["bram"])
    await team.say("anna", "/samen")
    await team.say("bram", "/samen")
    await team.say("anna", "/samen bezoek 2026-11-24 14:00")
    await team.wait(timedelta(hours=5))
    [form] = [m for m in team.sent_to("anna") if "Hoe zit je erbij" in m["text"]]
    [token] = re.findall(r"\?start=([A-Za-z0-9_-]+)", team.texts(None))
    long = QuestionView(
        "een-stap-met-een-lange-naam",
        "een-vraag-met-een-lange-naam",
        "choice",
        "Vraag?",
        options=(OptionView("een-optie-met-een-lange-naam", "Lang"),),
    )
    # A form of the running visit (a press on a form of a run that does not exist is
    # answered on the button and not stored: bot/runtime/presses.py).
    row = await team.runtime.store.team_for_channel("telegram", str(GROUP), now=clock.now())
    [run] = await team.runtime.store.active_runs(row.id)
    drawn = await adapter.deliver(
        Delivery(
            999, "send", "dm:101", Message(MessageKind.form, "?", questions=(long,)), run=run.id
        )
    )
    assert drawn.ok
    [drawn_message] = [m for m in team.sent_to("anna") if m["text"].startswith("?")]
    await team.close()

    restarted = polling_adapter(limited_fake)
    team = await open_group(tmp_path, clock, limited_fake, restarted)
    try:
        assert await restarted.chat_state(str(PEOPLE["bram"])) == "blocked"
        await team.say("anna", "1 Nieuwsgierig", private=True, reply_to=form["message_id"])
        assert await _answers(team.runtime, "erbij") == {"101": "Nieuwsgierig"}
        await team.press("anna", drawn_message, "Lang")
        async with team.runtime.store.engine.connect() as conn:
            payloads = (await conn.execute(select(InboxRow.payload))).scalars().all()
        assert any(p.get("question") == "een-vraag-met-een-lange-naam" for p in payloads)
        limited_fake.not_started.discard(PEOPLE["bram"])
        await team.say("bram", f"/start {token}", private=True)
        assert "Hoe zit je erbij" in team.texts("bram")
        assert len(re.findall(r"\?start=", team.texts(None))) == 1
    finally:
        await team.close()


async def test_a_look_back_waits_for_everyones_part_and_klaar_leaves_the_optional_one(
    team: Group,
) -> None:
    """Issue 20: the look back closed as soon as the required answers were in, taking the
    private optional question away; a reply's leading number was stored in the answer."""
    for name in ("anna", "bram", "cor"):
        await team.say(name, "/samen", private=True)
        await team.say(name, "/samen")
    await team.say("anna", "/samen rol @101 voorzitter")
    await team.say("anna", "/samen start terugblik")
    forms = {n: next(m for m in team.sent_to(n) if "aan de tijd" in m["text"]) for n in PEOPLE}
    assert (
        "3. Antwoord in een paar woorden. Overslaan: typ - (of overslaan)."
        in (forms["anna"]["text"])
    )
    for name in ("anna", "bram", "cor"):
        await team.press(name, forms[name], "4")
        await team.press(name, forms[name], "Ja")
    # Everyone answered the required questions: the form stays open for the private one.
    assert "Terugblik" not in team.texts(None)
    await team.say(
        "anna", "3 Het einde eerder noemen", private=True, reply_to=forms["anna"]["message_id"]
    )
    assert await _answers(team.runtime, "meenemen") != {}
    await team.press("bram", forms["bram"], "Klaar")
    assert "Terugblik" not in team.texts(None)  # cor's part is not done yet
    await team.say("cor", "klaar", private=True, reply_to=forms["cor"]["message_id"])
    assert "Terugblik" in team.texts(None)
    assert "Het einde eerder noemen" not in team.texts(None)  # private stays private


async def test_a_summary_longer_than_one_telegram_message_arrives_whole_in_parts(
    team: Group,
) -> None:
    """Issue 20: a summary over 4,096 characters was cut; the answers after the cut never
    reached the group."""
    for name in ("anna", "bram", "cor"):
        await team.say(name, "/samen", private=True)
        await team.say(name, "/samen")
    await team.say("anna", "/samen start voorbereiding")
    long = {
        name: f"{name.upper()}-BEGIN " + " ".join(f"{name}{n}" for n in range(350)) + " EINDE"
        for name in PEOPLE
    }
    for name in PEOPLE:
        form = next(m for m in team.sent_to(name) if "Hoe zit je erbij" in m["text"])
        await team.say(name, f"1 {long[name]}", private=True, reply_to=form["message_id"])
        await team.press(name, form, "Ondersteunen")
        await team.press(name, form, "Klaar")
    summary = [m["text"] for m in team.sent_to(None) if "Hoe zit je erbij" in m["text"]]
    parts = [m["text"] for m in team.sent_to(None) if re.search(r"\(\d/\d\)$", m["text"])]
    assert len(parts) >= 2 and all(len(p) <= 4096 for p in parts)
    group = "\n".join(parts)
    for name in PEOPLE:
        assert long[name] in group, name  # every answer arrives, whole
    assert summary and "…" not in "".join(parts)
