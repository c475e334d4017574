"""What the Telegram adapter must remember across restarts, behind a small protocol.

The adapter keeps a cache in memory and writes through to a `TelegramState`: the
composition root gives it one backed by the store (`bot/adapter_state.py`), so a restart
loses no callback token, no reply routing and no knowledge of who started the bot.
`MemoryState` is the same contract without a database (a bare adapter, unit tests).
Values are plain JSON-able data; nothing here holds message text (R-PRV).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol


class TelegramState(Protocol):
    async def save_tokens(self, tokens: Mapping[str, str]) -> None: ...

    async def tokens(self, keys: Collection[str]) -> dict[str, str]: ...

    async def save_prompt(self, key: str, prompt: tuple[str, list[Any]] | None) -> None: ...

    async def prompt(self, key: str) -> tuple[str, list[Any]] | None: ...

    async def set_private_chat(self, user: str, state: str) -> None: ...

    async def private_chat(self, user: str) -> str | None: ...

    async def pinned(self, chat: str, run: str) -> str | None: ...

    async def set_pinned(self, chat: str, run: str, ref: str) -> None: ...


class MemoryState:
    """A `TelegramState` in memory: lost on a restart (the store-backed one is not)."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._prompts: dict[str, tuple[str, list[Any]]] = {}
        self._private: dict[str, str] = {}
        self._pins: dict[tuple[str, str], str] = {}

    async def save_tokens(self, tokens: Mapping[str, str]) -> None:
        self._tokens.update(tokens)

    async def tokens(self, keys: Collection[str]) -> dict[str, str]:
        return {k: self._tokens[k] for k in keys if k in self._tokens}

    async def save_prompt(self, key: str, prompt: tuple[str, list[Any]] | None) -> None:
        if prompt is None:
            self._prompts.pop(key, None)
        else:
            self._prompts[key] = prompt

    async def prompt(self, key: str) -> tuple[str, list[Any]] | None:
        return self._prompts.get(key)

    async def set_private_chat(self, user: str, state: str) -> None:
        self._private[user] = state

    async def private_chat(self, user: str) -> str | None:
        return self._private.get(user)

    async def pinned(self, chat: str, run: str) -> str | None:
        return self._pins.get((chat, run))

    async def set_pinned(self, chat: str, run: str, ref: str) -> None:
        self._pins[(chat, run)] = ref
