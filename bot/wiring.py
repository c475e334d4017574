"""The composition root: the one place that picks concrete classes and connects them.

`build_runtime` opens the store (migrating the embedded default), loads the flows,
and connects service, scheduler, outbox and the platform adapters. Everything else in
`bot/` receives what it needs from here; only this module imports `adapters`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Adapter, Inbound
from adapters.console import ConsoleAdapter
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.flowfiles import FlowSet, load_flows
from bot.outbox import Outbox
from bot.retention import ensure_retention_timer
from bot.scheduler import QuietHours, Scheduler
from bot.service import Service
from bot.store.repo import Store
from bot.store.sealed import Keyring
from bot.store.tables import TimerRow
from bot.teams import apply_teams, read_teams


@dataclass
class Runtime:
    """A running Samen: start it, let it work, stop it."""

    store: Store
    flows: FlowSet
    service: Service
    scheduler: Scheduler
    outbox: Outbox
    adapters: Sequence[Adapter]
    clock: Clock
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.service.run(), name="service"))
        self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        for adapter in self.adapters:
            await adapter.start(self.inbound)
        await self.service.drain()  # events stored before a crash are handled first
        await self.scheduler.start()  # the startup sweep: past-due timers by their policy

    async def inbound(self, event: Inbound) -> None:
        """Adapters call this; it returns once the event is durable (then they ack)."""
        payload: dict[str, Any] = {
            "kind": event.kind,
            "channel": event.channel,
            "user": event.user,
            "user_name": event.user_name,
            **event.payload,
        }
        await self.service.receive(event.platform, event.key, payload)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking events, let the work in hand finish, then close the store.

        Service and outbox are asked to stop and given `grace` seconds to finish the step
        or call they are in; only then are they cancelled. Cancelling a task inside a
        transaction would leave its connection to the garbage collector."""
        for adapter in self.adapters:
            await adapter.stop()
        await self.scheduler.stop()
        self.service.stop()
        self.outbox.stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()


async def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    adapters: Sequence[Adapter] | None = None,
    use_apscheduler: bool = True,
    poll_interval: float = 5.0,
) -> Runtime:
    """Connect everything. Raises `DatabaseUnavailable` when the database can't be used."""
    clock = clock or SystemClock()
    url = settings.database_url_resolved()
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await Store.open(url, migrate=True, keyring=Keyring.from_environment(settings.data_dir))
    if settings.teams_file.is_file():
        try:
            await apply_teams(store, read_teams(settings.teams_file), clock.now())
        except Exception:
            await store.close()
            raise
    flows = load_flows([settings.flows_dir])  # the caller reports flows.problems
    await ensure_retention_timer(store, clock.now())  # the daily purge (R-PRV-4)
    chosen = list(adapters) if adapters is not None else [ConsoleAdapter()]
    outbox = Outbox(store, {a.platform: a for a in chosen}, clock)

    async def quiet_hours(row: TimerRow) -> QuietHours | None:
        if row.run_id is None:
            return None
        run = await store.load_run(row.run_id)
        team = await store.get_team(run.team_id) if run is not None else None
        if team is None:
            return None
        return QuietHours.parse(team.timezone, team.work_days, team.work_start, team.work_end)

    service = Service(
        store, flows.flows, clock, notify_outbox=outbox.notify, group_platforms=("telegram",)
    )
    scheduler = Scheduler(
        store,
        clock,
        service.timer_due,
        quiet_hours=quiet_hours,
        use_apscheduler=use_apscheduler,
        poll_interval=poll_interval,
    )
    service.scheduler = scheduler
    return Runtime(store, flows, service, scheduler, outbox, chosen, clock)


def console_adapter(**options: Any) -> ConsoleAdapter:
    """The console adapter (for `samen run` without platforms, and the demo)."""
    return ConsoleAdapter(**options)


def platform_adapters(
    settings: Settings,
    *,
    slack_http: bool = False,
    telegram_webhook: str | None = None,
    port: int = 3000,
) -> list[Adapter]:
    """The adapter of every platform whose credentials are set (none: use the console).
    Raises ValueError naming a missing credential (never a value)."""
    chosen: list[Adapter] = []
    if "slack" in platforms_configured(settings):
        from adapters.slack import slack_adapter_from_env  # only loaded when used

        chosen.append(slack_adapter_from_env(settings, http=slack_http, port=port))
    if "telegram" in platforms_configured(settings):
        from adapters.telegram import telegram_adapter_from_env  # only loaded when used

        chosen.append(telegram_adapter_from_env(settings, webhook_url=telegram_webhook, port=port))
    return chosen


def platforms_configured(settings: Settings) -> list[str]:
    """The chat platforms whose credentials are in the environment."""
    found = []
    if settings.slack_bot_token is not None:
        found.append("slack")
    if settings.telegram_bot_token is not None:
        found.append("telegram")
    return found
