"""`samen export | forget | keys rotate | audit verify | purge` on the embedded database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.store.repo import StepWrite, Store
from bot.store.sealed import Keyring, default_key_file
from tests.harness.world import ROOT

runner = CliRunner()
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANSWER = "voelde me gehoord"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SAMEN_DATA_KEY", "SAMEN_DATA_KEYS_OLD", "SAMEN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("SAMEN_DATA_DIR", str(data))
    monkeypatch.setenv("SAMEN_FLOWS_DIR", str(ROOT / "flows"))
    asyncio.run(_populate(data))
    return data


async def _populate(data: Path) -> None:
    store = await Store.open(
        f"sqlite+aiosqlite:///{data / 'samen.db'}", keyring=Keyring.from_environment(data)
    )
    try:
        team = await store.team_for_channel("console", "team", now=NOW)
        await store.upsert_member(team.id, "anna", "Anna", now=NOW)
        await store.commit_step(
            StepWrite(
                run_id="r1",
                expected_version=None,
                run={
                    "team_id": team.id,
                    "flow_id": "reflectie-na-intervisie",
                    "status": "active",
                    "state": {"members": [{"id": "anna"}, {"id": "bram"}], "answers": {}},
                },
                answers=[
                    {"step": "terugblik", "question": "meenemen", "member": "anna", "value": ANSWER}
                ],
                outbox=[
                    {
                        "platform": "console",
                        "destination": "dm:anna",
                        "kind": "form",
                        "message": {"kind": "form", "text": "Wat neem je mee?"},
                        "idempotency_key": "r1:form:anna",
                    }
                ],
                now=NOW,
            )
        )
        [form] = await store.outbox_due(NOW)
        await store.outbox_sent_many([(form.id, NOW, "m1")])  # it reached her
    finally:
        await store.close()


def _team_id(data: Path) -> str:
    with sqlite3.connect(data / "samen.db") as db:
        return str(db.execute("SELECT id FROM teams").fetchone()[0])


def test_export_forget_rotate_and_audit_from_the_command_line(data_dir: Path) -> None:
    result = runner.invoke(app, ["export", "--person", "anna", "--for", "anna"])
    assert result.exit_code == 0, result.output
    person = json.loads(result.stdout)
    assert [a["value"] for a in person["answers"]] == [ANSWER]

    out = data_dir.parent / "export"
    result = runner.invoke(
        app, ["export", "--team", _team_id(data_dir), "--format", "csv", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert ANSWER in (out / "answers.csv").read_text(encoding="utf-8")
    assert stat.S_IMODE((out / "answers.csv").stat().st_mode) == 0o600

    before = Keyring.from_file(default_key_file(data_dir)).current
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "rotation done" in result.stdout
    after = Keyring.from_file(default_key_file(data_dir))
    assert after.current != before and list(after.keys) == [after.current]
    again = json.loads(runner.invoke(app, ["export", "--person", "anna"]).stdout)
    assert [a["value"] for a in again["answers"]] == [ANSWER]  # readable under the new key

    result = runner.invoke(app, ["forget", "anna", "--by", "admin:fg", "--for", "anna"])
    assert result.exit_code == 0, result.output
    assert "answers: 1" in result.stdout and "members: 1" in result.stdout
    assert "1 delivered message queued for deletion on the platform" in result.stdout
    assert "the running Samen deletes them" in result.stdout
    gone = json.loads(runner.invoke(app, ["export", "--person", "anna"]).stdout)
    assert gone["answers"] == [] and gone["members"] == []

    result = runner.invoke(app, ["purge"])
    assert result.exit_code == 0 and "purged" in result.stdout

    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 6 rows" in result.stdout  # four exports, one erasure, one purge
    with sqlite3.connect(data_dir / "samen.db") as db:
        db.execute("UPDATE access_log SET on_behalf_of = 'someone else' WHERE id = 1")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "row 1 does not match" in result.output


def test_export_needs_exactly_one_of_person_or_team(data_dir: Path) -> None:
    result = runner.invoke(app, ["export"])
    assert result.exit_code == 2 and "exactly one of --person" in result.output
    result = runner.invoke(app, ["export", "--team", "x", "--format", "csv"])
    assert result.exit_code == 2 and "needs --out" in result.output
    result = runner.invoke(app, ["export", "--team", "nope"])
    assert result.exit_code == 1 and "no team with id nope" in result.output
