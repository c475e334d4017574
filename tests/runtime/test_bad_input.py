"""Bad input to the real `samen` process: an unreachable database, broken flow files,
unknown commands and wrong answers. Each case runs the command line as a subprocess."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.process import ROOT, SamenProcess, environment, samen

UNREACHABLE = "postgresql+asyncpg://nobody:secretpw@127.0.0.1:1/none"


# --------------------------------------------------------------------------- the database


@pytest.mark.parametrize("command", [["run"], ["status"], ["db", "upgrade"]], ids=" ".join)
def test_an_unreachable_database_gives_one_clear_line_without_the_password_or_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    env = environment(tmp_path, SAMEN_DATABASE_URL=UNREACHABLE)
    done = subprocess.run(
        [samen(), *command],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot open the database")
    assert "127.0.0.1:1" in lines[0]  # says which database, with the password hidden
    assert "secretpw" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- flow files

BROKEN_YAML = 'id: kapot\ntitle: {nl: "Kapot"\nsteps: [\n'
MISSPELT = """\
id: verkeerd-gespeld
title: {nl: "Verkeerd", en: "Wrong"}
languages: [nl, en]
roles: [chair]
permissions:
  start: [chair]
triggers:
  - command: verkeerd
steps:
  - id: ronde-1
    phase:
      title: {nl: "Ronde 1", en: "Round 1"}
      duraton: 1m
      warnings: []
"""


def test_broken_flow_files_are_reported_with_file_line_and_column_and_the_others_still_run(
    tmp_path: Path,
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for path in (ROOT / "flows").glob("*.yaml"):
        shutil.copy(path, flows / path.name)
    (flows / "kapot.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    (flows / "verkeerd-gespeld.yaml").write_text(MISSPELT, encoding="utf-8")
    samen = SamenProcess(environment(tmp_path, SAMEN_FLOWS_DIR=str(flows)))
    try:
        samen.type("/als anna", "/samen rol @anna voorzitter", "/samen start intervisie")
        samen.wait_for("Denk aan één patiënt")
        samen.type("/samen start verkeerd")
        samen.wait_for("Die werkvorm ken ik niet")
        code = samen.finish()
    finally:
        samen.kill()
    assert code == 0
    errors = "\n".join(samen.err)
    assert re.search(rf"{re.escape(str(flows / 'kapot.yaml'))}:\d+:\d+: error: ", errors), errors
    assert re.search(
        rf"{re.escape(str(flows / 'verkeerd-gespeld.yaml'))}:13:7: error: .*'duraton'.*"
        r"did you mean 'duration'",
        errors,
    ), errors
    assert "Traceback" not in errors
    # Said once: no message is delivered twice when nothing crashed.
    assert samen.said().count("[#team] Samen: Over een paar dagen is de intervisie") == 1


# --------------------------------------------------------------------------- commands


def test_unknown_commands_and_wrong_answers_get_a_friendly_reply_in_the_team_language(
    tmp_path: Path,
) -> None:
    samen = SamenProcess(environment(tmp_path, SAMEN_FLOWS_DIR=str(ROOT / "flows")))
    try:
        samen.type("/als anna", "/samen vliegen")
        samen.wait_for(
            "[alleen voor anna] Samen: Dat commando ken ik niet: '/samen vliegen'. "
            "Typ /samen voor wat ik kan."
        )
        samen.type("/samen rol @anna voorzitter", "/samen start intervisie")
        samen.wait_for("↳ Antwoorden: /a <nummer> <antwoord>, bijvoorbeeld /a 1 …")
        # Question 2 is a choice: the form numbers its labels; an answer outside it is
        # asked again in the same words, kindly — every time.
        samen.wait_for("2. Kies één: 1 = Korter dan een jaar")
        samen.type("/a 2 misschien")
        samen.wait_for("Kies één: 1 = Korter dan een jaar", times=2)
        samen.type("/a 2 eeuwig")
        samen.wait_for("Kies één: 1 = Korter dan een jaar", times=3)
        samen.type("/a 2 2")
        samen.type("/samen taal en", "/samen vliegen")
        samen.wait_for(
            "I don't know that command: '/samen vliegen'. Type /samen to see what I can do."
        )
        code = samen.finish()
    finally:
        samen.kill()
    assert code == 0
    assert "Traceback" not in "\n".join(samen.err)
    assert samen.said().count("Dat commando ken ik niet") == 1
    assert samen.said().count("Over een paar dagen is de intervisie") == 1
