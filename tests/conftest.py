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
