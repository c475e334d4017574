"""`samen status`: on a data dir without a database it says so and creates nothing; its
figures are plain words with moments in local time (issue 20)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli import status_lines
from bot.store.repo import Store
from tests.harness.process import environment, samen


def test_status_on_a_missing_data_dir_says_so_and_creates_nothing(tmp_path: Path) -> None:
    env = environment(tmp_path)
    done = subprocess.run(
        [samen(), "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "there is no Samen database in" in done.stderr and "SAMEN_DATA_DIR" in done.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / ".samen").exists()


def test_status_speaks_plain_words_in_local_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()

    async def make() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{data / 'samen.db'}", migrate=True)
        await store.close()

    asyncio.run(make())
    env = {**environment(tmp_path), "TZ": "Europe/Amsterdam"}
    done = subprocess.run(
        [samen(), "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Timers waiting: 0",
        "Next timer due: none",
        "Oldest overdue timer: none",
        "Events not yet handled: 0",
        "Messages waiting to be sent: 0",
        "Messages that failed: 0",
    ]
    assert "None" not in done.stdout and "_" not in done.stdout


def test_a_moment_is_shown_in_local_time() -> None:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Amsterdam"
    time.tzset()
    try:
        due = datetime(2026, 12, 24, 13, 0, tzinfo=UTC)
        lines = status_lines(
            {
                "timers_pending": 1,
                "next_due": due.replace(tzinfo=None),  # SQLite gives UTC without a zone
                "oldest_overdue": due - timedelta(hours=1),
                "inbox_backlog": 0,
                "outbox_backlog": 0,
                "outbox_failed": 0,
            }
        )
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
    assert lines[1] == "Next timer due: Thu 24 Dec 2026 14:00 CET"
    assert lines[2] == "Oldest overdue timer: Thu 24 Dec 2026 13:00 CET"
