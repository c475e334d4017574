"""`samen flows check | schema | graph`, and loading a directory of flows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.flowfiles import load_flows

runner = CliRunner()

GOOD = """\
id: welkom
title: {nl: Welkom, en: Welcome}
languages: [nl, en]
triggers:
  - command: welkom
steps:
  - id: hallo
    say: {text: {nl: Welkom in het team, en: Welcome to the team}}
  - id: hoe
    ask:
      question:
        id: gaat-het
        type: yesno
        text: {nl: Gaat het goed, en: Are you well}
  - id: splits
    branch:
      - when: {answer: hoe, equals: no}
        goto: bellen
      - otherwise: klaar
  - id: bellen
    say: {to: starter, text: {nl: Ik bel je even, en: I will call you}}
  - id: klaar
    end: {}
"""

# Two mistakes: a misspelt key (line 7) and a goto to a step that does not exist (line 10).
BAD = """\
id: kapot
title: Kapot
steps:
  - id: een
    phase:
      title: Een
      duratoin: 10m
  - id: twee
    branch:
      - when: {answer: een.x, answered: true}
        goto: drie
      - otherwise: een
"""


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "welkom.yaml").write_text(GOOD, encoding="utf-8")
    (folder / "kapot.yaml").write_text(BAD, encoding="utf-8")
    return folder


def test_check_prints_every_problem_and_a_total_and_exits_1(flows_dir: Path) -> None:
    result = runner.invoke(app, ["flows", "check", str(flows_dir)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    bad = flows_dir / "kapot.yaml"
    assert (
        f"{bad}:7:7: error: step 'een': unknown key 'duratoin' in phase; did you mean "
        "'duration'?" in lines
    )
    assert any(line.startswith(f"{bad}:11:15: error: step 'twee': 'goto: drie'") for line in lines)
    assert lines[-1] == "2 flows checked: 2 errors, 0 warnings"
    assert "welkom.yaml" not in result.output


def test_check_exits_0_when_there_are_only_warnings(tmp_path: Path) -> None:
    flow = tmp_path / "welkom.yaml"
    flow.write_text(GOOD.replace("      - otherwise: klaar\n", ""), encoding="utf-8")
    result = runner.invoke(app, ["flows", "check", str(flow)])
    assert result.exit_code == 0
    assert ": warning: step 'splits' has no 'otherwise'" in result.output
    assert result.output.splitlines()[-1] == "1 flow checked: 0 errors, 1 warning"


def test_check_of_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["flows", "check", str(tmp_path / "nergens")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_check_reads_flows_from_the_flows_directory_by_default(
    flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(flows_dir.parent)
    result = runner.invoke(app, ["flows", "check"])
    assert result.exit_code == 1
    # The shipped library and, beside it, the flows/ folder where the author works.
    assert result.output.splitlines()[-1].endswith(" flows checked: 2 errors, 0 warnings")
    assert "kapot.yaml" in result.output


def test_a_broken_flow_does_not_stop_the_others_from_loading(flows_dir: Path) -> None:
    found = load_flows([flows_dir])
    assert list(found.flows) == ["welkom"]
    assert {Path(p.path).name for p in found.errors} == {"kapot.yaml"}
    assert len(found.files) == 2


def test_tests_and_the_catalogue_are_not_flows(flows_dir: Path) -> None:
    (flows_dir / "tests").mkdir()
    (flows_dir / "tests" / "welkom.test.yaml").write_text("flow: welkom\n", encoding="utf-8")
    (flows_dir / "catalogue.yaml").write_text("groet: {nl: Hoi, en: Hi}\n", encoding="utf-8")
    found = load_flows([flows_dir])
    assert sorted(p.name for p in found.files) == ["kapot.yaml", "welkom.yaml"]
    assert found.catalogue == {"groet": {"nl": "Hoi", "en": "Hi"}}


def test_the_shared_catalogue_fills_in_catalogue_references(flows_dir: Path) -> None:
    (flows_dir / "catalogue.yaml").write_text("groet: {nl: Hoi, en: Hi}\n", encoding="utf-8")
    (flows_dir / "welkom.yaml").write_text(
        GOOD.replace("{nl: Welkom in het team, en: Welcome to the team}", "{catalogue: groet}"),
        encoding="utf-8",
    )
    found = load_flows([flows_dir])
    assert found.flows["welkom"].steps[0].say.text == {"nl": "Hoi", "en": "Hi"}  # type: ignore[union-attr]


def test_start_flow_naming_a_flow_that_does_not_exist_is_an_error(flows_dir: Path) -> None:
    (flows_dir / "welkom.yaml").write_text(
        GOOD.replace("  - id: klaar\n", "  - id: door\n    start_flow: kapt\n  - id: klaar\n"),
        encoding="utf-8",
    )
    found = load_flows([flows_dir])
    messages = [str(p) for p in found.errors if p.path.endswith("welkom.yaml")]
    assert len(messages) == 1
    assert (
        ":23:17: error: start_flow: there is no flow 'kapt'; did you mean 'kapot'?" in (messages[0])
    )
    assert "welkom" not in found.flows


def test_a_flow_checked_on_its_own_may_start_a_flow_beside_it(flows_dir: Path) -> None:
    (flows_dir / "welkom.yaml").write_text(
        GOOD.replace("  - id: klaar\n", "  - id: door\n    start_flow: kapot\n  - id: klaar\n"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["flows", "check", str(flows_dir / "welkom.yaml")])
    assert result.exit_code == 0, result.output


def test_schema_is_json_with_every_step_kind() -> None:
    result = runner.invoke(app, ["flows", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"] == "Samen flow"
    assert schema["description"]
    step_schemas = schema["properties"]["steps"]["items"]["oneOf"]
    kinds = {ref["$ref"].rsplit("/", 1)[-1] for ref in step_schemas}
    assert kinds == {
        "SayStep",
        "AskStep",
        "CollectStep",
        "PhaseStep",
        "RoundStep",
        "SummaryStep",
        "BranchStep",
        "StartFlowStep",
        "WaitStep",
        "EndStep",
    }
    assert "phase" in schema["$defs"]["PhaseStep"]["properties"]


def test_schema_describes_the_new_parts_of_the_language() -> None:
    result = runner.invoke(app, ["flows", "schema"])
    defs = json.loads(result.output)["$defs"]
    assert "except" in defs["SayBody"]["properties"]
    assert "except" in defs["CollectBody"]["properties"]
    phase = defs["PhaseBody"]["properties"]
    assert {"to", "except", "end_when_answered", "questions"} <= set(phase)
    question = defs["Question"]["properties"]
    assert "presenter" in question["gives_role"]["description"]
    assert "step.question" in question["options_from"]["description"]
    assert "missing_count" in defs["SummaryBody"]["properties"]["template"]["description"]


def test_graph_of_a_file_prints_a_mermaid_flowchart(flows_dir: Path) -> None:
    result = runner.invoke(app, ["flows", "graph", str(flows_dir / "welkom.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    s2{"keuze splits"}' in lines
    assert '    s2 -->|"hoe = no"| s3' in lines
    assert '    s2 -->|"anders"| s4' in lines
    assert "    s4 --> END" in lines


def test_graph_finds_a_flow_by_id_in_the_flows_directory(
    flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(flows_dir.parent)
    result = runner.invoke(app, ["flows", "graph", "welkom", "--language", "en"])
    assert result.exit_code == 0, result.output
    assert '    s0["message hallo: Welcome to the team"]' in result.output.splitlines()


def test_graph_of_a_broken_flow_draws_it_marks_the_broken_steps_and_exits_1(
    flows_dir: Path,
) -> None:
    result = runner.invoke(app, ["flows", "graph", str(flows_dir / "kapot.yaml")])
    assert result.exit_code == 1
    assert "duratoin" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    # Both steps hold an error (the misspelt key, the goto to nowhere): drawn in red.
    assert '    s0["fase een"]:::broken' not in lines  # the broken phase is a stand-in
    assert '    s0["bericht een"]:::broken' in lines
    assert '    s1{"keuze twee"}:::broken' in lines
    assert any(line.startswith("    classDef broken") for line in lines)


def test_graph_of_a_folder_draws_every_flow_as_markdown(flows_dir: Path) -> None:
    result = runner.invoke(app, ["flows", "graph", str(flows_dir)])
    assert result.exit_code == 1  # kapot.yaml has errors
    assert "## welkom\n\n```mermaid\nflowchart TD\n" in result.stdout
    assert "## kapot\n\n```mermaid\nflowchart TD\n" in result.stdout


def test_graph_of_a_file_that_is_no_flow_says_so(tmp_path: Path) -> None:
    (tmp_path / "leeg.yaml").write_text("- een lijst\n", encoding="utf-8")
    result = runner.invoke(app, ["flows", "graph", str(tmp_path / "leeg.yaml")])
    assert result.exit_code == 1
    assert "nothing to draw" in result.stderr
    assert "flowchart" not in result.stdout


def test_a_file_that_is_not_utf8_is_a_problem_not_a_crash(flows_dir: Path) -> None:
    (flows_dir / "latin.yaml").write_bytes("id: caf\xe9\n".encode("latin-1"))
    found = load_flows([flows_dir])
    problem = next(p for p in found.problems if p.path.endswith("latin.yaml"))
    assert (problem.line, problem.column) == (1, 1)
    assert "not UTF-8" in problem.message
    assert "welkom" in found.flows


def test_a_time_out_naming_a_flow_that_does_not_exist_is_an_error(flows_dir: Path) -> None:
    (flows_dir / "welkom.yaml").write_text(
        GOOD.replace("languages: [nl, en]\n", "languages: [nl, en]\ntime_out: time-uit\n"),
        encoding="utf-8",
    )
    found = load_flows([flows_dir])
    messages = [str(p) for p in found.errors if p.path.endswith("welkom.yaml")]
    assert len(messages) == 1
    assert ":4:11: error: time_out: there is no flow 'time-uit'" in messages[0]
    assert "welkom" not in found.flows


# --------------------------------------------------------------------------- the library in play

OUTSIDE = """\
id: eigen-intervisie
title: {nl: Eigen intervisie, en: Own intervision}
languages: [nl, en]
roles: [chair]
time_out: time-out
triggers:
  - command: eigen-intervisie
