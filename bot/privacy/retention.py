"""The daily retention purge as a durable timer (R-PRV-4).

The purge is a row in the timers table like every nudge and bell (kind "retention", no
run), so it survives restarts: the scheduler's startup sweep hands over a purge that
fell due while Samen was down. Handling it purges (bot/store/privacy.py) and schedules the
next one, a day later, in the same way. `ensure_retention_timer` is called at start; its
idempotency key (the date) makes repeated calls and restarts harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot.core.model import Flow
from bot.core.timer_names import RetentionTimer
from bot.runtime.feature import Feature
from bot.runtime.router import Router
from bot.store.privacy import purge
from bot.store.repo import Store
from bot.store.tables import InboxRow

PURGE_AT = time(2, 30)  # UTC: a quiet moment in Dutch and Flemish night hours


def next_purge(now: datetime) -> datetime:
    """The next purge moment strictly after `now`."""
    today = datetime.combine(now.astimezone(UTC).date(), PURGE_AT, tzinfo=UTC)
    return today if today > now else today + timedelta(days=1)


def retention_timer(due: datetime) -> dict[str, Any]:
    return {
        "timer": RetentionTimer().name(),
        "kind": RetentionTimer.KIND,
        "due_at": due,
        "idempotency_key": f"{RetentionTimer.KIND}:{due.date().isoformat()}",
    }


async def ensure_retention_timer(store: Store, now: datetime) -> None:
    await store.commit_messages(timers_new=[retention_timer(next_purge(now))], now=now)


async def on_retention_timer(
    store: Store, flows: Mapping[str, Flow], inbox_id: int, now: datetime
) -> None:
    """Purge, then schedule tomorrow's purge and mark the event done together. A crash in
    between purges again on restart, which is harmless."""
    await purge(store, flows, now=now)
    await store.commit_messages(
        timers_new=[retention_timer(next_purge(now))], inbox_id=inbox_id, now=now
    )


class Retention(Feature):
    """Handles the daily purge timer (kind "retention") for the runtime."""

    def register(self, router: Router) -> None:
        router.timer(RetentionTimer.KIND, self.on_timer)

    async def on_timer(self, row: InboxRow, timer: RetentionTimer) -> None:
        await on_retention_timer(self.store, self.flows, row.id, self.clock.now())
        await self.outgoing.rearm()
