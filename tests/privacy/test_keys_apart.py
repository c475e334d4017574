"""Keys kept apart from the data (R-PRV-2): the embedded default key file lives outside
the data folder, is written only when no sealed value needs another key, and its path is
told once; a missing or wrong key stops Samen with what to do, and never leads to a new
key; the database files are 0600 in a 0700 folder."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.store.repo import Store
from bot.store.sealed import DataKeyError, Keyring, default_key_file
from tests.harness.console import console_world


def _url(data: Path) -> str:
    return f"sqlite+aiosqlite:///{data / 'samen.db'}"


async def _with_an_answer(data: Path) -> None:
    async with console_world(data.parent, data=data) as t:
        await t.type("/als anna", "/samen", "/samen start reflectie-in-vijf-minuten")


async def test_the_key_file_is_made_once_outside_the_data_folder_and_its_path_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    caplog.set_level(logging.WARNING)
    await _with_an_answer(data)
    key_file = default_key_file(data)
    told = [r.getMessage() for r in caplog.records if "made a new data key" in r.getMessage()]
    assert len(told) == 1 and str(key_file) in told[0] and "back it up" in told[0]
    assert key_file.is_file() and not key_file.is_relative_to(data)
    assert list(data.iterdir()) and not any(p.suffix == ".key" for p in data.iterdir())
    caplog.clear()
    await _with_an_answer(data)  # a restart reads the same key and says nothing
    assert not [r for r in caplog.records if "made a new data key" in r.getMessage()]
    # The data folder is its user's only, the database files too.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        if path.name.startswith("samen.db"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_with_the_key_file_gone_samen_refuses_and_makes_no_new_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    asyncio.run(_with_an_answer(data))
    key_file = default_key_file(data)
    key_file.unlink()
    with pytest.raises(DataKeyError, match="is missing; Samen does not start and makes no new"):
        asyncio.run(Store.open(_url(data)))
    assert not key_file.exists()
    # The same from the command line: a clear message, exit 1, still no key.
    result = CliRunner().invoke(app, ["audit", "verify"], env={"SAMEN_DATA_DIR": str(data)})
    assert result.exit_code == 1, result.output
    assert "makes no new key" in result.output and "Traceback" not in result.output
    assert not key_file.exists()
    result = CliRunner().invoke(app, ["keys", "rotate"], env={"SAMEN_DATA_DIR": str(data)})
    assert result.exit_code == 1 and "no key file" in result.output
    result = CliRunner().invoke(app, ["run"], env={"SAMEN_DATA_DIR": str(data)})
    assert result.exit_code == 1 and "makes no new key" in result.output
    assert not key_file.exists()
    # A key file in the data folder (where an older Samen kept it) is refused, with the move.
    (data / "data.key").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(app, ["run"], env={"SAMEN_DATA_DIR": str(data)})
    assert result.exit_code == 1 and "inside the data folder" in result.output
    assert f"mv {data / 'data.key'} {key_file}" in result.output


async def test_a_wrong_environment_key_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    await _with_an_answer(data)
    monkeypatch.setenv("SAMEN_DATA_KEY", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(DataKeyError, match="SAMEN_DATA_KEY / SAMEN_DATA_KEYS_OLD do not hold"):
        await Store.open(_url(data))
    # With the right key among the old ones it opens.
    right = Keyring.from_file(default_key_file(data)).keys
    old = ",".join(base64.b64encode(k).decode() for k in right.values())
    monkeypatch.setenv("SAMEN_DATA_KEYS_OLD", old)
    store = await Store.open(_url(data))
    await store.close()


async def test_an_empty_database_gets_a_key_and_an_in_memory_one_writes_no_file(
    tmp_path: Path,
) -> None:
    store = await Store.open("sqlite+aiosqlite://")
    try:
        assert store.keyring.path is None
    finally:
        await store.close()
    assert not (tmp_path / "config").exists()
