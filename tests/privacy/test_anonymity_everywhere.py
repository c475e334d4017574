"""Anonymous means anonymous everywhere (R-PRV-3): an anonymous answer typed in the
console goes through the inbox, the engine, the form shown back and the summary, and is
then found beside a person nowhere: not in the inbox row once handled (opened), not in
a team export (answers, run state, inbox, outbox). The person's own export has it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.store import privacy
from bot.store.tables import InboxRow, OutboxRow
from tests.harness.console import console_world
from tests.privacy.shipped import flows_with

FLOW = """\
id: peiling
title: {nl: Peiling, en: Poll}
languages: [nl, en]
participants: [member]
triggers:
  - command: peiling
steps:
  - id: vraag
    collect:
      to: [member]
      deadline: 1d
      questions:
        - id: gevoel
          type: text
          anonymous: true
          text: {nl: "Hoe gaat het echt?", en: "How are things really?"}
  - id: samen
    summary:
      to: thread
      show: [answers]
"""

WORDS = {"anna": "Vlinderstruik-Anna", "bram": "Regenboog-Bram", "cor": "Zeepbel-Cor"}


def _flows(tmp_path: Path) -> Path:
    return flows_with(tmp_path, "peiling", FLOW)


def _beside_a_person(export: dict[str, list[dict[str, Any]]], word: str) -> list[str]:
    """The tables where `word` appears in a row that also names a member id."""
    found = []
    for table, rows in export.items():
        for row in rows:
            if table == "runs":  # a run lists its members; its answers may not name them
                row = row["state"]["answers"]
            text = json.dumps(row, ensure_ascii=False)
            if word in text and any(f'"{who}"' in text for who in WORDS):
                found.append(table)
    return found


async def test_an_anonymous_answer_is_never_kept_or_exported_beside_its_person(
    tmp_path: Path,
) -> None:
    async with console_world(tmp_path, flows=_flows(tmp_path)) as t:
        for who in WORDS:
            await t.type(f"/als {who}", "/samen")
        await t.type("/als anna", "/samen start peiling")
        for who, word in WORDS.items():
            await t.type(f"/als {who}", f"/a 1 {word}")
        await t.wait(timedelta(days=1, minutes=5))
        said = t.said()
        summary = said[said.rfind("Hoe gaat het echt?") :]
        assert all(word in summary for word in WORDS.values())  # shown: three answered

        async with t.runtime.store.sessionmaker() as s, s.begin():
            payloads = list(await s.scalars(select(InboxRow.payload)))
        assert payloads
        opened = json.dumps(payloads, ensure_ascii=False)
        for word in WORDS.values():
            assert word not in opened, "a handled inbox event still holds the answer"

        # A delivered form keeps no answer it showed back: not in the person's chat's rows.
        async with t.runtime.store.sessionmaker() as s, s.begin():
            forms = [
                (r.destination, json.dumps(r.message, ensure_ascii=False))
                for r in await s.scalars(select(OutboxRow).where(OutboxRow.kind == "form"))
            ]
        assert forms
        for destination, message in forms:
            for word in WORDS.values():
                assert word not in message, f"{word} kept in a form to {destination}"

        team_id = (await t.runtime.store.teams())[0].id
        export = await privacy.export_team(
            t.runtime.store,
            team_id,
            actor="admin:test",
            flows=t.runtime.runs.flows,
            now=t.clock.now(),
        )
        for word in WORDS.values():
            assert word in json.dumps(export, ensure_ascii=False)  # the answers are there
            assert _beside_a_person(export, word) == [], word
        # Nor when: the moment of an answer would match the moment of a person's event.
        [anonymous] = export["runs"][0]["state"]["answers"]["vraag"].values()
        assert {a["answered_at"] for a in anonymous.values()} == {None}
        assert {a["answered_at"] for a in export["answers"]} == {None}
        mine = await privacy.export_person(
            t.runtime.store, "bram", actor="admin:test", now=t.clock.now()
        )
        assert WORDS["bram"] in json.dumps(mine, ensure_ascii=False)
        assert WORDS["anna"] not in json.dumps(mine, ensure_ascii=False)
