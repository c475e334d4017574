"""The roddelmethode through the real runtime on the console, Telegram and Slack: the chair
picks a case from the titles the team wrote, its author becomes the presenter and is left
out of the private question of the timed gossip phase, also across a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.base import Inbound
from bot.runtime.clock import FakeClock
from tests.harness.console import Team, console_world
from tests.harness.slack import TEAM_CHANNEL, dm, slack_world
from tests.harness.telegram import PEOPLE, fake_on, telegram_world
from tests.harness.world import START

PACE = timedelta(seconds=3)  # the outbox sends a person's messages a moment apart


def answer(run: str, who: str, value: str, n: int) -> Inbound:
    """An answer as a platform delivers it from the person's private chat."""
    payload = {
        "run": run,
        "step": "roddelen",
        "question": "meegeven",
        "value": value,
        "answer_kind": "value",
    }
    return Inbound("console", f"a-{n}", "answer", f"D-{who}", who, payload, user_name=who)


async def run_id(team: Team) -> str:
    store = team.runtime.store
    row = await store.team_for_channel("console", "team", now=team.clock.now())
    (run,) = await store.active_runs(row.id)
    return str(run.id)


async def test_the_presenter_picked_in_chat_is_left_out_even_after_a_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with console_world(tmp_path, data=data, between=PACE) as team:
        await team.type("/als anna", "/samen rol @anna voorzitter")
        await team.type("/als bram", "/samen", "/als cor", "/samen", "/als dirk", "/samen")
        await team.type("/als anna", "/samen start roddelmethode")
        await team.type("/als anna", "/a 1 Een gezin dat steeds afzegt")
        await team.type("/als bram", "/a 1 Vastgelopen overdracht")
        await team.type("/als cor", "/a 1 Twijfel over afsluiten")
        await team.type("/als dirk", "/a 1 Boze vader")
        # The console offers the titles by who wrote them (the option ids).
        assert "brengt hem in.\n    ↳ Antwoorden: /a <nummer> <antwoord>" in team.said()
        assert "1. Kies één: 1 = Een gezin dat steeds afzegt (Anna), 2 = " in team.said()
        await team.type("/als anna", "/a 1 cor")  # Cor's case: Cor presents it
        assert "1 — Inbreng" in team.said()
        mark = len(team.printed)
        await team.wait(timedelta(minutes=20, seconds=30))
        gossip = team.since(mark)
        assert "[DM cor] Samen: Nu praten de anderen over je casus" in gossip
        for other in ("anna", "bram", "dirk"):
            assert f"[DM {other}] Samen: 3 — Roddelen\n    Wat wil je de inbrenger" in gossip
        assert "[DM cor] Samen: 3 — Roddelen" not in gossip
        now, run = team.clock.now(), await run_id(team)
    # Samen restarts during the gossip phase: the presenter is still the presenter.
    async with console_world(tmp_path, data=data, start=now, between=PACE) as team:
        mark = len(team.printed)
        await team.runtime.inbound(answer(run, "cor", "Ik wil ook iets zeggen", 1))
        await team.runtime.inbound(answer(run, "bram", "Vraag de school om hulp", 2))
        await team.wait(timedelta(minutes=15, seconds=30))
        after = team.since(mark)
        assert "Deze vraag is niet aan jou gesteld." in after
        assert "Wat de groep je meegeeft" in after and "Vraag de school om hulp" in after
        assert "Ik wil ook iets zeggen" not in after
        assert "4 — Reactie van de inbrenger" in after


async def test_on_telegram_the_chair_picks_a_title_by_its_button_and_its_author_listens(
    tmp_path: Path,
) -> None:
    clock = FakeClock(START)
    fake = fake_on(clock)
    await fake.start()
    try:
        async with telegram_world(tmp_path, clock, fake) as team:
            for who in ("anna", "bram", "cor"):
                await team.say(who, "/samen")
                await team.say(who, "/start", private=True)
            await team.say("anna", f"/samen rol @{PEOPLE['anna']} voorzitter")
            await team.say("anna", "/samen start roddelmethode")
            for who, title in (("anna", "Een gezin"), ("bram", "Overdracht"), ("cor", "Twijfel")):
                [form] = [m for m in team.sent_to(who) if "Welke casus zou" in m["text"]]
                await team.say(who, f"1 {title}", private=True, reply_to=form["message_id"])
            [choice] = [m for m in team.sent_to("anna") if "Welke casus bespreken" in m["text"]]
            labels = [b["text"] for row in choice["reply_markup"]["inline_keyboard"] for b in row]
            assert labels == ["1 Een gezin (Anna)", "1 Overdracht (Bram)", "1 Twijfel (Cor)"]
            await team.press("anna", choice, "Twijfel (Cor)")
            await team.wait(timedelta(minutes=20, seconds=30))
            assert "Luister alleen" in team.texts("cor")
            assert "Wat wil je de inbrenger" in team.texts("bram")
            assert "Wat wil je de inbrenger" in team.texts("anna")
            assert "Wat wil je de inbrenger" not in team.texts("cor")
            assert "Twijfel (Cor)" not in team.texts(None)  # the titles stay with the chair
    finally:
        await fake.stop()


async def test_on_slack_titles_by_modal_a_title_by_button_and_its_author_presents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna, bram, cor = "U0ANNA", "U0BRAM", "U0COR"
    async with slack_world(tmp_path, monkeypatch) as slack:
        for user in (anna, bram, cor):
            assert await slack.slash(user, "help") == 200
        assert await slack.slash(anna, f"rol <@{anna}> voorzitter") == 200
        assert await slack.slash(anna, "start roddelmethode") == 200
        await slack.wait(timedelta(seconds=10))
        for user, title in ((anna, "Een gezin"), (bram, "Overdracht"), (cor, "Twijfel")):
            form = slack.last(dm(user), "Welke casus zou")
            assert await slack.open_and_submit(user, form, {"titel": title}) == 200
        await slack.wait(timedelta(seconds=10))
        choice = slack.last(dm(anna), "Welke casus bespreken")
        button = slack.button(choice, "Twijfel (cor)")
        assert await slack.click(anna, choice, button["action_id"]) == 200
        await slack.wait(timedelta(seconds=10))
        await slack.wait(timedelta(minutes=20, seconds=30))
        assert slack.posted(dm(cor), "Luister alleen")
        assert slack.posted(dm(bram), "Wat wil je de inbrenger")
        assert slack.posted(dm(anna), "Wat wil je de inbrenger")
        assert not slack.posted(dm(cor), "Wat wil je de inbrenger")
        assert not slack.posted(TEAM_CHANNEL, "Twijfel (cor)")  # the titles stay private
