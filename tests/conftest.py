"""Fixtures every test folder uses (the harness itself is in tests/harness/): the socket
guard, on for every test, and the console team."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.harness import sockets
from tests.harness.console import Team, console_world


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """No test reaches past 127.0.0.1 (tests/harness/sockets.py)."""
    with sockets.loopback_only():
        yield


@pytest.fixture(autouse=True, scope="session")
def _config_dir_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Data keys made by tests go to a configuration directory of the test session, never
    to the user's own (~/.config/samen), nor into the checkout; `samen` processes the
    tests start inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        # Stores without a SQLite file of their own (PostgreSQL) key by this folder.
        patch.setenv("SAMEN_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        patch.delenv("SAMEN_CONFIG_DIR", raising=False)
        patch.delenv("SAMEN_DATA_KEY_FILE", raising=False)
        yield


@pytest.fixture(autouse=True)
def _nothing_reached_past_loopback(_loopback_only: None) -> Iterator[None]:
    """A refusal the code under test caught and swallowed still fails the test."""
    before = len(sockets.refused)
    yield
    tried = sockets.refused[before:]
    if tried:
        pytest.fail(f"the test tried to reach past 127.0.0.1: {', '.join(tried)}")


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    """A console team on the real runtime with the shipped flows, Monday 09:00 in
    Amsterdam (tests.harness.console)."""
    async with console_world(tmp_path) as world:
        yield world
