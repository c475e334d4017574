"""`/samen afwezig tot ...` reads a day as people write it (issue 20): a weekday, a date
without its year, `24 december`; an impossible date is named, and the example in the
usage lies ahead."""

from __future__ import annotations

from tests.harness.console import Team


async def test_away_until_a_weekday_or_a_date_without_its_year(team: Team) -> None:
    # The console team's clock: Monday 23 November 2026, 09:00 in Amsterdam.
    await team.type("/als anna", "/samen afwezig tot vrijdag")
    assert team.rows("select absent_until from members where user = 'anna'") == [("2026-11-27",)]
    assert "afwezig tot en met 2026-11-27" in team.said()
    await team.type("/samen terug", "/samen afwezig tot 24 december")
    assert team.rows("select absent_until from members where user = 'anna'") == [("2026-12-24",)]


async def test_an_impossible_day_is_named_and_the_example_lies_ahead(team: Team) -> None:
    await team.type("/als anna")
    mark = len(team.printed)
    await team.type("/samen afwezig tot 31-02")
    assert "31-02 bestaat niet" in team.since(mark)
    mark = len(team.printed)
    await team.type("/samen afwezig tot straks")
    said = team.since(mark)
    assert "/samen afwezig tot 30-11-2026" in said  # a week ahead, never in the past
    assert team.rows("select absent_until from members where absent_until is not null") == []
