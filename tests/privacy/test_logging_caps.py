"""Logs (R-PRV-8): no SQL parameter, URL or payload of a dependency at any level.

A display name is stored in plain text (`members.name`); at DEBUG the SQLite driver
would log the statement that stores it with its parameters. With Samen's logging at
DEBUG, the name must still be in no log record."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.privacy import logs
from tests.harness.console import console_world

NAME = "Zebravinkje"


async def test_at_debug_no_dependency_logs_a_stored_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # before the engine exists, as `samen run` would be
    for name in logs.CAPPED:  # as a process that never configured them starts
        logging.getLogger(name).setLevel(logging.NOTSET)
    async with console_world(tmp_path) as t:
        await t.type(f"/als {NAME}", "/samen", "/samen status")
        assert NAME in t.said() or NAME.lower() in t.said().lower()
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert logging.getLogger("samen").isEnabledFor(logging.DEBUG)
    assert NAME.lower() not in text.lower()
    for name in logs.CAPPED:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING


def test_the_log_level_is_chosen_and_an_unknown_one_is_named() -> None:
    result = CliRunner().invoke(app, ["run", "--log-level", "loud"])
    assert result.exit_code == 2
    assert "unknown log level 'loud'" in result.output and "debug, info" in result.output
    root = logging.getLogger()
    before = root.level
    try:
        logs.configure("DEBUG")
        assert root.level == logging.DEBUG
        assert logging.getLogger("aiosqlite").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("sqlalchemy.engine.Engine").getEffectiveLevel() == logging.WARNING
    finally:
        root.setLevel(before)
