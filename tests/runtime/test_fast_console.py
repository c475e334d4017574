"""`samen run --speed 60`: try a format in minutes in the console; refused beside a
platform (issue 20)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness.console import SHORT_MEETING
from tests.harness.process import ROOT, SamenProcess, environment, samen


def test_the_console_runs_a_meeting_on_fast_time_in_a_scratch_database(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "kort-overleg.yaml").write_text(SHORT_MEETING, encoding="utf-8")
    data = tmp_path / "data"
    samen_ = SamenProcess(environment(tmp_path, SAMEN_FLOWS_DIR=str(flows)), "--speed", "120")
    try:
        samen_.wait_for("Time runs 120 times faster")
        samen_.type("/als anna", "/samen rol @anna voorzitter", "/samen start kort")
        # Two one-minute rounds: each ends with the bell, half a real second apart.
        samen_.wait_for("🔔", times=2, timeout=60)
        code = samen_.finish()
    finally:
        samen_.kill()
    assert code == 0, samen_.errors()
    assert "Traceback" not in samen_.errors()
    assert not data.exists()  # fast time never touches the real data


def test_speed_is_refused_beside_a_platform(tmp_path: Path) -> None:
    env = environment(tmp_path, TELEGRAM_BOT_TOKEN="123456:ABC-not-a-real-token")
    done = subprocess.run(
        [samen(), "run", "--speed", "60"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--speed is for trying Samen in the console" in done.stderr
    assert "ABC-not-a-real-token" not in done.stderr + done.stdout
