"""Fixtures of the reliability tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.store.db import open_engine
from tests.postgres import postgres_url


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """The URL of a fresh PostgreSQL database, dropped afterwards. A database of its own,
    not a schema: PostgreSQL's advisory locks (the leases, the inbox's conversations) are
    per database, so processes under test compete with each other only."""
    url = await postgres_url()
    name = f"samen_rel_{uuid.uuid4().hex[:12]}"
    admin = await open_engine(url)
    try:
        async with admin.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
