"""Private chats and roles through the console (issue 19): the real runtime on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.harness.console import Team, console_world


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    """A console team whose replies all go out before the next line (the outbox paces
    a chat's messages)."""
    async with console_world(tmp_path, between=timedelta(seconds=2)) as world:
        yield world


async def test_private_chat_commands_of_a_person_in_one_team(team: Team) -> None:
    await team.type("/als anna", "/samen help", "/als bram", "/samen start intervisie")
    mark = len(team.printed)
    await team.type("/als bram", "/prive /samen open", "/prive /samen help", "/prive /start")
    await team.type("/prive /bel pauze")
    said = team.since(mark)
    assert "gebruik /bel in de groep van je team" in said
    assert "[alleen voor bram] Samen:" in said
    assert "Je openstaande vragen" in said or "geen openstaande vragen" in said
    assert "Samen helpt je team" in said  # help
    assert "Hallo! Ik ben Samen" in said  # the greeting names the team's group
    # A private chat made no team of its own.
    teams = team.rows("select channel from teams")
    assert teams == [("team",)]


async def test_private_chat_commands_of_a_person_in_two_teams(team: Team) -> None:
    await team.type("/als anna", "/samen help", "/kanaal noord", "/samen help")
    mark = len(team.printed)
    await team.type("/prive /samen afwezig tot 2026-12-01")
    said = team.since(mark)
    assert "Over welk team gaat dit? Je zit in: " in said and "noord" in said
    assert team.rows("select absent_until from members where absent_until is not null") == []
    await team.type("/prive /samen afwezig tot 2026-12-01 in noord")
    rows = team.rows(
        "select t.channel, m.absent_until from members m join teams t on t.id = m.team_id"
    )
    assert sorted(rows) == [("noord", "2026-12-01"), ("team", None)]
    # /samen open looks across both teams, without asking.
    mark = len(team.printed)
    await team.type("/prive /samen open")
    assert "Over welk team" not in team.since(mark)
    assert "openstaande vragen" in team.since(mark)


async def test_roles_add_remove_list_unknown_and_self_promotion(team: Team) -> None:
    for person in ("anna", "bram", "cor"):
        await team.type(f"/als {person}", "/samen help")
    said = team.said()
    assert "Anna coördineert dit team" not in said  # nobody needed one yet
    # Bram, not a coordinator, cannot give himself (or anyone) a role.
    mark = len(team.printed)
    await team.type("/als bram", "/samen rol @bram coördinator")
    assert "Alleen een coördinator van dit team" in team.since(mark)
    # The first person coordinates, said once in the channel.
    assert team.since(mark).count("Anna coördineert dit team in Samen") == 1
    mark = len(team.printed)
    await team.type("/als anna", "/samen rol @bram voorzitter", "/samen rol @cor voorziter")
    said = team.since(mark)
    assert "Bram heeft nu de rol voorzitter." in said
    assert "Die rol ken ik niet. Bedoel je 'voorzitter'?" in said
    assert "Anna coördineert" not in said  # said once only
    mark = len(team.printed)
    await team.type("/samen rol @cor koffiezetter", "/samen rollen")
    said = team.since(mark)
    assert "Rollen in dit team: voorzitter, coördinator" in said
    assert "• Anna: coördinator" in said and "• Bram: voorzitter" in said
    # Roles are added, not replaced; "-x" and "geen x" take one away.
    await team.type("/samen rol @bram coördinator")
    mark = len(team.printed)
    await team.type("/samen rol @bram -voorzitter", "/samen rol @bram geen coördinator")
    said = team.since(mark)
    assert "Bram heeft nu de rol coördinator." in said
    assert "Bram heeft nu geen bijzondere rol." in said
    # Bram, a coordinator no more, cannot take anna's role; anna keeps the last one.
    mark = len(team.printed)
    await team.type("/samen rol @anna -coördinator")
    assert "Een team houdt minstens één coördinator" in team.since(mark)
    await team.type("/samen rol @cor coördinator", "/als cor")
    mark = len(team.printed)
    await team.type("/samen rol @cor voorzitter")
    assert "Je kunt jezelf geen rol geven" in team.since(mark)
    await team.type("/samen rol @anna -coördinator")
    rows = dict(team.rows("select user, roles from members"))
    assert rows == {"anna": "[]", "bram": "[]", "cor": '["coordinator"]'}


async def test_roles_in_english(team: Team) -> None:
    await team.type("/als anna", "/samen taal en", "/als bram", "/samen help", "/als anna")
    mark = len(team.printed)
    await team.type("/samen role @bram chiar", "/samen role @bram chair", "/samen roles")
    said = team.since(mark)
    assert "I don't know that role. Did you mean 'chair'? Roles in this team: chair" in said
    assert "Bram now has the role chair." in said
    assert "• Bram: chair" in said


async def test_a_console_restart_answers_the_first_command(tmp_path: Path) -> None:
    async with console_world(tmp_path) as first:
        await first.type("/als anna", "/samen help", "/samen status")
    async with console_world(tmp_path) as second:
        await second.type("/als anna", "/samen status")
        assert "Samen:" in second.said()


async def test_a_member_who_leaves_during_a_collect_is_no_longer_waited_for(team: Team) -> None:
    await team.type("/als anna", "/samen", "/als bram", "/samen", "/als cor", "/samen")
    await team.type("/als anna", "/samen bezoek 2026-11-24 14:00")
    await team.wait(timedelta(hours=5))
    assert "[DM bram] Samen: 1. Hoe zit je erbij" in team.said()
    await team.type("/als anna", "/a 1 Nieuwsgierig", "/a 2 leiden", "/a 3 -", "/a 4 -")
    await team.type("/als cor", "/a 1 Rustig", "/a 2 ondersteunen", "/a 3 -", "/a 4 -")
    assert "Zo gaan jullie het bezoek in" not in team.said()  # still waiting for bram
    mark = len(team.printed)
    await team.type("/als bram", "/verlaat")
    await team.wait(timedelta(seconds=10))
    said = team.since(mark)
    assert "Zo gaan jullie het bezoek in" in said  # the collect stopped waiting
    assert said.count("Niet meer in het team: Bram") == 1
    assert team.rows("select left_at is not null from members where user = 'bram'") == [(1,)]
    # Bram gets nothing more: no reminder reaches him in the hours after.
    mark = len(team.printed)
    await team.wait(timedelta(hours=30))
    assert "DM bram" not in team.since(mark)


async def test_a_member_who_leaves_on_their_turn_in_a_round_passes_it(team: Team) -> None:
    await team.type("/als anna", "/samen", "/als bram", "/samen", "/als cor", "/samen")
    await team.type("/als anna", "/samen bezoek 2026-11-24 14:00")
    await team.wait(timedelta(hours=5))
    for person in ("anna", "bram", "cor"):
        await team.type(f"/als {person}", "/a 1 Rustig", "/a 2 leiden", "/a 3 -", "/a 4 -")
    await team.wait(timedelta(minutes=21))  # anna's turn of twenty minutes is over
    assert "[DM bram] Samen: Je bent aan de beurt." in team.said()
    assert "[DM cor] Samen: Je bent aan de beurt." not in team.said()
    await team.type("/als bram", "/verlaat")
    # Cor's turn comes at once, not when bram's twenty minutes are over.
    assert "[DM cor] Samen: Je bent aan de beurt." in team.said()


async def test_the_console_shows_what_to_type_for_each_team(team: Team) -> None:
    await team.type("/als anna", "/samen help", "/kanaal noord", "/samen help")
    mark = len(team.printed)
    await team.type("/prive /samen terug")
    said = team.since(mark)
    assert "↳ /prive /samen terug in noord" in said
    assert "↳ /prive /samen terug in team" in said


async def test_a_trajectory_code_names_its_team_and_due_lists_are_personal(
    team: Team,
) -> None:
    # Anna and bram are in two teams; anna's trajectory lives in "noord".
    for person in ("anna", "bram"):
        await team.type(f"/als {person}", "/kanaal team", "/samen help")
        await team.type("/kanaal noord", "/samen help")
    await team.type("/als anna", "/samen traject T-0412 2026-05-25")
    await team.wait(timedelta(days=2, hours=2))  # six months on: the evaluation is due
    mark = len(team.printed)
    await team.type("/prive /samen evaluatie T-0412 mdo")
    said = team.since(mark)
    assert "Over welk team" not in said
    assert "De evaluatie van T-0412 staat op de agenda" in said
    # Anna's private due list has her trajectory; bram's (no coordinator) has not.
    mark = len(team.printed)
    await team.type("/prive /samen evaluaties", "/als bram", "/prive /samen evaluaties")
    said = team.since(mark)
    assert "[alleen voor anna] Samen: Evaluaties die aan de orde zijn:" in said
    assert "T-0412 (anna)" in said and "(noord)" in said
    assert "[alleen voor bram] Samen: Evaluaties die aan de orde zijn" not in said
    # In the channel, bram sees the team's list as before.
    mark = len(team.printed)
    await team.type("/kanaal noord", "/samen evaluaties")
    assert "[alleen voor bram] Samen: Evaluaties die aan de orde zijn" in team.since(mark)
    # Once he coordinates noord, his private list holds the team's trajectories too.
    await team.type("/als anna", "/samen rol @bram coördinator", "/als bram")
    mark = len(team.printed)
    await team.type("/prive /samen evaluaties")
    said = team.since(mark)
    assert "[alleen voor bram] Samen: Evaluaties die aan de orde zijn" in said
    assert "T-0412 (anna)" in said


async def test_someone_in_no_team_gets_an_answer_in_their_private_chat(team: Team) -> None:
    await team.type("/als zoe", "/prive /samen help")
    assert "Samen: Hallo! Ik ben Samen" in team.said()
    assert "Ik ken je nog niet in een team" in team.said()
    assert team.rows("select count(*) from teams") == [(0,)]


async def test_roles_and_private_chats_in_flemish(team: Team) -> None:
    await team.type("/als anna", "/samen taal nl-BE", "/als bram", "/samen help", "/als anna")
    mark = len(team.printed)
    await team.type("/samen rol @bram voorziter", "/prive /samen rollen")
    said = team.since(mark)
    assert "Die rol ken ik niet. Bedoel je 'voorzitter'?" in said
    assert "Rollen in dit team:\n    • Anna: coördinator" in said
