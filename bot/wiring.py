"""The composition root: the one place that picks concrete classes and connects them.

`build_runtime` opens the store (migrating the embedded default), loads the flows,
builds the runtime (inbox, runs, outgoing, scheduler, outbox), lets every feature (teams,
meetings, trajectories, privacy) register what it handles with the router, and connects
the platform adapters. Everything else in `bot/` receives what it needs from here; only
this module (with the CLI and the demo above it) imports `adapters`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from adapters.base import Adapter, Inbound
from adapters.console import ConsoleAdapter
from bot.config import Settings
from bot.core.hours import WorkingHours
from bot.core.timer_names import EvaluationTimer
from bot.flowfiles import FlowSet, load_library
from bot.meetings.bells import Bells
from bot.meetings.planning import Planning
from bot.meetings.schedules import Schedules
from bot.privacy.guard import AnswerGuard
from bot.privacy.logs import cap_dependencies
from bot.privacy.retention import Retention, ensure_retention_timer
from bot.runtime.adapter_state import StoredAdapterState
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.coalesce import Coalescer
from bot.runtime.inbox import Inbox
from bot.runtime.outbox import Outbox
from bot.runtime.outgoing import Outgoing
from bot.runtime.presses import PressCheck
from bot.runtime.router import Router
from bot.runtime.runs import Runs
from bot.runtime.scheduler import Scheduler
from bot.store.lease import OUTBOX_LEASE, ConversationLocks, Lease
from bot.store.repo import Store
from bot.store.sealed import Keyring
from bot.store.signals import OUTBOX_CHANNEL, Listener
from bot.store.tables import TimerRow
from bot.teams.commands import TeamCommands
from bot.teams.overview import Overview, overview
from bot.teams.start_links import StartLinks
from bot.teams.teams_file import apply_teams, read_teams
from bot.teams.timezones import quiet_hours_for, remember_timezones
from bot.teams.undelivered import Undelivered
from bot.trajectories.desk import EvaluationDesk, evaluation_quiet_hours

# The longest text of one message per platform; a longer summary goes out in parts.
# Telegram allows 4,096 characters (room is left for the line an adapter may add, such
# as "delivered late"); Slack draws text as sections of 3,000 characters, at most 50
# blocks, and a chat.postMessage `text` of 40,000: parts of 12,000 stay well within.
TEXT_LIMITS = {"telegram": 4000, "slack": 12_000}


@dataclass
class Runtime:
    """A running Samen: start it, let it work, stop it."""

    store: Store
    flows: FlowSet
    inbox: Inbox
    runs: Runs
    outgoing: Outgoing
    router: Router
    scheduler: Scheduler
    outbox: Outbox
    adapters: Sequence[Adapter]
    clock: Clock
    schedules: Schedules
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _listener: Listener | None = None

    async def start(self) -> None:
        # On PostgreSQL the messages other processes commit wake this one's outbox.
        self._listener = Listener(self.store.engine)
        await self._listener.listen(OUTBOX_CHANNEL, self.outbox.notify)
        self._tasks.append(asyncio.create_task(self.inbox.run(), name="inbox"))
        self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        for adapter in self.adapters:
            await adapter.start(self.inbound)
        await self.inbox.drain()  # events stored before a crash are handled first
        await self.scheduler.start()  # the startup sweep: past-due timers by their policy
        await self.schedules.plan()  # the next time of every scheduled flow

    async def inbound(self, event: Inbound) -> None:
        """Adapters call this; it returns once the event is durable (then they ack)."""
        payload: dict[str, Any] = {
            "kind": event.kind,
            "channel": event.channel,
            "user": event.user,
            "user_name": event.user_name,
            **event.payload,
        }
        await self.inbox.receive(event.platform, event.key, payload)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking events, let the work in hand finish, then close the store.

        Inbox and outbox are asked to stop and given `grace` seconds to finish the step
        or call they are in; only then are they cancelled. Cancelling a task inside a
        transaction would leave its connection to the garbage collector."""
        for adapter in self.adapters:
            await adapter.stop()
        await self.scheduler.stop()
        self.inbox.stop()
        self.outbox.stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.close()
        await self.inbox.conversations.close()
        await self.store.close()


