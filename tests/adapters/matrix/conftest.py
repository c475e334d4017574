"""Fixtures for the Matrix tests: one real Synapse for the whole session (started on
first use, stopped at the end), its accounts, and the Matrix world around the runtime."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.runtime.clock import FakeClock
from tests.harness.matrix import Team, matrix_world
from tests.harness.synapse import Account, Synapse
from tests.harness.world import START

PEOPLE = ("anna", "bram", "cor")


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = Synapse.start(tmp_path_factory.mktemp("synapse"))
    try:
        yield server
    finally:
        server.stop()


TESTS = itertools.count(1)


@pytest.fixture
def accounts(synapse: Synapse) -> dict[str, Account]:
    """A bot and three people of their own for each test (`anna7`, ...: nothing one test
    did on the homeserver, a direct room, a membership, reaches the next)."""
    n = next(TESTS)
    return {name: synapse.register(f"{name}{n}") for name in ("bot", *PEOPLE)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def team(
    tmp_path: Path, clock: FakeClock, synapse: Synapse, accounts: dict[str, Account]
) -> AsyncIterator[Team]:
    async with matrix_world(tmp_path, clock, synapse, accounts) as world:
        yield world
