"""PostgreSQL's pool: a connection that sat idle is pinged before use, and one the server
dropped meanwhile (a restart, an idle timeout) is replaced without an error; one in
steady use is not pinged before every transaction (`bot.store.db._ping_when_idle`)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.store import db
from bot.store.db import open_engine
from tests.postgres import postgres_url


async def _drop(pid: int) -> bool:
    """What a server restart does to a pooled connection: its backend is terminated."""
    admin = await open_engine(await postgres_url())
    try:
        async with admin.connect() as conn:
            return bool(await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}))
    finally:
        await admin.dispose()


async def test_a_connection_dropped_while_idle_is_replaced_without_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every pooled connection counts as idle
    engine = await open_engine(await postgres_url())
    try:
        async with engine.connect() as conn:
            pid = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
        assert await _drop(pid)
        async with engine.connect() as conn:  # pinged, found dead, replaced
            assert await conn.scalar(text("SELECT 2")) == 2
    finally:
        await engine.dispose()


async def test_without_the_ping_the_dropped_connection_fails_its_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 3600.0)  # in steady use: not pinged
    engine = await open_engine(await postgres_url())
    try:
        async with engine.connect() as conn:
            pid = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
        assert await _drop(pid)
        with pytest.raises(DBAPIError):
            async with engine.connect() as conn:
                await conn.scalar(text("SELECT 2"))
    finally:
        await engine.dispose()
