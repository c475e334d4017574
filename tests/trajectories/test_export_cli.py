"""`samen export trajectories`: CSV and JSON of trajectories and evaluations, codes only."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.store.evaluations import EvaluationStore, EvaluationWrite
from bot.store.repo import Store

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
runner = CliRunner()


async def fill(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = await Store.open(f"sqlite+aiosqlite:///{data_dir / 'samen.db'}")
    try:
        team = await store.team_for_channel("console", "team", name="FACT Noord", now=NOW)
        trajectory = await store.add_trajectory(
            team.id, "T-0412", "anna", date(2025, 5, 1), now=NOW
        )
        assert trajectory is not None
        evaluations = EvaluationStore(store)
        base = {"trajectory_id": trajectory.id, "team_id": team.id}
        await evaluations.write(
            EvaluationWrite(
                now=NOW,
                add=[
                    {**base, "id": "e1", "kind": "plan_review", "due_on": date(2025, 11, 1)},
                    {**base, "id": "e2", "kind": "continuation", "due_on": date(2026, 5, 1)},
                ],
            )
        )
        secret = "cliënt wil met zus verder praten"
        await evaluations.write(
            EvaluationWrite(
                now=NOW,
                update={
                    "e1": {
                        "status": "done",
                        "outcome": "continue",
                        "course": secret,
                        "next_on": date(2026, 5, 1),
                        "continue_until": date(2026, 11, 1),
                        "done_by": "anna",
                        "done_at": NOW,
                    }
                },
            )
        )
    finally:
        await store.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAMEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SAMEN_DATABASE_URL", raising=False)
    asyncio.run(fill(tmp_path / "data"))
    return tmp_path / "data"


def test_json_export_has_codes_dates_states_and_no_free_text(data_dir: Path) -> None:
    result = runner.invoke(app, ["export", "trajectories", "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["team"], r["client_ref"], r["owner"]) for r in records] == [
        ("FACT Noord", "T-0412", "anna")
    ]
    history = records[0]["evaluations"]
    assert [(e["kind"], e["state"], e["outcome"], e["next_on"]) for e in history] == [
        ("plan_review", "done", "continue", "2026-05-01"),
        ("continuation", "overdue", None, None),
    ]
    assert "zus" not in result.stdout  # the course stays in the database


def test_csv_export_has_one_line_per_evaluation(data_dir: Path) -> None:
    result = runner.invoke(app, ["export", "trajectories", "--format", "csv", "--team", "team"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["client_ref"], r["kind"], r["done_on"]) for r in rows] == [
        ("T-0412", "plan_review", "2026-11-23"),
        ("T-0412", "continuation", ""),
    ]
    assert "zus" not in result.stdout


def test_an_unknown_format_is_refused_in_one_line(data_dir: Path) -> None:
    result = runner.invoke(app, ["export", "trajectories", "--format", "xml"])
    assert result.exit_code == 2
    assert "--format must be csv or json, not 'xml'" in result.output
