"""A name or BSN in a free-text answer gets a gentle warning before it is stored."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.store.tables import AnswerRow, InboxRow
from tests.harness.console import Team


async def _answers(team: Team) -> list[str]:
    async with team.runtime.store.sessionmaker() as s, s.begin():
        anna = team.runtime.store.pseudonym("anna")  # answers are stored by pseudonym
        return list(await s.scalars(select(AnswerRow.value).where(AnswerRow.member == anna)))


async def test_a_name_in_an_answer_is_held_back_with_a_warning_and_kept_when_sent_again(
    team: Team,
) -> None:
    await team.type("/als anna", "/samen", "/als bram", "/samen")
    await team.type("/als anna", "/samen bezoek 2026-11-24 14:00")
    await team.wait(timedelta(hours=5))
    await team.type("/als anna", "/a 1 Bezorgd om mevrouw Jansen")
    assert "lijkt een naam, een BSN, een e-mailadres of een telefoonnummer" in team.said()
    assert await _answers(team) == []
    async with team.runtime.store.sessionmaker() as s, s.begin():
        payloads = [r.payload for r in await s.scalars(select(InboxRow))]
    assert not any("Jansen" in str(p) for p in payloads)  # not even waiting in the inbox
    await team.type("/a 1 Bezorgd om mevrouw Jansen")
    assert await _answers(team) == ["Bezorgd om mevrouw Jansen"]
    await team.type("/a 2 leiden")  # an ordinary answer goes straight through
    assert "leiden" in await _answers(team)
    assert team.said().count("lijkt een naam") == 1