def freeze_startup_objects() -> None:
    """For a process that runs for long (`samen run`; the benchmarks of it), once started.

    What start-up made (modules, flows, the ORM's and pydantic's machinery: some hundreds
    of thousands of objects) lives as long as the process. Python's collector walks all
    of it on each of its full passes, which stalls the event loop for 0.1-0.2 s every so
    often (P3 and P4 in docs/performance.md). Frozen, it is left out of those passes;
    garbage made so far is collected first, so nothing dead is kept."""
    gc.collect()
    gc.freeze()


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
    cap_dependencies()  # no SQL parameter, URL or payload from a dependency in the logs
    url = settings.database_url_resolved()
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.data_dir.chmod(0o700)  # the data folder is its user's only (R-PRV-2)
    store = await Store.open(url, migrate=True, keyring=Keyring.from_environment(settings.data_dir))
    if settings.teams_file.is_file():
        try:
            await apply_teams(store, read_teams(settings.teams_file), clock.now())
        except Exception:
            await store.close()
            raise
    flows = load_library(settings.flows_dir)  # the caller reports flows.problems
    await ensure_retention_timer(store, clock.now())  # the daily purge (R-PRV-4)
    chosen = list(adapters) if adapters is not None else [ConsoleAdapter()]
    starts = StartLinks(store, clock)
    undelivered = Undelivered(store, clock)
    outbox = Outbox(
        store,
        {a.platform: a for a in chosen},
        clock,
        lease=Lease.for_store(store, OUTBOX_LEASE, "outbox"),
        on_blocked=starts.blocked,
        on_failed=undelivered.failed,
    )
    starts.notify_outbox = outbox.notify
    undelivered.notify_outbox = outbox.notify
    for adapter in chosen:
        attach = getattr(adapter, "attach_state", None)
        if attach is not None:  # what the adapter must remember lives in the store
            attach(StoredAdapterState(store, adapter.platform, clock))
        use_press_check = getattr(adapter, "use_press_check", None)
        if use_press_check is not None:  # stale or foreign presses: a notice, no message
            use_press_check(PressCheck(store, getattr(adapter, "language", "nl")).refusal)

    async def quiet_hours(row: TimerRow) -> WorkingHours | None:
        if row.run_id is None and row.kind == EvaluationTimer.KIND:
            return await evaluation_quiet_hours(store, row)  # in the owner's zone
        # The team's hours, in the zone of the one person a nudge is for when known.
        return await quiet_hours_for(store, row)

    outgoing = Outgoing(
        store,
        clock,
        notify_outbox=outbox.notify,
        group_platforms=("telegram",),
        text_limits=TEXT_LIMITS,
    )
    router = Router()
    runs = Runs(store, flows.flows, clock, outgoing, router)
    inbox = Inbox(store, clock, runs, outgoing, router)
    scheduler = Scheduler(
        store,
        clock,
        inbox.timer_due,
        quiet_hours=quiet_hours,
        use_apscheduler=use_apscheduler,
        poll_interval=poll_interval,
    )
    outgoing.scheduler = scheduler
    inbox.conversations = ConversationLocks.for_store(store)
    inbox.fires_timers = lambda: scheduler.lease.held
    inbox.on_private = starts.started

    # The features: each registers its words, timer kinds and hooks with the router.
    teams = TeamCommands(store, flows.flows, runs, outgoing)
    schedules = Schedules(store, flows.flows, runs, outgoing)
    features = (
        teams,
        Bells(store, flows.flows, runs, outgoing),
        Planning(store, flows.flows, runs, outgoing),
        schedules,
        EvaluationDesk(store, flows.flows, runs, outgoing, teams.may_change_settings),
        Retention(store, flows.flows, runs, outgoing),
    )
    for feature in features:
        feature.register(router)
    router.check_answers(AnswerGuard(store, outgoing).check)  # names and BSNs: R-PRV-1

    for adapter in chosen:
        use_overview = getattr(adapter, "use_overview", None)
        if use_overview is not None:  # a platform with a home screen (Slack's App Home)
            use_overview(_overview_for(store, flows, adapter.platform, clock))
        use_timezones = getattr(adapter, "use_timezones", None)
        if use_timezones is not None:  # a platform that knows each person's zone
            use_timezones(_zone_keeper(store, adapter.platform))
    return Runtime(
        store, flows, inbox, runs, outgoing, router, scheduler, outbox, chosen, clock, schedules
    )


