"""What `samen run` does once started: start-up objects are kept out of the collector."""

from __future__ import annotations

import gc
import weakref

from bot.wiring import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_what_start_up_made_is_frozen_and_its_garbage_collected_first() -> None:
    gc.unfreeze()
    kept = [[n] for n in range(1000)]  # alive: to be frozen
    dead = Node()
    dead.other = Node()
    dead.other.other = dead  # a cycle only the collector frees
    gone = weakref.ref(dead)
    del dead
    try:
        freeze_startup_objects()
        assert gone() is None  # collected, not frozen
        assert gc.get_freeze_count() >= len(kept)
        assert not any(item is kept[0] for item in gc.get_objects())  # out of its passes
    finally:
        gc.unfreeze()
