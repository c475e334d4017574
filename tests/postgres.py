"""The PostgreSQL of this machine, for the tests that need one.

`SAMEN_TEST_POSTGRES_URL`, or postgres@127.0.0.1:5432/test (then root@...). In CI
(`CI=true`) PostgreSQL is mandatory: a test that needs it fails when it is unreachable.
Elsewhere such a test is skipped with the reason, so that a developer without PostgreSQL
can still run the rest of the suite.
"""

from __future__ import annotations

import os

import pytest

from bot.store.db import DatabaseUnavailable, open_engine

DEFAULT_POSTGRES_URLS = (
    "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    "postgresql+asyncpg://root@127.0.0.1:5432/test",
)

# Probed once per test session: (a reachable URL or None, why not).
_probed: list[tuple[str | None, str]] = []


async def _reachable() -> tuple[str | None, str]:
    if not _probed:
        override = os.environ.get("SAMEN_TEST_POSTGRES_URL")
        reasons = []
        for url in (override,) if override else DEFAULT_POSTGRES_URLS:
            try:
                engine = await open_engine(url, connect_timeout=3)
            except DatabaseUnavailable as exc:
                reasons.append(str(exc))
                continue
            await engine.dispose()
            _probed.append((url, ""))
            break
        else:
            _probed.append((None, " | ".join(reasons)))
    return _probed[0]


async def postgres_url() -> str:
    """A reachable PostgreSQL URL; fails the test in CI, skips it elsewhere, if none."""
    url, why = await _reachable()
    if url is None:
        message = f"PostgreSQL is not reachable: {why}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (the PostgreSQL tests are mandatory in CI)")
        pytest.skip(f"{message} (set SAMEN_TEST_POSTGRES_URL, or run in CI where it is required)")
    return url
