"""The roddelmethode through the real runtime (console, SQLite, timers): the chair picks
a case from the titles and a presenter, the presenter is left out of the private question
of the timed gossip phase, and that holds across a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from adapters.base import Inbound
from tests.harness.console import Team, console_world

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
        assert "Welke casus bespreken we?\n    ↳ /a <1-1> <antwoord>; 1: anna, bram, cor, dirk" in (
            team.said()
        )
        await team.type("/als anna", "/a 1 cor", "/a 1 cor")
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
