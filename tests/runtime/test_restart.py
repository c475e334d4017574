"""Kill -9 and restart: `samen run` as a real process on SQLite (R-SCH-1, R-SCH-7, R-OPS-3).

Each test starts `samen run` with the console adapter, types into its stdin, kills it
with SIGKILL at a chosen moment, and starts it again on the same data directory. Instead
of waiting minutes for a bell to be missed, the test moves the meeting back in time in
the database while the process is down: the timer row AND the run's own state (its timer,
phase start and end), the way they would look had the process been down for minutes.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.store.sealed import Keyring, default_key_file, is_sealed_json
from tests.harness.console import SHORT_MEETING
from tests.harness.process import ROOT, SamenProcess, environment

DB_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how the store keeps a UTC moment in SQLite
FINAL = {"sent", "skipped", "cancelled", "failed"}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[dict[str, str], Path]:
    flows = tmp_path / "flows"
    flows.mkdir()
    for path in (ROOT / "flows").glob("*.yaml"):
        shutil.copy(path, flows / path.name)
    (flows / "kort-overleg.yaml").write_text(SHORT_MEETING, encoding="utf-8")
    env = environment(tmp_path, SAMEN_FLOWS_DIR=str(flows))
    return env, tmp_path / "data" / "samen.db"


def start(env: dict[str, str]) -> SamenProcess:
    return SamenProcess(env)


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


def open_state(db: Path, raw: str, run_id: str) -> dict[str, Any]:
    """A run's state as stored: sealed with the data folder's key file (R-PRV-2), which
    lives outside the folder (the tests' configuration directory, tests/conftest.py),
    and bound to its run."""
    stored = json.loads(raw)
    assert is_sealed_json(stored), "run state must be sealed at rest"
    ring = Keyring.from_file(default_key_file(db.parent))
    return dict(json.loads(ring.open(stored["sealed"], "runs.state", run_id)))


def _shift_iso(value: str, delta: timedelta) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) - delta
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def move_meeting_back(db: Path, run_id: str, delta: timedelta) -> None:
    """As if the meeting had started `delta` earlier: its timer rows and its run state."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        with conn:
            for row_id, due in conn.execute(
                "SELECT id, due_at FROM timers WHERE run_id = ? AND status = 'pending'", (run_id,)
            ).fetchall():
                moved = datetime.strptime(due, DB_TIME) - delta
                conn.execute(
                    "UPDATE timers SET due_at = ? WHERE id = ?", (moved.strftime(DB_TIME), row_id)
                )
            (raw,) = conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
            state = open_state(db, raw, run_id)  # written back sealed: plain is refused
            for key in ("clock", "started_at"):
                state[key] = _shift_iso(state[key], delta)
            for timer in state["timers"].values():
                timer["due"] = _shift_iso(timer["due"], delta)
            for key in ("started_at", "ends_at"):
                if state["state"].get(key):
                    state["state"][key] = _shift_iso(state["state"][key], delta)
            ring = Keyring.from_file(default_key_file(db.parent))
            plain = json.dumps(state).encode("utf-8")
            sealed = {"sealed": ring.seal(plain, "runs.state", run_id)}
            conn.execute("UPDATE runs SET state = ? WHERE id = ?", (json.dumps(sealed), run_id))
    finally:
        conn.close()


def assert_outbox_clean(db: Path) -> None:
    stuck = query(db, "SELECT id, kind, status FROM outbox WHERE status != 'sent'")
    assert stuck == [], f"outbox rows not delivered: {stuck}"
    doubled = query(
        db, "SELECT idempotency_key, COUNT(*) FROM outbox GROUP BY 1 HAVING COUNT(*) > 1"
    )
    assert doubled == []


def printed_count(processes: list[SamenProcess], text: str) -> int:
    return sum(line.count(text) for p in processes for line in p.out)


def test_a_bell_missed_while_samen_was_killed_is_skipped_the_chair_is_told_once_and_the_meeting_goes_on(  # noqa: E501
    setup: tuple[dict[str, str], Path],
) -> None:
    """R-SCH-1, R-SCH-7: a bell 5 minutes overdue at restart is not rung but recorded."""
    env, db = setup
    began = time.monotonic()
    first = start(env)
    try:
        first.type("/als anna", "/samen rol @anna voorzitter", "/samen start kort")
        first.wait_for("⏱ Ronde 1")
    finally:
        first.kill()
    assert first.proc.returncode == -signal.SIGKILL

    bells = query(
        db,
        "SELECT id, run_id, timer, due_at FROM timers WHERE status = 'pending' AND kind = 'bell'",
    )
    assert len(bells) == 1, bells
    bell_id, run_id, timer, due = bells[0]
    assert timer == "ronde-1:bell"
    late_by = datetime.strptime(due, DB_TIME) - (datetime.now(UTC).replace(tzinfo=None))
    move_meeting_back(db, run_id, late_by + timedelta(minutes=5))
    (moved,) = query(db, "SELECT due_at FROM timers WHERE id = ?", bell_id)[0]
    assert datetime.now(UTC).replace(tzinfo=None) - datetime.strptime(moved, DB_TIME) > (
        timedelta(minutes=4, seconds=50)
    )

    second = start(env)
    try:
        second.type("/samen status")
        code = second.finish()
    finally:
        second.kill()
    assert code == 0, second.errors()

    # The missed bell was handled by its policy: recorded as skipped, not rung.
    assert query(db, "SELECT status FROM timers WHERE id = ?", bell_id) == [("skipped",)]
    assert query(db, "SELECT COUNT(*) FROM outbox WHERE msg_key LIKE 'bell:%'") == [(0,)]
    assert "🔔 De tijd is om" not in second.said()
    # The chair heard it once, in a direct message.
    notes = query(
        db, "SELECT destination, status FROM outbox WHERE msg_key = ?", f"late:{timer}:anna"
    )
    assert notes == [("dm:anna", "sent")]
    assert printed_count([first, second], "kwam te laat en is niet geluid") == 1
    assert "[DM anna] Samen: De bel van Ronde 1 kwam te laat" in second.said()
    # The meeting went on to the next phase, and the team heard that.
    (raw,) = query(db, "SELECT state FROM runs WHERE id = ?", run_id)[0]
    assert open_state(db, raw, run_id)["step"] == "ronde-2"
    assert printed_count([second], "⏱ Ronde 2") == 1
    # Nothing stuck, nothing duplicated more than once across the one crash.
    assert_outbox_clean(db)
    assert 1 <= printed_count([first, second], "⏱ Ronde 1") <= 2
    assert query(db, "SELECT COUNT(*) FROM inbox WHERE status = 'new'") == [(0,)]
    assert time.monotonic() - began < 60


BURST = (
    "/bel proces",
    "/bel pauze",
    "/bel verder",
    "/bel +5",
    "/samen status",
    "/bel proces",
    "/bel pauze",
    "/bel verder",
)


def test_a_kill_in_the_middle_of_a_burst_leaves_no_event_unhandled_and_no_timer_lost(
    setup: tuple[dict[str, str], Path],
) -> None:
    """R-SCH-7, R-OPS-3: kill -9 while a burst of commands is being handled, then restart."""
    env, db = setup
    began = time.monotonic()
    first = start(env)
    try:
        first.type("/als anna", "/samen rol @anna voorzitter", "/samen start kort", *BURST)
        first.wait_for("⏱ Ronde 1")
    finally:
        first.kill()
    pending_at_kill = [
        row_id for (row_id,) in query(db, "SELECT id FROM timers WHERE status = 'pending'")
    ]
    inbox_at_kill = query(db, "SELECT COUNT(*) FROM inbox")[0][0]

    second = start(env)
    try:
        code = second.finish()
    finally:
        second.kill()
    assert code == 0, second.errors()
    ended = datetime.now(UTC).replace(tzinfo=None)

    # Every event stored before the kill was handled after the restart.
    assert query(db, "SELECT id FROM inbox WHERE status = 'new'") == []
    assert query(db, "SELECT COUNT(*) FROM inbox")[0][0] == inbox_at_kill
    # Every timer pending at the kill is final now, or still pending for a future moment.
    for row_id in pending_at_kill:
        ((status, due),) = query(db, "SELECT status, due_at FROM timers WHERE id = ?", row_id)
        assert status in FINAL or (
            status == "pending" and datetime.strptime(due, DB_TIME) > ended - timedelta(seconds=5)
        ), (row_id, status, due)
    # A pending bell that is not in the run's state any more would ring a ghost bell later.
    (raw, run_id) = query(db, "SELECT state, id FROM runs WHERE flow_id = 'kort-overleg'")[0]
    in_state = set(open_state(db, raw, run_id)["timers"])
    for timer, status in query(db, "SELECT timer, status FROM timers WHERE kind = 'bell'"):
        assert (status == "pending") == (timer in in_state), (timer, status, in_state)
    assert_outbox_clean(db)
    printed = Counter(line for p in (first, second) for line in p.out if "Samen:" in line)
    headers = {line: n for line, n in printed.items() if "⏱" in line}
    assert headers and all(n <= 2 for n in headers.values()), headers
    assert time.monotonic() - began < 60
