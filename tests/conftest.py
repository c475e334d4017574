"""Fixtures every test folder may use (the harness itself is in tests/harness/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.console import Team, console_world


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    """A console team on the real runtime with the shipped flows, Monday 09:00 in
    Amsterdam (tests.harness.console)."""
    async with console_world(tmp_path) as world:
        yield world
