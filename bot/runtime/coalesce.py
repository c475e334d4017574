"""Group commit: calls that arrive while one write is under way go together in the next.

On SQLite one writer at a time serves the whole process, and a transaction costs some ten
round trips to the database thread whatever it writes. When sixteen Slack events arrive
at once, storing each in its own transaction before its ack makes the sixteenth wait for
the fifteen before it (P1 in docs/performance.md). A `Coalescer` writes the first call at
once and, while that transaction runs, collects the calls that come in meanwhile; they go
together in the next transaction, one statement for all of them. Nothing waits on a
timer: under light load every call is written on its own, as before, and under load the
groups grow by themselves.

Each caller gets its own result, and returns only once its item is committed (an ack
still means "stored"). When a group's write fails, every caller in it gets the error.
A caller that is cancelled does not take its item out of a group already being written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """`await coalescer(item)` -> `write_many([..., item, ...])[its index]`."""

    def __init__(
        self, write_many: Callable[[list[Item]], Awaitable[Sequence[Result]]], limit: int = 100
    ) -> None:
        self._write_many = write_many
        self._limit = limit
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions written (for tests and benchmarks)

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="coalescer")
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            group = self._waiting[: self._limit]
            del self._waiting[: self._limit]
            self.groups += 1
            try:
                results = await self._write_many([item for item, _ in group])
                if len(results) != len(group):
                    raise RuntimeError(f"{len(results)} results for a group of {len(group)}")
            except asyncio.CancelledError:  # shutting down: nobody is told it was stored
                for _, future in group + self._waiting:
                    future.cancel()
                self._waiting.clear()
                raise
            except Exception as error:
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)


__all__ = ["Coalescer"]
