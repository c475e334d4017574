"""The outbox's rate limits: sliding windows per chat, per group and per platform, and
the blocks a 429 sets (R-OUT-1, R-OUT-2). Pure: no I/O, `now` is always an argument.

`windows_for` gives the windows one call passes through; `RateLimiter` counts the sends
through them. The worker that uses them is bot/runtime/outbox.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.runtime.delivery import Limits

Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Window:
    """At most `count` sends through `key` in any `per` seconds; a send through it must
    leave `spare` of them free (kept for the meeting's clock, bot/runtime/outbox.py)."""

    key: Key
    count: int
    per: float
    spare: int = 0


def chat_key(platform: str, chat: str) -> Key:
    return ("chat", platform, chat)


def delete_key(platform: str) -> Key:
    return ("delete", platform)


def overall_window(platform: str, limits: Limits, spare: int = 0) -> Window:
    """The platform's whole budget (the bot's, the workspace's), leaving `spare` free."""
    return Window(("overall", platform), *limits.overall, spare=spare)


def windows_for(
    platform: str,
    limits: Limits,
    chat: str,
    group: bool = False,
    op: str = "send",
    spare: int = 0,
) -> tuple[Window, ...]:
    """The windows one call to `chat` passes through; the chat window comes first. A
    delete passes the same windows as a send, and the platform's delete window. `spare`
    slots of the overall budget are left free (for the meeting's clock)."""
    windows = [Window(chat_key(platform, chat), *limits.per_chat)]
    if group and limits.per_group is not None:
        windows.append(Window(("group", platform, chat), *limits.per_group))
    windows.append(overall_window(platform, limits, spare))
    if op == "delete" and limits.deletes is not None:
        windows.append(Window(delete_key(platform), *limits.deletes))
    return tuple(windows)


class RateLimiter:
    """Sliding-window limits per key. Pure: no I/O, `now` is always an argument.

    For a window of `count` per `per` seconds the limiter keeps the last `count` send
    times of the key; a new send is allowed once the `count`-th most recent one is at
    least `per` seconds old, so no interval of `per` seconds ever holds more than `count`
    sends. A send that must leave `spare` free waits for the `count - spare`-th most
    recent one instead. A blocked key (after a 429) allows nothing before its block ends.
    """

    def __init__(self) -> None:
        self._sent: dict[Key, deque[datetime]] = {}
        self._blocked: dict[Key, datetime] = {}

    def allowed_at(self, windows: Sequence[Window], now: datetime) -> datetime:
        """The earliest moment a send through all `windows` is allowed (`now` if now)."""
        at = now
        for w in windows:
            until = self._blocked.get(w.key)
            if until is not None and until > at:
                at = until
            sent = self._sent.get(w.key)
            room = max(1, w.count - w.spare)
            if sent is not None and len(sent) >= room:
                free = sent[-room] + timedelta(seconds=w.per)
                if free > at:
                    at = free
        return at

    def record(self, windows: Sequence[Window], now: datetime) -> None:
        """Count one send at `now` through every window."""
        for w in windows:
            sent = self._sent.get(w.key)
            if sent is None or sent.maxlen != w.count:
                sent = deque(sent or (), maxlen=w.count)
                self._sent[w.key] = sent
            sent.append(now)

    def settle(self, windows: Sequence[Window], started: datetime, ended: datetime) -> None:
        """Move a send counted at `started` to `ended`, when its call came back.

        The platform counts a message when it arrives, somewhere between the two. Counted
        from the start, a burst whose first calls were slow to arrive (a new connection)
        lets the next burst start less than a window after the platform saw the first:
        a 429. Counted from the end, the next send starts no sooner than `per` after the
        platform saw the earlier one."""
        if ended <= started:
            return
        for w in windows:
            sent = self._sent.get(w.key)
            if not sent:
                continue
            # A send just made is near the newest end: look for it from there (a window
            # may hold many sends), and put `ended` where it keeps the times in order.
            for back, at in enumerate(reversed(sent)):
                if at == started:
                    del sent[len(sent) - 1 - back]
                    break
            else:
                continue
            place = len(sent)
            while place > 0 and sent[place - 1] > ended:
                place -= 1
            sent.insert(place, ended)

    def block(self, key: Key, until: datetime) -> None:
        """Allow nothing through `key` before `until` (a 429 for that key only)."""
        current = self._blocked.get(key)
        if current is None or until > current:
            self._blocked[key] = until

    def blocked_until(self, key: Key) -> datetime | None:
        return self._blocked.get(key)

    def prune(self, now: datetime, keep: timedelta = timedelta(minutes=5)) -> None:
        """Forget keys idle for longer than `keep` (longer than any window) and old blocks."""
        for key in [k for k, sent in self._sent.items() if not sent or sent[-1] < now - keep]:
            del self._sent[key]
        for key in [k for k, until in self._blocked.items() if until <= now]:
            del self._blocked[key]
