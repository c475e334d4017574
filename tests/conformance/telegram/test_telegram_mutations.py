"""The updates of tests/conformance/telegram/updates.py with one field turned into the
wrong type, POSTed to the webhook with its secret: each is answered 200 (used or ignored)
or 400, never 500, and neither the adapter nor the runtime logs a traceback or an error."""

from __future__ import annotations

import copy
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram import TelegramAdapter
from adapters.telegram.adapter import SECRET_HEADER
from bot.runtime.clock import FakeClock
from tests.conformance.telegram.updates import CASES
from tests.harness.fake_telegram import TOKEN
from tests.harness.telegram import UPDATE_IDS, Group, fake_on, open_group
from tests.harness.world import START

WRONG: tuple[Any, ...] = (None, 7, -1, "x", [], {}, [7], True)
MUTATIONS = 200


@pytest.fixture
async def group(tmp_path: Path) -> AsyncIterator[Group]:
    clock = FakeClock(START)
    fake = fake_on(clock)
    await fake.start()
    adapter = TelegramAdapter(
        token=TOKEN,
        mode="webhook",
        webhook_url="https://samen.example/telegram",
        port=0,
        api_url=fake.base_url,
    )
    world = await open_group(tmp_path, clock, fake, adapter)
    try:
        yield world
    finally:
        await world.close()
        await fake.stop()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if len(prefix) >= 5:
        return
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, inner in items:
        yield (*prefix, key)
        yield from paths(inner, (*prefix, key))


def mutated(rng: random.Random) -> tuple[str, dict[str, Any]]:
    name = rng.choice(sorted(CASES))
    update = CASES[name].build(next(UPDATE_IDS)).to_dict()
    where = rng.choice([p for p in paths(update) if p != ("update_id",)])
    holder: Any = update
    for key in where[:-1]:
        holder = holder[key]
    wrong = copy.deepcopy(rng.choice(WRONG))
    holder[where[-1]] = wrong
    return f"{name}:{'.'.join(map(str, where))}={json.dumps(wrong)}", update


async def test_mistyped_updates_never_crash_anything(
    group: Group, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(22)
    caplog.set_level(logging.INFO)
    adapter = group.adapter
    url = f"http://127.0.0.1:{adapter.port}{adapter.webhook_path}"
    answers: dict[int, list[str]] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for _ in range(MUTATIONS):
            label, update = mutated(rng)
            headers = {SECRET_HEADER: adapter.secret or ""}
            async with session.post(url, json=update, headers=headers) as response:
                answers.setdefault(response.status, []).append(label)
    await group.settle()
    assert set(answers) <= {200, 400}, answers.get(500)
    assert all(r.exc_info is None for r in caplog.records), [
        r.getMessage() for r in caplog.records if r.exc_info
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