steps:
  - id: hallo
    say: {text: {nl: Welkom, en: Welcome}}
  - id: daarna
    start_flow: reflectie-na-intervisie
"""

OUTSIDE_TEST = """\
flow: eigen-intervisie
team:
  members:
    - {id: anna, roles: [chair]}
    - {id: bram}
cases:
  - name: welkom
    start: {by: anna}
    script:
      - expect:
          - {to: thread, kind: say, says: Welkom}
      - expect_started: reflectie-na-intervisie
"""


@pytest.fixture
def own_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "eigen"
    (folder / "tests").mkdir(parents=True)
    (folder / "eigen-intervisie.yaml").write_text(OUTSIDE, encoding="utf-8")
    (folder / "tests" / "eigen-intervisie.test.yaml").write_text(OUTSIDE_TEST, encoding="utf-8")
    return folder


def test_an_outside_flow_may_start_shipped_flows_without_naming_the_library(own_dir: Path) -> None:
    result = runner.invoke(app, ["flows", "check", str(own_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 flow checked: 0 errors, 0 warnings"


def test_check_and_test_read_samen_flows_dir(
    own_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAMEN_FLOWS_DIR", str(own_dir))
    monkeypatch.chdir(tmp_path)
    checked = runner.invoke(app, ["flows", "check"])
    assert checked.exit_code == 0, checked.output
    assert checked.output.splitlines()[-1] == "1 flow checked: 0 errors, 0 warnings"
    tested = runner.invoke(app, ["flows", "test"])
    assert tested.exit_code == 0, tested.output
    assert tested.output.splitlines()[-1] == "1 passed, 0 failed"
    drawn = runner.invoke(app, ["flows", "graph", "eigen-intervisie"])
    assert drawn.exit_code == 0, drawn.output
    assert drawn.stdout.startswith("flowchart TD")


def test_check_strict_fails_on_a_warning(tmp_path: Path) -> None:
    flow = tmp_path / "welkom.yaml"
    flow.write_text(GOOD.replace("      - otherwise: klaar\n", ""), encoding="utf-8")
    result = runner.invoke(app, ["flows", "check", "--strict", str(flow)])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "1 flow checked: 0 errors, 1 warning (--strict: warnings count as errors)"
    )


def test_test_given_a_flow_file_says_so_and_still_ends_with_the_totals(own_dir: Path) -> None:
    result = runner.invoke(app, ["flows", "test", str(own_dir / "eigen-intervisie.yaml")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "this is a flow, not a flow test; its tests are in" in lines[0]
    assert "missing `flow:`" not in result.output
    assert lines[-1] == "0 passed, 1 failed"


REFUSED = """\
flow: intervisie-complexe-casuistiek
team:
  members:
    - {id: anna, roles: [chair]}
    - {id: bram}
