"""A meeting's phase lists the team's due evaluations, by client code (issue #6 and #7)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.harness.console import console_world

ROOT = Path(__file__).resolve().parent.parent.parent

MEETING = """\
id: kort-mdo
title: {nl: "Kort MDO", en: "Short MDO"}
languages: [nl, en]
roles: [chair]
triggers:
  - command: kortmdo
steps:
  - id: evaluaties
    phase:
      title: {nl: "Evaluaties", en: "Evaluations"}
      duration: 10m
      agenda: evaluations
"""


async def test_the_evaluations_phase_lists_what_is_due_by_code(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for path in (ROOT / "flows").glob("*.yaml"):
        shutil.copy(path, flows / path.name)
    (flows / "kort-mdo.yaml").write_text(MEETING, encoding="utf-8")
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    async with console_world(tmp_path, start=monday, flows=flows, data=tmp_path / "data") as team:
        await team.type("/als anna", "/samen start kortmdo")
        assert "Er zijn vandaag geen evaluaties aan de beurt." in team.said()
        await team.type("/bel stop")
        # Six months after the start: the plan review falls due on Wednesday 25 November.
        await team.type("/samen traject T-0412 2026-05-25")
        await team.wait(timedelta(days=3))
        mark = len(team.printed)
        await team.type("/samen start kortmdo")
        shown = team.since(mark)
        assert "Aan de beurt (per code):" in shown
        assert "T-0412 — planevaluatie, Anna, aan de beurt sinds 25 nov" in shown
