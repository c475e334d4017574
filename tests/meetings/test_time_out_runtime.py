"""A time-out through the real runtime: `/bel time-out` pauses the running intervision,
the time-out flow runs as a run of its own, and its end lets the meeting's clock run on."""

from __future__ import annotations

from datetime import timedelta

from tests.harness.console import Team


async def test_a_time_out_pauses_the_meeting_until_the_check_is_over(team: Team) -> None:
    await team.type("/als anna", "/samen rol @anna voorzitter")
    await team.type("/als bram", "/samen", "/als cor", "/samen")
    await team.type("/als anna", "/samen intervisie 2026-11-27 14:00")
    # The clock starts at 09:00 on Monday 23 November; step 1 starts on Friday at 14:00.
    await team.wait(timedelta(days=4, hours=5, minutes=1))
    assert "Stap 1 — Casusbespreking — 25 minuten, tot 14:25" in team.said()
    await team.type("/als cor", "/bel time-out")
    said = team.said()
    assert "De klok staat stil tot de time-out voorbij is" in said
    assert "Wat gebeurt er op dit moment tussen ons?" in said
    called = next(line for line in said.splitlines() if "⏸ Time-out —" in line)
    assert "Cor" not in called  # who called it is never said
    # Nobody answers: after five minutes the check closes and step 1 ends five minutes later.
    await team.wait(timedelta(minutes=5))
    assert "deze stap eindigt om 14:30" in team.said()
    await team.wait(timedelta(minutes=23))
    assert "Stap 2" not in team.said()
    await team.wait(timedelta(minutes=1))
    assert "Stap 2" in team.said()
