"""Erasure that erases (R-PRV-5): a person answers, is named in a summary, takes part in
a registered visit, has a reminder waiting and is mentioned by a colleague; after `samen
forget`, every column of every table (sealed values opened), and the database file and
its WAL as bytes, hold no trace of their id, their name or their answer. Colleagues'
data stays."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.store import privacy
from bot.store.tables import Base, EventRow, MemberRow, OutboxRow, TimerRow
from tests.harness.console import console_world
from tests.privacy.shipped import flows_with

FLOW = """\
id: les-na-bezoek
title: {nl: Terugblik, en: Look back}
languages: [nl, en]
participants: [member]
triggers:
  - command: les-na-bezoek
steps:
  - id: vraag
    collect:
      to: [member]
      deadline: 2d
      reminders: [1d]
      questions:
        - id: les
          type: text
          text: {nl: "Wat neem je mee?", en: "What do you take along?"}
  - id: samen
    summary:
      to: thread
      show: [answers, missing]
"""

WHO = "zwaluwstaart"
ANSWER = "Regenwoud-Kompas-Antwoord"
OTHER = "Bergmeer-Antwoord"


def _flows(tmp_path: Path) -> Path:
    return flows_with(tmp_path, "les-na-bezoek", FLOW)


async def _every_value(t: Any) -> str:
    """Every row of every table as the store reads it (sealed values opened), as text."""
    rows: list[dict[str, Any]] = []
    async with t.runtime.store.sessionmaker() as s, s.begin():
        for mapper in Base.registry.mappers:
            model = mapper.class_
            for row in await s.scalars(select(model)):
                rows.append({"table": model.__tablename__, **privacy.as_dict(row)})
    assert {r["table"] for r in rows} >= {"runs", "answers", "outbox", "inbox", "access_log"}
    return json.dumps(rows, ensure_ascii=False, default=str)


async def test_after_forget_no_table_column_file_or_wal_holds_a_trace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with console_world(tmp_path, flows=_flows(tmp_path), data=data) as t:
        for who in ("anna", "bram", WHO):
            await t.type(f"/als {who}", "/samen")
        await t.type("/als anna", f"/samen bezoek 2026-11-25 14:00 @{WHO} @bram cliënt K-12")
        await t.type(f"/samen rol @{WHO} voorzitter")
        await t.type("/samen start les-na-bezoek")
        await t.type(f"/als {WHO}", f"/a 1 {ANSWER}", "/als anna", f"/a 1 {OTHER}")
        await t.wait(timedelta(hours=20))
        async with t.runtime.store.sessionmaker() as s, s.begin():
            pending = list(await s.scalars(select(TimerRow).where(TimerRow.status == "pending")))
            events = list(await s.scalars(select(EventRow)))
        assert any(e.participants for e in events), "the visit names its participants"
        await t.wait(timedelta(days=2))  # the summary names them, with their answer
        assert f"{WHO.title()}: {ANSWER}" in t.said() or ANSWER in t.said()
        await privacy.export_person(t.runtime.store, WHO, actor="admin:test", now=t.clock.now())
        before = await _every_value(t)
        assert WHO in before.lower() and ANSWER in before  # the walk does see them

        erased = await privacy.forget(t.runtime.store, WHO, actor="admin:test", now=t.clock.now())
        assert erased.counts.get("members") == 1 and erased.deletions_queued
        # The deletions queued on the platform name their chat until the outbox made them.
        t.runtime.outbox.notify()
        for _ in range(100):  # one a second in their chat
            async with t.runtime.store.sessionmaker() as s, s.begin():
                queued = await s.scalar(select(OutboxRow.id).where(OutboxRow.op == "delete"))
            if queued is None:
                break
            await t.wait(timedelta(seconds=2))
        after = await _every_value(t)
        for trace in (WHO, ANSWER):
            i = after.lower().find(trace.lower())
            assert i < 0, f"{trace!r} left: {after[max(0, i - 300) : i + 100]}"
        assert OTHER in after  # a colleague's answer stays
        async with t.runtime.store.sessionmaker() as s, s.begin():
            assert await s.scalar(select(MemberRow).where(MemberRow.user == "bram"))
        del pending
    # The files as bytes, after Samen stopped: deleted rows are overwritten, the WAL empty.
    for path in data.iterdir():
        if path.name.startswith("samen.db"):
            blob = path.read_bytes()
            for trace in (WHO, WHO.title(), ANSWER):
                assert trace.encode() not in blob, f"{trace!r} in {path.name}"
