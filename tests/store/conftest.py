"""Store fixtures: every store test runs on SQLite and on the PostgreSQL of this machine.

PostgreSQL: `SAMEN_TEST_POSTGRES_URL`, or postgres@127.0.0.1:5432/test (then root@...).
Each test gets its own fresh schema (`samen_test_<random>`, selected with `search_path`,
dropped afterwards), so tests and concurrent test runs never see each other's rows and
nothing else in the database is touched. Unreachable PostgreSQL skips those tests, except
in CI (`CI=true`), where the PostgreSQL run is mandatory and they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store.db import DatabaseUnavailable, open_engine
from bot.store.repo import Store

DEFAULT_POSTGRES_URLS = (
    "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    "postgresql+asyncpg://root@127.0.0.1:5432/test",
)

# Probed once per test session: (a reachable URL or None, why not).
_postgres: list[tuple[str | None, str]] = []


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite" | "postgresql"
    url: str
    schema: str | None = None


async def _reachable_postgres() -> tuple[str | None, str]:
    if not _postgres:
        override = os.environ.get("SAMEN_TEST_POSTGRES_URL")
        reasons = []
        for url in (override,) if override else DEFAULT_POSTGRES_URLS:
            try:
                engine = await open_engine(url, connect_timeout=3)
            except DatabaseUnavailable as exc:
                reasons.append(str(exc))
                continue
            await engine.dispose()
            _postgres.append((url, ""))
            break
        else:
            _postgres.append((None, " | ".join(reasons)))
    return _postgres[0]


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An empty database (no tables yet) of each kind."""
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'samen.db'}")
        return

    url, why = await _reachable_postgres()
    if url is None:
        message = f"PostgreSQL is not reachable: {why}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (the PostgreSQL store tests are mandatory in CI)")
        pytest.skip(message)
    schema = f"samen_test_{uuid.uuid4().hex[:12]}"
    admin = await open_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield Backend("postgresql", url, schema)
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A migrated, empty store on each backend."""
    opened = await Store.open(backend.url, schema=backend.schema)
    try:
        yield opened
    finally:
        await opened.close()