def _zone_keeper(store: Store, platform: str) -> Callable[[str, str], Awaitable[bool]]:
    """What an adapter calls with a person's zone: zones learnt together (the first
    events of a busy morning) are stored in one transaction."""
    group: Coalescer[tuple[str, str], bool] = Coalescer(
        partial(remember_timezones, store, platform)
    )

    async def remember(user: str, zone: str) -> bool:
        return await group((user, zone))

    return remember


def _overview_for(
    store: Store, flows: FlowSet, platform: str, clock: Clock
) -> Callable[[str], Awaitable[Overview]]:
    async def overview_of(user: str) -> Overview:
        return await overview(store, flows.flows, platform, user, clock.now())

    return overview_of


def console_adapter(**options: Any) -> ConsoleAdapter:
    """The console adapter (for `samen run` without platforms, and the demo)."""
    return ConsoleAdapter(**options)


# The HTTP modes listen on this machine only unless told otherwise (`samen run --host`).
DEFAULT_HOST = "127.0.0.1"


def platform_adapters(
    settings: Settings,
    *,
    slack_http: bool = False,
    telegram_webhook: str | None = None,
    port: int = 3000,
    host: str = DEFAULT_HOST,
) -> list[Adapter]:
    """The adapter of every platform whose credentials are set (none: use the console).
    Raises ValueError naming a missing credential (never a value)."""
    chosen: list[Adapter] = []
    if "slack" in platforms_configured(settings):
        from adapters.slack import slack_adapter_from_env  # only loaded when used

        chosen.append(slack_adapter_from_env(settings, http=slack_http, port=port, host=host))
    if "telegram" in platforms_configured(settings):
        from adapters.telegram import telegram_adapter_from_env  # only loaded when used

        chosen.append(
            telegram_adapter_from_env(settings, webhook_url=telegram_webhook, port=port, host=host)
        )
    if "matrix" in platforms_configured(settings):
        chosen.append(matrix_adapter(settings))
    return chosen


def matrix_adapter(settings: Settings) -> Adapter:
    """The Matrix adapter with its folder in the data folder: the crypto store (its
    secrets pickled under a passphrase sealed with the data key) and the login's token
    and device, sealed too. The data key is read when the adapter starts, after the store
    has opened (and, for a new database, written) it."""
    from adapters.matrix import matrix_adapter_from_env  # only loaded when used

    folder = settings.data_dir / "matrix"

    def keyring() -> Keyring:
        return Keyring.from_environment(settings.data_dir)

    def passphrase() -> str:
        sealed = SealedFile(folder / "crypto-passphrase.sealed", keyring, "matrix_pickle_key")
        kept = sealed.load()
        if kept is None:
            kept = {"passphrase": secrets.token_urlsafe(32)}
            sealed.save(kept)
        return kept["passphrase"]

    return matrix_adapter_from_env(
        settings,
        store_path=folder / "crypto",
        session=SealedFile(folder / "session.sealed", keyring, "matrix_session"),
        pickle_key=passphrase,
    )


class SealedFile:
    """A small JSON file sealed with the data key (`bot/store/sealed.py`), mode 0600, in
    a folder only its owner may enter."""

    def __init__(self, path: Path, keyring: Callable[[], Keyring], name: str) -> None:
        self.path, self.keyring, self.name = path, keyring, name

    def load(self) -> dict[str, str] | None:
        if not self.path.is_file():
            return None
        return dict(json.loads(self.keyring().open(self.path.read_text(), self.name)))

    def save(self, value: dict[str, str]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)
        self.path.write_text(self.keyring().seal(json.dumps(value).encode(), self.name))


def platforms_configured(settings: Settings) -> list[str]:
    """The chat platforms whose credentials are in the environment."""
    found = []
    if settings.slack_bot_token is not None:
        found.append("slack")
    if settings.telegram_bot_token is not None:
        found.append("telegram")
    if settings.matrix_homeserver:
        found.append("matrix")
    return found
