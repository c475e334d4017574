"""`/samen open` through the real runtime and the console: each open form with the numbers
still unanswered, required first (the form's own numbers)."""

from __future__ import annotations

from datetime import timedelta

from tests.harness.console import Team


async def test_samen_open_lists_the_numbers_left_in_each_form(team: Team) -> None:
    await team.type("/als anna", "/samen rol @anna voorzitter", "/als bram", "/samen")
    await team.type("/als anna", "/samen start terugblik")
    await team.type("/als bram", "/a 3 Iets voor mezelf")  # the optional one, first
    mark = len(team.printed)
    await team.type("/samen open")
    said = team.since(mark)
    assert "Je openstaande vragen (de nummers van het formulier):" in said
    assert "• Terugblik op de intervisie: vragen 1 en 2 (sluit " in said
    assert "geen openstaande vragen" not in said
    await team.type("/a 1 4", "/a 2 ja")
    mark = len(team.printed)
    await team.type("/samen open")
    assert "Je hebt geen openstaande vragen." in team.since(mark)
    await team.type("/als anna", "/samen open")
    await team.wait(timedelta(minutes=1))  # replies to one person are paced
    assert "vragen 1 en 2; mag je overslaan: 3" in team.since(mark)


async def test_the_help_says_how_to_answer_and_skip(team: Team) -> None:
    await team.type("/als anna", "/samen")
    assert "Overslaan: - of overslaan; nvt: niet van toepassing; klaar: de rest laten." in (
        team.said()
    )
