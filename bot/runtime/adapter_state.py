"""Adapter state kept in the store, for one platform (the adapters' side of the contract
is `adapters/telegram/state.py`; this module does not import `adapters`).

The composition root hands an adapter one of these, so what it must remember (callback
tokens, reply routing of forms, who has started the bot, pinned status messages)
survives a restart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from bot.runtime.clock import Clock
from bot.store.repo import Store

SYNC_CHAT = "(sync)"
SYNC_RUN = "next_batch"


class StoredAdapterState:
    def __init__(self, store: Store, platform: str, clock: Clock) -> None:
        self.store = store
        self.platform = platform
        self.clock = clock

    async def save_tokens(self, tokens: Mapping[str, str]) -> None:
        await self.store.save_callback_tokens(self.platform, tokens, self.clock.now())

    async def tokens(self, keys: Collection[str]) -> dict[str, str]:
        return await self.store.callback_tokens(self.platform, keys)

    async def save_prompt(self, key: str, prompt: tuple[str, list[Any]] | None) -> None:
        await self.store.save_reply_prompt(self.platform, key, prompt, self.clock.now())

    async def prompt(self, key: str) -> tuple[str, list[Any]] | None:
        return await self.store.reply_prompt(self.platform, key)

    async def set_private_chat(self, user: str, state: str) -> None:
        await self.store.set_private_chat(self.platform, user, state, self.clock.now())

    async def private_chat(self, user: str) -> str | None:
        return await self.store.private_chat(self.platform, user)

    async def pinned(self, chat: str, run: str) -> str | None:
        return await self.store.pinned_message(self.platform, chat, run)

    async def set_pinned(self, chat: str, run: str, ref: str) -> None:
        await self.store.set_pinned_message(self.platform, chat, run, ref, self.clock.now())

    # Where a platform's event stream continues (Matrix: the `/sync` token). Kept in the
    # pinned-messages table under a chat key no platform uses, so that no migration is
    # needed: one row per platform, overwritten on each sync.
    async def sync_token(self) -> str | None:
        return await self.store.pinned_message(self.platform, SYNC_CHAT, SYNC_RUN)

    async def set_sync_token(self, token: str) -> None:
        await self.store.set_pinned_message(
            self.platform, SYNC_CHAT, SYNC_RUN, token, self.clock.now()
        )
