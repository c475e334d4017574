"""Opening the database and migrating it: pragmas, clear failures, schema equal to the models."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.store.db import DatabaseUnavailable, open_engine, redact_url, writer_engine
from bot.store.migrate import alembic_config, current_revision, head_revision, upgrade
from bot.store.repo import Store
from bot.store.tables import Base

ROOT = Path(__file__).resolve().parents[2]


class Backend(Protocol):  # the `backend` fixture of conftest.py
    url: str
    schema: str | None


def _differences(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_equals_the_models(backend: Backend) -> None:
    engine = await open_engine(backend.url, schema=backend.schema)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision() is not None
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            # The comparison can fail: a missing index is seen.
            await conn.execute(text("DROP INDEX ix_timers_status_due"))
            differences = await conn.run_sync(_differences)
        assert [d[0] for d in differences] == ["add_index"]  # type: ignore[index]
    finally:
        await engine.dispose()


async def test_migrating_twice_changes_nothing_and_downgrade_removes_every_table(
    backend: Backend,
) -> None:
    await upgrade(backend.url, schema=backend.schema)
    await upgrade(backend.url, schema=backend.schema)
    engine = await open_engine(backend.url, schema=backend.schema)

    def downgrade(conn: Connection) -> list[str]:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        return [t for t in inspect(conn).get_table_names() if t != "alembic_version"]

    try:
        async with engine.begin() as conn:
            assert await conn.run_sync(downgrade) == []
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def test_migrations_run_from_another_working_directory(tmp_path: Path) -> None:
    """script_location is found from the package, not from the current directory."""
    db = tmp_path / "elsewhere" / "samen.db"
    code = (
        "import asyncio; from bot.store.migrate import upgrade; "
        f"asyncio.run(upgrade('sqlite+aiosqlite:///{db}'))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert db.exists()


async def test_sqlite_connections_use_wal_a_long_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'dir' / 'samen.db'}")
    try:
        async with store.engine.connect() as conn:
            pragma = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
            }
    finally:
        await store.close()
    assert pragma["journal_mode"] == "wal"
    assert int(pragma["busy_timeout"]) >= 5000  # type: ignore[arg-type]
    assert pragma["synchronous"] == 1  # NORMAL
    assert pragma["foreign_keys"] == 1


async def test_a_sqlite_connection_left_in_a_transaction_is_rolled_back_on_return(
    tmp_path: Path,
) -> None:
    """A connection given back in the middle of a transaction - here by using the driver
    directly - comes back clean, its writes undone."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        async with store.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("CREATE TABLE scratch (x INTEGER)")
            assert driver.in_transaction
        async with store.engine.connect() as conn:  # the same (only) connection again
            assert not (await conn.get_raw_connection()).driver_connection.in_transaction
            query = "SELECT count(*) FROM sqlite_master WHERE name = 'scratch'"
            left = (await conn.exec_driver_sql(query)).scalar()
        assert left == 0
        team = await store.team_for_channel("console", "#team", now=datetime.now(UTC))
        assert await store.get_team(team.id) is not None  # writes go on as usual
    finally:
        await store.close()


async def test_a_sqlite_write_transaction_holds_the_write_lock_from_its_begin(
    tmp_path: Path,
) -> None:
    """Writes begin with BEGIN IMMEDIATE (a write never fails upgrading a stale read
    snapshot); reads with a plain BEGIN, which takes no lock."""
    path = tmp_path / "samen.db"
    engine = await open_engine(f"sqlite+aiosqlite:///{path}")
    writer = writer_engine(engine)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with writer.begin() as conn:
            await conn.execute(text("SELECT 1"))  # a read, but in a write transaction
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once committed
        other.execute("ROLLBACK")
        async with engine.begin() as conn:  # a read transaction takes no lock
            await conn.execute(text("SELECT 1"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        await writer.dispose()
        await engine.dispose()


async def test_an_unreachable_postgresql_gives_one_clear_line_without_the_password() -> None:
    url = "postgresql+asyncpg://samen:s3cret-Pw@127.0.0.1:1/samen"
    with pytest.raises(DatabaseUnavailable) as caught:
        await open_engine(url, connect_timeout=3)
    message = str(caught.value)
    assert "s3cret-Pw" not in message and "s3cret-Pw" not in repr(caught.value)
    assert "postgresql+asyncpg://samen:***@127.0.0.1:1/samen" in message
    assert "is PostgreSQL running" in message and "SAMEN_DATABASE_URL" in message
    assert "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_store_open_raises_database_unavailable_too() -> None:
    with pytest.raises(DatabaseUnavailable, match=r"samen:\*\*\*@127\.0\.0\.1:1"):
        await Store.open("postgresql+asyncpg://samen:geheim@127.0.0.1:1/samen")


async def test_an_unusable_sqlite_path_is_reported_with_what_to_check(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnavailable, match="check SAMEN_DATA_DIR"):
        await open_engine(f"sqlite+aiosqlite:///{blocker / 'samen.db'}")
    not_sqlite = tmp_path / "junk.db"
    not_sqlite.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(DatabaseUnavailable, match="check SAMEN_DATA_DIR"):
        await open_engine(f"sqlite+aiosqlite:///{not_sqlite}")


@pytest.mark.parametrize("url", ["nonsense", "mysql+aiomysql://u:pw@host/db"])
async def test_an_unsupported_url_is_refused_with_a_hint(url: str) -> None:
    with pytest.raises(DatabaseUnavailable, match="check SAMEN_DATABASE_URL") as caught:
        await open_engine(url)
    assert ":pw@" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://u:p%40ss@h:5432/d", "postgresql+asyncpg://u:***@h:5432/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite+aiosqlite:///.samen/samen.db", "sqlite+aiosqlite:///.samen/samen.db"),
        ("not a url://u:secret@h", "not a url://u:***@h"),
    ],
)
def test_urls_are_shown_with_the_password_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown


async def test_a_database_error_never_quotes_the_values_of_its_statement(tmp_path: Path) -> None:
    """R-PRV-8: an error's text may end up in a log; the values (answers) must not."""
    engine = await open_engine(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT NOT NULL UNIQUE)"))
            await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": "mijn geheime antwoord"})
        with pytest.raises(IntegrityError) as caught:
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO t VALUES (:v)"), {"v": "mijn geheime antwoord"}
                )
        assert "mijn geheime antwoord" not in str(caught.value)
    finally:
        await engine.dispose()
