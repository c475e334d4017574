"""Store fixtures: every store test runs on SQLite and on the PostgreSQL of this machine.

PostgreSQL: see tests/postgres.py (mandatory in CI, skipped with its reason elsewhere).
Each test gets its own fresh schema (`samen_test_<random>`, selected with `search_path`,
dropped afterwards), so tests and concurrent test runs never see each other's rows and
nothing else in the database is touched.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store.db import open_engine
from bot.store.repo import Store
from tests.postgres import postgres_url


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite" | "postgresql"
    url: str
    schema: str | None = None


@asynccontextmanager
async def fresh_backend(kind: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """An empty database (no tables yet) of `kind` ("sqlite" or "postgresql"); a
    PostgreSQL schema is dropped afterwards."""
    if kind == "sqlite":
        yield Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'samen.db'}")
        return

    url = await postgres_url()
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


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An empty database (no tables yet) of each kind."""
    async with fresh_backend(request.param, tmp_path) as made:
        yield made


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A migrated, empty store on each backend."""
    opened = await Store.open(backend.url, schema=backend.schema)
    try:
        yield opened
    finally:
        await opened.close()
