"""A gentle warning before free text that looks like a client's name or a BSN is stored.

The service asks `AnswerGuard.hold` before it hands an answer to the engine. Text that
the pure detector (`bot.core.sensitive`) flags is not stored: the person gets a warning
(use a pseudonym or initials) and the answer is taken only when they send the very same
text again. The held text is also blanked in its inbox row, so it does not wait there
for the 7-day purge. The guard remembers only a hash of what it warned about, in memory:
after a restart the person is simply warned once more.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict

from bot.core.sensitive import Finding, sensitive
from bot.store.repo import Store
from bot.store.tables import InboxRow

REMEMBERED = 10_000
_COMMAND_WORD = re.compile(r"/?[a-z+0-9]{1,12}")


class AnswerGuard:
    def __init__(self, store: Store) -> None:
        self.store = store
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


def first_word(typed: str) -> str:
    """Only the command word of what someone typed, for echoing it back: the rest may be
    a client's name (minimal echo, R-PRV-3). A word that could itself be a name (not a
    short lowercase word) is shown as "…"."""
    words = typed.split()
    if not words:
        return ""
    return words[0] if _COMMAND_WORD.fullmatch(words[0]) else "…"
