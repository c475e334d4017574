"""The flows that ship: they load cleanly, their flow tests pass, and the runner can fail."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.core.flowtest import run_test_file
from bot.core.loader import check_flow, read_yaml
from bot.demo import play
from bot.flowfiles import find_test_files, load_flows, run_test_path

ROOT = Path(__file__).resolve().parent.parent.parent
FLOWS = ROOT / "flows"
FLOW_SET = load_flows([FLOWS])


def test_every_shipped_flow_loads_without_errors_or_warnings() -> None:
    assert [str(p) for p in FLOW_SET.problems] == []
    assert {
        "voorbereiding-huisbezoek",
        "intervisie-complexe-casuistiek",
        "reflectie-na-intervisie",
        "evaluatie-traject",
        "reflectie-na-bezoek",
        "mdo-bespreking",
        "splitsing-samenwerkingsformat",
        "splitsing-evaluatie",
        "samenwerking-zelfreflectie",
        "moment-van-waarheid",
        "time-out",
        "warme-overdracht",
        "reflectie-in-vijf-minuten",
    } <= set(FLOW_SET.flows)


def test_every_shipped_flow_has_dutch_and_english() -> None:
    for flow in FLOW_SET.flows.values():
        assert {"nl", "en"} <= set(flow.languages), flow.id


def _cases() -> list[tuple[Path, str]]:
    found = []
    for path in find_test_files([FLOWS]):
        result = run_test_path(path, FLOW_SET.flows)
        found += [(path, case.name) for case in result.cases]
    return found


@pytest.mark.parametrize(("path", "case"), _cases(), ids=lambda v: getattr(v, "name", v))
def test_the_flow_test_case_passes(path: Path, case: str) -> None:
    result = run_test_path(path, FLOW_SET.flows)
    outcome = next(c for c in result.cases if c.name == case)
    assert outcome.passed, outcome.report


def test_a_failing_flow_test_reads_like_a_diff_of_the_conversation() -> None:
    data = {
        "flow": "intervisie-complexe-casuistiek",
        "team": {"members": [{"id": "anna", "roles": ["chair"]}, {"id": "bram"}]},
        "cases": [
            {
                "name": "wrong on purpose",
                "start": {"by": "anna", "event": {"kind": "intervisie", "in": "3d"}},
                "script": [
                    {"advance": "3d"},
                    {
                        "expect": [
                            {"to": "thread", "kind": "phase", "says": "Stap 1"},
                            {"to": "thread", "kind": "bell", "says": "Stap 1"},
                        ]
                    },
                ],
            }
        ],
    }
    result = run_test_file(data, "inline.test.yaml", FLOW_SET.flows)
    case = result.cases[0]
    assert not case.passed
    assert "✓ to='thread' kind='phase'" in case.report
    assert "✗ to='thread' kind='bell'" in case.report
    assert "Casusbespreking" in case.report  # the actual conversation is shown


def test_samen_flows_test_prints_a_closing_count_and_fails_on_a_failing_case(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["flows", "test", str(FLOWS)])
    assert ok.exit_code == 0, ok.output
    assert re.search(r"^\d+ passed, 0 failed$", ok.output, re.M)

    broken = tmp_path / "tests"
    broken.mkdir()
    for flow_file in FLOWS.glob("*.yaml"):
        (tmp_path / flow_file.name).write_text(flow_file.read_text())
    (broken / "x.test.yaml").write_text(
        "flow: voorbereiding-huisbezoek\n"
        "team: {members: [{id: anna}]}\n"
        "cases:\n"
        "  - name: expects a bell that never rings\n"
        "    start: {by: anna, event: {kind: visit, in: 1d}}\n"
        "    script:\n"
        "      - expect: [{to: thread, kind: bell}]\n"
    )
    failed = runner.invoke(app, ["flows", "test", str(tmp_path)])
    assert failed.exit_code == 1
    assert "0 passed, 1 failed" in failed.output


def test_the_readme_example_flow_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(id: korte-check.*?)```", readme, re.S)
    assert block is not None
    flow, problems = check_flow(block.group(1), "korte-check.yaml")
    assert flow is not None
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_test_files_use_the_flow_loaders_yaml_rules() -> None:
    data, _, problems = read_yaml("value: nee\nother: yes\n", "x.yaml")
    assert problems == []
    assert data == {"value": "nee", "other": "yes"}


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_the_demo_plays_the_whole_story_through_the_runtime(
    language: str, tmp_path: Path
) -> None:
    lines: list[str] = []
    await play(language, tmp_path, speed=1e9, out=lines.append, flows_dir=FLOWS)
    text = "\n".join(lines)
    assert text.count("🔔") >= 6  # five bells and a process bell
    # The alignment before the visit: only the late one is reminded. (The reflection
    # after the visit, which nobody in the demo answers, reminds everyone the next day.)
    reflection = next(
        i for i, ln in enumerate(lines) if "Het bezoek zit erop" in ln or "The visit is done" in ln
    )
    before_visit = lines[:reflection]
    reminders = [
        ln for ln in before_visit if "reminder" in ln.lower() or "herinnering" in ln.lower()
    ]
    assert reminders and all("[DM cor]" in ln for ln in reminders)  # only the late one
    assert "Somberheid" not in "\n".join(ln for ln in lines if "[#team]" in ln)
    assert "Geef het nummer" not in text and "Give the number" not in text
    with sqlite3.connect(tmp_path / "samen.db") as db:
        statuses = dict(db.execute("select flow_id, status from runs").fetchall())
        stuck = db.execute("select count(*) from outbox where status != 'sent'").fetchone()[0]
    assert statuses == {
        "voorbereiding-huisbezoek": "done",
        "intervisie-complexe-casuistiek": "done",
        "reflectie-na-intervisie": "done",
        "evaluatie-traject": "done",
        "reflectie-na-bezoek": "done",
    }
    assert stuck == 0
    assert "T-0412" in text and ("6 maanden" in text or "6 months" in text)
    # The bell's controls, the presenter named, the MDO agenda, and answers as people give
    # them (numbers, words, starts of words, skips) all taken without a re-prompt.
    for typed in ("/bel pauze", "/bel verder", "/bel volgende", "/samen evaluaties"):
        assert typed in text
    assert "Bram brengt de casus in." in text or "Bram brings in the case." in text
    assert "Evaluaties die aan de orde zijn" in text or "due" in text.lower()
    # A reply to one person is its line and the next (a re-prompt's second line).
    starts = [i for i, ln in enumerate(lines) if "[alleen voor" in ln or "[only for" in ln]
    replies = "\n".join("\n".join(lines[i : i + 2]) for i in starts)
    for reprompt in ("Antwoord met", "Answer with", "Kies één", "Kies een of meer", "Choose "):
        assert reprompt not in replies