cases:
  - name: bram mag niet starten
    start: {by: bram}
    script:
      - expect_run: {status: refused}
  - name: daarna iets verwachten van de run
    start: {by: bram}
    script:
      - expect_run: {step: uitnodiging}
      - {as: bram, answer: voorbereiding.hulpvraag, value: x}
  - name: een kapotte stap
    script:
      - {as: niemand, answer: a.b}
  - name: goed
    start: {by: anna}
    script:
      - expect_run: {status: active}
"""


def test_a_refused_start_and_broken_cases_are_failed_cases_never_a_traceback(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tests" / "x.test.yaml"
    path.parent.mkdir()
    path.write_text(REFUSED, encoding="utf-8")
    result = runner.invoke(app, ["flows", "test", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert lines[-1] == "2 passed, 2 failed"
    assert "✓ intervisie-complexe-casuistiek: bram mag niet starten" in lines
    assert any("case 'daarna iets verwachten van de run', script step 1" in ln for ln in lines)
    assert any("case 'een kapotte stap', script step 1: 'niemand'" in ln for ln in lines)


def test_a_samen_flows_dir_that_is_not_a_folder_is_said_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMEN_FLOWS_DIR", str(tmp_path / "nergens"))
    for command in ("check", "test"):
        result = runner.invoke(app, ["flows", command])
        assert result.exit_code == 2
        assert "SAMEN_FLOWS_DIR is" in result.stderr and "not a folder" in result.stderr
