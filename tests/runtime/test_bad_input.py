"""Bad input to the real `samen` process: an unreachable database, broken flow files,
unknown commands and wrong answers. Each case runs the command line as a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SAMEN = ROOT / ".venv" / "bin" / "samen"
UNREACHABLE = "postgresql+asyncpg://nobody:secretpw@127.0.0.1:1/none"

pytestmark = pytest.mark.skipif(not SAMEN.exists(), reason="needs .venv/bin/samen")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SAMEN_", "SLACK_", "TELEGRAM_"))
    }
    env.update(SAMEN_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1", **extra)
    return env


class Samen:
    """One `samen run` process: type lines into it, read what it printed, stop it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(SAMEN), "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    def type(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(line + "\n" for line in lines))
        self.proc.stdin.flush()

    def wait_for(self, text: str, times: int = 1, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(line.count(text) for line in self.out) < times:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        f"{text!r} not printed {times}x within {timeout}s\n"
                        + self.said()
                        + "\n"
                        + "\n".join(self.err)
                    )
                self._changed.wait(min(left, 0.2))

    def finish(self, timeout: float = 30.0) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def said(self) -> str:
        return "\n".join(self.out)


# --------------------------------------------------------------------------- the database


@pytest.mark.parametrize("command", [["run"], ["status"], ["db", "upgrade"]], ids=" ".join)
def test_an_unreachable_database_gives_one_clear_line_without_the_password_or_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    env = environment(tmp_path, SAMEN_DATABASE_URL=UNREACHABLE)
    done = subprocess.run(
        [str(SAMEN), *command],
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
    samen = Samen(environment(tmp_path, SAMEN_FLOWS_DIR=str(flows)))
    try:
        samen.type("/als anna", "/samen rol @anna voorzitter", "/samen start intervisie")
        samen.wait_for("Denk aan één patiënt")
        samen.type("/samen start verkeerd")
        samen.wait_for("Er is geen werkvorm 'verkeerd'")
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
    samen = Samen(environment(tmp_path, SAMEN_FLOWS_DIR=str(ROOT / "flows")))
    try:
        samen.type("/als anna", "/samen vliegen")
        samen.wait_for(
            "[alleen voor anna] Samen: Dat commando ken ik niet: '/samen vliegen'. "
            "Typ /samen voor wat ik kan."
        )
        samen.type("/samen rol @anna voorzitter", "/samen start intervisie")
        samen.wait_for("↳ /a <1-4> <antwoord>")
        # Question 2 is a choice: an answer outside it is asked again, kindly — every time.
        samen.type("/a 2 misschien")
        samen.wait_for("Kies één van: Korter dan een jaar")
        samen.type("/a 2 eeuwig")
        samen.wait_for("Kies één van: Korter dan een jaar", times=2)
        samen.type("/a 2 langer")
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
