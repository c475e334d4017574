"""Group commit (bot/coalesce.py): calls that arrive during a write go together in the next."""

from __future__ import annotations

import asyncio

import pytest

from bot.runtime.coalesce import Coalescer


class Writes:
    """A write_many that records its groups and can be held open or made to fail."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: set[str] = set()

    async def __call__(self, items: list[str]) -> list[str]:
        self.groups.append(list(items))
        await self.gate.wait()
        if self.fail & set(items):
            raise RuntimeError("disk full")
        return [item.upper() for item in items]


async def test_calls_that_arrive_during_a_write_go_together_in_the_next() -> None:
    writes = Writes()
    write = Coalescer(writes)
    writes.gate.clear()
    first = asyncio.create_task(write("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.create_task(write(item)) for item in "bcd"]
    await asyncio.sleep(0)
    writes.gate.set()
    assert await first == "A"
    assert await asyncio.gather(*later) == ["B", "C", "D"]
    assert writes.groups == [["a"], ["b", "c", "d"]]
    assert write.groups == 2


async def test_one_call_at_a_time_is_written_on_its_own() -> None:
    writes = Writes()
    write = Coalescer(writes)
    assert [await write(item) for item in "ab"] == ["A", "B"]
    assert writes.groups == [["a"], ["b"]]


async def test_a_group_is_at_most_the_limit() -> None:
    writes = Writes()
    write = Coalescer(writes, limit=2)
    assert await asyncio.gather(*(write(item) for item in "abcde")) == list("ABCDE")
    assert writes.groups == [["a", "b"], ["c", "d"], ["e"]]


async def test_a_failed_write_fails_its_own_callers_only() -> None:
    writes = Writes()
    write = Coalescer(writes, limit=2)
    writes.fail = {"b"}
    results = await asyncio.gather(*(write(item) for item in "abc"), return_exceptions=True)
    assert [type(r).__name__ for r in results[:2]] == ["RuntimeError", "RuntimeError"]
    assert results[2] == "C"  # the next group is written as usual
    assert await write("d") == "D"


async def test_a_caller_that_gives_up_does_not_take_the_others_down() -> None:
    writes = Writes()
    write = Coalescer(writes)
    writes.gate.clear()
    impatient = asyncio.create_task(write("a"))
    patient = asyncio.create_task(write("b"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    impatient.cancel()
    writes.gate.set()
    assert await patient == "B"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert writes.groups == [["a", "b"]]  # its item was in the group being written
