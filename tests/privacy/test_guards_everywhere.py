"""Guards on every free-text input (R-PRV-1, R-PRV-3): e-mail addresses and phone numbers
are flagged like names and BSNs; a client code of letters only (a lower-case surname) is
refused; the course and a snooze reason of an evaluation are held back like answers;
replies do not repeat an unknown flow's or trajectory's typed name."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.sensitive import Finding, PseudonymProblem, pseudonym_problem, sensitive
from tests.harness.console import Team


@pytest.mark.parametrize(
    "text,found",
    [
        ("mail me op j.devries@zorg-noord.nl graag", (Finding.email,)),
        ("bel 06-12345678 na vijven", (Finding.phone,)),
        ("haar nummer is +31 6 1234 5678", (Finding.phone,)),
        ("Belgisch: 0470 12 34 56", (Finding.phone,)),
        ("afspraak op 05-01-2026 om 14:00, kamer 12", ()),
        ("versie 2.4.1 van het plan, 3 van de 5 doelen", ()),
    ],
)
def test_e_mail_and_phone_numbers_are_flagged_and_dates_are_not(
    text: str, found: tuple[Finding, ...]
) -> None:
    assert sensitive(text) == found


@pytest.mark.parametrize(
    "code,problem",
    [
        ("jansen", PseudonymProblem.identifying),
        ("de-vries", PseudonymProblem.identifying),
        ("0612345678", PseudonymProblem.identifying),
        ("T-0412", None),
        ("k12", None),
    ],
)
def test_a_client_code_holds_a_digit(code: str, problem: PseudonymProblem | None) -> None:
    assert pseudonym_problem(code) is problem


async def test_the_course_and_a_snooze_reason_are_held_back_like_answers(team: Team) -> None:
    await team.type("/als anna", "/samen", f"/samen traject T-77 {date(2026, 9, 15).isoformat()}")
    mark = len(team.printed)
    await team.type("/samen evaluatie T-77 uitstel 2w belde met j.devries@zorg-noord.nl")
    said = team.since(mark)
    assert "e-mailadres" in said and "devries" not in said
    async with team.runtime.store.sessionmaker() as s, s.begin():
        from sqlalchemy import select

        from bot.store.tables import EvaluationRow

        reasons = [e.snooze_reason for e in await s.scalars(select(EvaluationRow))]
    assert not any("devries" in r for r in reasons)


async def test_replies_do_not_repeat_an_unknown_typed_name(team: Team) -> None:
    await team.type("/als anna", "/samen", "/samen start Pietersen", "/samen sessie Pietersen")
    said = team.said()
    assert "Die werkvorm ken ik niet" in said and "Dat traject ken ik niet" in said
    assert "Pietersen" not in said.replace("/samen start Pietersen", "").replace(
        "/samen sessie Pietersen", ""
    )
