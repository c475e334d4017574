"""The access log holds under tampering (R-PRV-7): an altered field, a deleted middle
row, a cut tail and a chain recomputed from the start are all detected. Links are
HMACs under the audit key kept apart from the database; the anchor (row count and last
hash), kept outside Samen, catches what a chain that still holds cannot show."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.store import access_log
from bot.store.access_log import GENESIS, Access, Anchor, row_hash, row_mac
from bot.store.repo import Store
from bot.store.sealed import AuditKey, default_key_file

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _db(data: Path) -> Path:
    return data / "samen.db"


async def _logged(data: Path, n: int) -> Anchor:
    store = await Store.open(f"sqlite+aiosqlite:///{_db(data)}")
    try:
        async with store.sessionmaker() as s, s.begin():
            for i in range(n):
                await access_log.append(
                    s, Access("read", f"answers of run r{i}", "team:t", "u1"), NOW
                )
        return await store.access_log_anchor()
    finally:
        await store.close()


async def _verify(data: Path, kept: Anchor | None = None) -> access_log.Verdict:
    store = await Store.open(f"sqlite+aiosqlite:///{_db(data)}")
    try:
        return await store.verify_access_log(kept)
    finally:
        await store.close()


def _sql(data: Path, statement: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(_db(data)) as db:
        return db.execute(statement, args).fetchall()


def _ids(data: Path) -> list[int]:
    return [int(str(r[0])) for r in _sql(data, "SELECT id FROM access_log ORDER BY id")]


async def test_an_intact_log_verifies_and_matches_its_anchor(tmp_path: Path) -> None:
    kept = await _logged(tmp_path, 5)
    assert kept.rows == 5 and len(kept.head) == 64
    assert (await _verify(tmp_path, kept)).ok
    assert Anchor.parse(str(kept)) == kept


async def test_an_altered_field_breaks_the_chain_at_its_row(tmp_path: Path) -> None:
    await _logged(tmp_path, 4)
    third = _ids(tmp_path)[2]
    _sql(tmp_path, "UPDATE access_log SET subject = 'team:x' WHERE id = ?", third)
    verdict = await _verify(tmp_path)
    assert not verdict.ok and verdict.broken_at == third


async def test_a_deleted_middle_row_breaks_the_chain_after_it(tmp_path: Path) -> None:
    await _logged(tmp_path, 4)
    ids = _ids(tmp_path)
    _sql(tmp_path, "DELETE FROM access_log WHERE id = ?", ids[1])
    verdict = await _verify(tmp_path)
    assert not verdict.ok and verdict.broken_at == ids[2]


async def test_a_cut_tail_is_caught_by_the_anchor(tmp_path: Path) -> None:
    kept = await _logged(tmp_path, 5)
    ids = _ids(tmp_path)
    _sql(tmp_path, "DELETE FROM access_log WHERE id >= ?", ids[3])
    assert (await _verify(tmp_path)).ok  # the chain that is left holds...
    verdict = await _verify(tmp_path, kept)  # ... but not against the anchor
    assert not verdict.ok and "cut off the end" in verdict.problem


async def test_a_chain_recomputed_without_the_key_is_caught(tmp_path: Path) -> None:
    kept = await _logged(tmp_path, 4)
    # Rewrite the second row and recompute every link after it, as one who can read the
    # code but not the audit key would: with SHA-256, and with an HMAC of a guessed key.
    for forge in (row_hash, lambda p, at, a: row_mac(b"\x00" * 32, p, at, a)):
        rows = _sql(
            tmp_path,
            "SELECT id, at, action, what, subject, actor, on_behalf_of FROM access_log ORDER BY id",
        )
        prev = GENESIS
        for i, (row_id, at, action, what, subject, actor, behalf) in enumerate(rows):
            if i == 1:
                what = "nothing to see"
            moment = datetime.fromisoformat(str(at)).replace(tzinfo=UTC)
            access = Access(str(action), str(what), str(subject), str(actor), str(behalf))
            link = forge(prev, moment, access)
            _sql(
                tmp_path,
                "UPDATE access_log SET what = ?, prev_hash = ?, hash = ? WHERE id = ?",
                what,
                prev,
                link,
                row_id,
            )
            prev = link
        verdict = await _verify(tmp_path)
        assert not verdict.ok and verdict.broken_at == rows[0][0]
        verdict = await _verify(tmp_path, kept)
        assert not verdict.ok


async def test_rows_chained_before_the_key_existed_are_checked_as_they_were(
    tmp_path: Path,
) -> None:
    await _logged(tmp_path, 3)
    audit_file = default_key_file(tmp_path).with_suffix(".audit.key")
    body = json.loads(audit_file.read_text())
    assert body["legacy_rows"] == 0  # made when the log was empty
    # As an older Samen would have left it: 2 rows chained with plain SHA-256.
    rows = _sql(
        tmp_path,
        "SELECT id, at, action, what, subject, actor, on_behalf_of FROM access_log ORDER BY id",
    )
    prev = GENESIS
    for row_id, at, action, what, subject, actor, behalf in rows[:2]:
        moment = datetime.fromisoformat(str(at)).replace(tzinfo=UTC)
        link = row_hash(
            prev, moment, Access(str(action), str(what), str(subject), str(actor), str(behalf))
        )
        _sql(tmp_path, "UPDATE access_log SET prev_hash=?, hash=? WHERE id=?", prev, link, row_id)
        prev = link
    _sql(tmp_path, "DELETE FROM access_log WHERE id = ?", rows[2][0])
    audit_file.unlink()  # the key is made now, with the 2 rows the log has
    assert (await _verify(tmp_path)).ok
    assert AuditKey.from_environment(tmp_path).legacy_rows == 2


def test_audit_anchor_and_verify_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    asyncio.run(_logged(data, 3))
    env = {"SAMEN_DATA_DIR": str(data)}
    runner = CliRunner()
    printed = runner.invoke(app, ["audit", "anchor"], env=env)
    assert printed.exit_code == 0, printed.output
    kept = printed.output.strip()
    assert Anchor.parse(kept).rows == 3
    ok = runner.invoke(app, ["audit", "verify", "--anchor", kept], env=env)
    assert ok.exit_code == 0 and "matches the anchor: 3 rows" in ok.output
    _sql(data, "DELETE FROM access_log WHERE id = (SELECT max(id) FROM access_log)")
    cut = runner.invoke(app, ["audit", "verify", "--anchor", kept], env=env)
    assert cut.exit_code == 1 and "cut off the end" in cut.output
    bad = runner.invoke(app, ["audit", "verify", "--anchor", "twelve"], env=env)
    assert bad.exit_code == 2 and "<rows>:<hash>" in bad.output


async def test_the_daily_purge_writes_the_anchor_to_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.store import privacy

    caplog.set_level("INFO")
    store = await Store.open(f"sqlite+aiosqlite:///{_db(tmp_path)}")
    try:
        await privacy.purge(store, {}, now=NOW + timedelta(days=1))
        kept = await store.access_log_anchor()
    finally:
        await store.close()
    assert f"access log anchor {kept}" in caplog.text
