"""What the Matrix adapter must remember across restarts, behind a small protocol.

The composition root gives the adapter a store-backed one (bot/runtime/adapter_state.py):
the sync token (where the next `/sync` continues: a restart neither replays nor misses),
the answer routing of sent forms, and each run's status message in a team room.
Which rooms are direct rooms is kept where Matrix keeps it, in the bot's `m.direct`
account data on the homeserver; the encryption keys in the crypto store in the data
folder. `MemoryState` is the same contract without a database (a bare adapter, unit
tests). Nothing here is message text (R-PRV).
"""

from __future__ import annotations

from typing import Any, Protocol


class MatrixState(Protocol):
    async def sync_token(self) -> str | None: ...

    async def set_sync_token(self, token: str) -> None: ...

    async def save_prompt(self, key: str, prompt: tuple[str, list[Any]] | None) -> None: ...

    async def prompt(self, key: str) -> tuple[str, list[Any]] | None: ...

    async def pinned(self, chat: str, run: str) -> str | None: ...

    async def set_pinned(self, chat: str, run: str, ref: str) -> None: ...


class MemoryState:
    """A `MatrixState` in memory: lost on a restart (the store-backed one is not)."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._prompts: dict[str, tuple[str, list[Any]]] = {}
        self._pins: dict[tuple[str, str], str] = {}

    async def sync_token(self) -> str | None:
        return self._token

    async def set_sync_token(self, token: str) -> None:
        self._token = token

    async def save_prompt(self, key: str, prompt: tuple[str, list[Any]] | None) -> None:
        if prompt is None:
            self._prompts.pop(key, None)
        else:
            self._prompts[key] = prompt

    async def prompt(self, key: str) -> tuple[str, list[Any]] | None:
        return self._prompts.get(key)

    async def pinned(self, chat: str, run: str) -> str | None:
        return self._pins.get((chat, run))

    async def set_pinned(self, chat: str, run: str, ref: str) -> None:
        self._pins[(chat, run)] = ref
