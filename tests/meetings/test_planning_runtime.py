"""Registering a visit from chat through the real runtime: who takes part, a client
pseudonym, and moving or cancelling the visit with its planned flows."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.harness.console import Team

ANNOUNCED = "Jullie gaan samen op bezoek"


async def join(team: Team) -> None:
    await team.type("/als anna", "/samen", "/als bram", "/samen", "/als cor", "/samen")


def code_in(said: str) -> str:
    codes = re.findall(r"Code ([0-9a-f]{6})", said)
    assert codes, said[-500:]
    return codes[-1]


async def test_a_visit_with_mentions_runs_its_flows_with_exactly_those_people(
    team: Team,
) -> None:
    await join(team)
    # The clock starts at 09:00 on Monday 23 November: preparing starts a day before.
    await team.type("/als anna", "/samen bezoek 2026-11-24 14:00 @anna @bram cliënt K-12")
    said = team.said()
    assert "Met Anna, Bram." in said
    assert "/samen verzet" in said and "/samen afzeggen" in said
    await team.wait(timedelta(hours=5, minutes=1))
    said = team.said()
    assert ANNOUNCED in said
    assert "[DM anna]" in said
    assert "[DM bram]" in said
    assert "[DM cor]" not in said
    # And the look back after the visit goes to the same two, two hours after it.
    await team.wait(timedelta(days=1, hours=2))
    said = team.said()
    assert "Het bezoek zit erop" in said
    assert "[DM cor]" not in said


async def test_a_name_as_client_or_an_unknown_person_gets_a_clear_reply(
    team: Team,
) -> None:
    await join(team)
    await team.type("/als anna", "/samen bezoek 2026-11-24 14:00 @anna cliënt Jansen")
    assert "Die code lijkt op een naam" in team.said()
    assert "Jansen" not in team.said()  # the typed name is not repeated (R-PRV-3)
    await team.type("/samen bezoek 2026-11-24 14:00 @anna @zoe")
    assert "Ik ken '@zoe' niet in dit team" in team.said()
    await team.type("/samen bezoek 2026-11-24 14:00 morgen")
    await team.wait(timedelta(minutes=1))  # replies to one person are paced
    assert "Een woord na de datum en tijd begrijp ik niet" in team.said()
    assert "Genoteerd" not in team.said()


async def test_moving_a_visit_moves_the_flows_it_will_start(team: Team) -> None:
    await join(team)
    await team.type("/als anna", "/samen bezoek 2026-11-25 14:00 @anna @bram")
    code = code_in(team.said())
    await team.type(f"/samen verzet {code} 2026-11-26 14:00")
    assert "Verzet: het huisbezoek is nu op" in team.said()
    assert "meeschuiven: 2" in team.said()
    # The old start (24 November 14:00) passes without a word; the new one comes.
    await team.wait(timedelta(days=1, hours=6))
    assert ANNOUNCED not in team.said()
    await team.wait(timedelta(days=1))
    assert ANNOUNCED in team.said()


async def test_cancelling_a_visit_cancels_the_flows_it_would_start(team: Team) -> None:
    await join(team)
    await team.type("/als anna", "/samen bezoek 2026-11-25 14:00")
    code = code_in(team.said())
    await team.type(f"/samen afzeggen {code}")
    assert "Afgezegd: het huisbezoek. Geplande werkvormen die niet doorgaan: 2." in team.said()
    await team.type(f"/samen afzeggen {code}")
    await team.wait(timedelta(minutes=1))  # replies to one person are paced
    assert f"Ik vind geen afspraak met code '{code}'" in team.said()
    await team.wait(timedelta(days=3))
    assert ANNOUNCED not in team.said()
    assert "Het bezoek zit erop" not in team.said()


async def test_a_visit_is_planned_with_dates_as_people_write_them(team: Team) -> None:
    """Issue 20: `morgen 14:00`, `vrijdag 9u30`, `14u` and `24 december 14:00` all got
    "Ik begrijp die datum of tijd niet", with an example date in the past."""
    await join(team)
    await team.type("/als anna", "/samen bezoek morgen 14:00 @anna @bram")
    said = team.said()
    assert "Genoteerd: het huisbezoek op di 24 nov 14:00" in said and "Met Anna, Bram." in said
    await team.type("/samen bezoek vrijdag 9u30")
    await team.wait(timedelta(minutes=1))
    assert "Genoteerd: het huisbezoek op vr 27 nov 09:30" in team.said()
    await team.type("/samen overleg 14u")
    await team.wait(timedelta(minutes=1))
    assert "op ma 23 nov 14:00" in team.said()
    await team.type("/samen bezoek 24 december 14:00")
    await team.wait(timedelta(minutes=1))
    assert "op do 24 dec 14:00" in team.said()
    mark = len(team.printed)
    await team.type("/samen bezoek 31-02-2026 14:00")
    await team.wait(timedelta(minutes=1))
    assert "31-02-2026 bestaat niet; kijk de dag en de maand nog eens na." in team.since(mark)
    await team.type("/samen bezoek binnenkort")
    await team.wait(timedelta(minutes=1))
    said = team.since(mark)
    assert "/samen bezoek 24-11-2026 14:00, of /samen bezoek morgen 14:00" in said
    assert "2026-12-01" not in said


async def test_an_english_team_plans_with_english_words(team: Team) -> None:
    await join(team)
    await team.type("/als anna", "/samen taal en", "/samen visit tomorrow 2pm")
    await team.wait(timedelta(minutes=1))
    assert "Noted: the home visit on Tue 24 Nov 14:00" in team.said()
    mark = len(team.printed)
    await team.type("/samen visit 12:60")
    await team.wait(timedelta(minutes=1))
    assert "12:60 is not a time of day; those run from 0:00 to 23:59." in team.since(mark)


async def test_a_visit_at_short_notice_gets_its_answers_before_the_visit(team: Team) -> None:
    """Issue 20: typed at 21:12 for 21:52, the visit asked for answers "vóór 23:12"."""
    await join(team)
    await team.type("/als anna", "/samen bezoek 9:40")  # the clock says Monday 09:00
    await team.wait(timedelta(minutes=1))
    said = team.said()
    assert "Graag beantwoorden vóór ma 23-11 om 09:20." in said
    assert "Het begint al om 09:40: de vragen sluiten daarom om 09:20" in said
    assert "om 11:00" not in said


async def test_the_same_visit_twice_asks_to_confirm(team: Team) -> None:
    await join(team)
    await team.type("/als anna", "/samen bezoek 2026-11-26 14:00 @anna @bram")
    code = code_in(team.said())
    mark = len(team.printed)
    await team.type("/samen bezoek 26-11-2026 14:00 @bram @anna")
    await team.wait(timedelta(minutes=1))
    said = team.since(mark)
    assert (
        f"Dit staat er al: het huisbezoek op do 26 nov 14:00 met dezelfde mensen (code {code})."
        in said
    )
    assert "Typ dan: /samen bezoek 26-11-2026 14:00 @bram @anna toch" in said
    assert "Genoteerd" not in said
    await team.type("/samen bezoek 26-11-2026 14:00 @bram @anna toch")
    await team.wait(timedelta(minutes=1))
    assert "Genoteerd" in team.since(mark)
    assert team.rows("select count(*) from events") == [(2,)]
    # Other people at the same moment is another visit: no question asked.
    mark = len(team.printed)
    await team.type("/samen bezoek 26-11-2026 14:00 @cor")
    await team.wait(timedelta(minutes=1))
    assert "Genoteerd" in team.since(mark)
