"""A gentle warning before free text that looks like a client's name or a BSN is stored.

The inbox asks `AnswerGuard.check` (registered with the runtime's router) before it
hands an answer to the engine. Text that the pure detector (`bot.core.sensitive`) flags
is not stored: the person gets a warning (use a pseudonym or initials) and the answer is
taken only when they send the very same text again. The held text is also blanked in its
inbox row, so it does not wait there for the 7-day purge. The guard remembers only a hash
of what it warned about, in memory: after a restart the person is simply warned once more.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from bot.core.sensitive import Finding, sensitive
from bot.runtime.context import Context
from bot.runtime.outgoing import Outgoing
from bot.runtime.replies import say
from bot.store.repo import Store
from bot.store.tables import InboxRow

REMEMBERED = 10_000


class AnswerGuard:
    def __init__(self, store: Store, outgoing: Outgoing) -> None:
        self.store = store
        self.outgoing = outgoing
        self._warned: OrderedDict[str, None] = OrderedDict()

    async def hold(self, inbox: InboxRow, key: tuple[str, ...], text: str) -> tuple[Finding, ...]:
        """The findings when the answer must be held back (the caller warns), else ()."""
        found = sensitive(text)
        if not found:
            return ()
        digest = hashlib.sha256("\x1f".join((*key, text)).encode("utf-8")).hexdigest()
        if digest in self._warned:
            del self._warned[digest]
            return ()  # sent again after the warning: their choice
        self._warned[digest] = None
        while len(self._warned) > REMEMBERED:
            self._warned.popitem(last=False)
        await self.store.inbox_set_payload(inbox.id, {**inbox.payload, "value": ""})
        return found

    async def check(self, ctx: Context, key: tuple[str, ...], text: str) -> bool:
        """An answer about to reach its run (`Router.check_answers`): True when it was held
        back, the person warned and the event marked handled."""
        if not await self.hold(ctx.inbox, key, text):
            return False
        await self.outgoing.reply(ctx, say("privacy_warning", ctx.language))
        return True
