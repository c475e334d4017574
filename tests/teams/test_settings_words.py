"""Settings and roles are confirmed and refused in the team's own words: no setting keys,
no role ids, no English validation text in a Dutch reply (issue 20)."""

from __future__ import annotations

from datetime import timedelta

from tests.harness.console import Team


async def _say(team: Team, line: str) -> str:
    mark = len(team.printed)
    await team.type(line)
    await team.wait(timedelta(minutes=1))  # replies to one person are paced
    return team.since(mark)


async def test_settings_are_confirmed_and_refused_in_plain_dutch(team: Team) -> None:
    await team.type("/als anna", "/samen rol @anna coördinator")
    said = await _say(team, "/samen taal de")
    assert "Die taal ken ik niet: 'de'. Kies nl, nl-BE of en." in said
    assert "must be" not in said and "language" not in said
    said = await _say(team, "/samen taal NL-be")
    assert "Aangepast: de taal is nu Vlaams (nl-BE)." in said
    said = await _say(team, "/samen tijdzone Mars/Basis")
    assert "Die tijdzone ken ik niet: 'Mars/Basis'." in said
    said = await _say(team, "/samen werktijden ma-vr 9-5")
    assert "Die werktijden begrijp ik niet: 'ma-vr 9-5'." in said
    said = await _say(team, "/samen werktijden ma-vr 08:30-17:30")
    assert "Aangepast: de werktijden zijn nu ma-vr 08:30-17:30." in said
    assert "work_days" not in said
    said = await _say(team, "/samen aanspreekvorm u")
    assert "Aangepast: de aanspreekvorm is nu 'u'." in said


async def test_roles_are_named_in_the_teams_language_with_the_right_plural(team: Team) -> None:
    await team.type("/als anna")
    # The first person is the team's coordinator; she may take on a flow's role herself.
    said = await _say(team, "/samen rol @anna voorzitter")
    assert "Anna heeft nu de rollen voorzitter en coördinator." in said and "chair" not in said
    said = await _say(team, "/samen rol @anna -voorzitter")
    assert "Anna heeft nu de rol coördinator." in said
    said = await _say(team, "/samen taal en")
    assert "Done: the language is now English." in said
    said = await _say(team, "/samen role @anna chair")
    assert "Anna now has the roles chair and coordinator." in said


async def test_an_english_team_starts_formats_with_english_words(team: Team) -> None:
    await team.type("/als anna", "/samen rol @anna voorzitter", "/samen taal en")
    said = await _say(team, "/samen")
    listed = next(line for line in said.splitlines() if "start a format (" in line)
    assert "intervision" in listed and "look-back" in listed and "intervisie" not in listed
    said = await _say(team, "/samen start intervision")
    assert "I don't know" not in said and "[DM anna]" in said
    said = await _say(team, "/samen start intervisie")  # the Dutch word works as well
    assert "I don't know" not in said


async def test_the_confirmation_of_a_new_language_reaches_the_console_in_it(team: Team) -> None:
    await team.type("/als anna", "/samen rol @anna voorzitter")
    said = await _say(team, "/samen taal en")
    assert "[only for anna] Samen: Done: the language is now English." in said
