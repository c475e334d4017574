"""The shell around the engine: inbox in, one transaction per step, effects out.

Every inbound event — a chat command, an answer, a timer that fell due — is first stored
in the inbox (unique per platform event id, R-ING-1..4) and only then acknowledged. The
service drains the inbox in order: for an event that concerns a run it takes the run's
lock, THEN loads the run (never before: aiogram issue 1317), lets the pure engine advance
it, and saves the new run, its answers, its outbox rows and its timer rows in one
transaction guarded by the run's version (`Store.commit_step`). Chained flows start and
`after_flow` triggers fire once that transaction has committed. The outbox and the
scheduler are nudged afterwards; nothing here talks to a platform directly.

Logs carry ids and event kinds only (R-PRV-8): never answer text, names or secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import functools
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from bot import planning
from bot.answer_guard import AnswerGuard, first_word
from bot.clock import Clock
from bot.coalesce import Coalescer
from bot.core import engine
from bot.core.cadence import months_since
from bot.core.commands import (
    EVENT_WORDS,
    UnknownBellCommand,
    UnknownSamenCommand,
    parse_bell,
    parse_samen,
    parse_work_hours,
)
from bot.core.effects import (
    CancelTimer,
    Destination,
    Edit,
    Effect,
    Finish,
    Message,
    MessageKind,
    Reply,
    ScheduleTimer,
    Send,
    StartFlow,
)
from bot.core.events import (
    Answered,
    AnswerKind,
    Event,
    Member,
    RegisteredEvent,
    StartContext,
    Team,
    TimeOutEnded,
    TimerFired,
)
from bot.core.model import (
    AfterFlowTrigger,
    Agenda,
    CommandTrigger,
    EventTrigger,
    Flow,
    PhaseStep,
    ScheduleTrigger,
)
from bot.core.render import text as render_text
from bot.core.run import Run, RunStatus
from bot.core.timing import Offset as TimingOffset
from bot.core.timing import cron_next, parse_duration, resolve_offset
from bot.evaluations import EvaluationDesk, agenda_lines
from bot.outbox import message_to_json
from bot.replies import say
from bot.retention import TIMER_PREFIX as RETENTION_PREFIX
from bot.retention import on_retention_timer
from bot.store.access_log import disclosures
from bot.store.lease import Lease
from bot.store.repo import Messages, StaleRun, StepWrite, Store
from bot.store.tables import InboxRow, MemberRow, TeamRow

log = logging.getLogger("samen.service")

# Delivery order across chats under a shared cap: bells first, reminders last (R-OUT-4).
PRIORITY = {
    MessageKind.bell: 0,
    MessageKind.process_bell: 0,
    MessageKind.warning: 1,
    MessageKind.phase: 1,
    MessageKind.status: 1,
    MessageKind.reply: 2,
    MessageKind.say: 3,
    MessageKind.form: 3,
    MessageKind.summary: 3,
    MessageKind.closing: 3,
    MessageKind.reminder: 5,
}

# Catch-up decisions from the scheduler that still move a run on (R-SCH-1).
_LATE = {"late", "skip"}
# At most this many timers of different runs are committed together (group commit).
TIMER_GROUP = 25
# Conversations whose events are handled side by side (see `Service.drain`).
LANES = 8

STALE_RETRIES = 3


class TimerArming(Protocol):
    async def arm_horizon(self, now: datetime | None = None) -> int: ...

    async def arm_new(self, due: Iterable[datetime]) -> int: ...


@dataclass(frozen=True, slots=True)
class _Context:
    """Who acted, where: the team row, the member row and the inbox row."""

    team: TeamRow
    member: MemberRow | None
    inbox: InboxRow
    platform: str


class Service:
    """Turns stored inbound events into run steps; the only writer of runs."""

    def __init__(
        self,
        store: Store,
        flows: Mapping[str, Flow],
        clock: Clock,
        *,
        notify_outbox: Any = None,
        scheduler: TimerArming | None = None,
        group_platforms: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.flows = dict(flows)
        self.clock = clock
        self._notify_outbox = notify_outbox
        self.scheduler = scheduler
        self._group_platforms = set(group_platforms)
        # Events that arrive together are stored together (one transaction per burst).
        self._intake: Coalescer[tuple[str, str, dict[str, Any]], int | None] = Coalescer(
            self._store_events
        )
        # Replies of conversations handled side by side are committed together.
        self._replies: Coalescer[Messages, None] = Coalescer(self._commit_replies)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._drain_lock = asyncio.Lock()
        self._lane_slots = asyncio.Semaphore(LANES)  # conversations drained side by side
        self._wake = asyncio.Event()
        self._stopping = False
        self.handled = 0
        # Inbox rows whose person acted in a private chat (a DM, a modal): replies to
        # them go back there rather than into the team channel.
        self._private: set[int] = set()
        self._planned: set[str] = set()  # teams whose scheduled flows this process planned
        self._help_texts: dict[str, str] = {}  # by language (see `_help`)
        # The team and member of the first event of each conversation in the batch being
        # drained, read together for the whole batch (see `_read_teams_ahead`).
        self._teams_ahead: dict[int, tuple[TeamRow | None, MemberRow | None]] = {}
        # Trajectories and their evaluation moments (issue #7).
        self.evaluations = EvaluationDesk(self)
        # Told when someone writes to the bot privately (Telegram: they pressed Start),
        # so messages parked for them go out (bot/starts.py).
        self.on_private: Callable[[str, str, Mapping[str, Any]], Awaitable[object]] | None = None
        self._guard = AnswerGuard(store)  # names and BSNs get a warning first (R-PRV-1)
        # Which process handles the inbox (bot/lease.py): on PostgreSQL one at a time, so
        # that an event stored by any process is handled once; None: this one always.
        self.lease: Lease | None = None

    # ------------------------------------------------------------------ ingress

    async def receive(self, platform: str, key: str, payload: Mapping[str, Any]) -> bool:
        """Store an inbound event durably (R-ING-3); False when it was a duplicate.

        Adapters acknowledge the platform only after this returns."""
        stored = await self._intake((platform, key, dict(payload)))
        self._wake.set()
        if stored is None:
            log.info("inbox duplicate absorbed platform=%s", platform)
        return stored is not None

    async def _store_events(
        self, events: list[tuple[str, str, dict[str, Any]]]
    ) -> list[int | None]:
        return await self.store.inbox_put_many(events, self.clock.now())

    async def _commit_replies(self, writes: list[Messages]) -> list[None]:
        await self.store.commit_messages_many(writes, now=self.clock.now())
        return [None] * len(writes)

    async def timer_due(self, *_: object) -> None:
        """The scheduler put a fired timer into the inbox: go and handle it."""
        self._wake.set()

    async def run(self, poll_interval: float = 1.0) -> None:
        """Drain the inbox whenever woken (or every `poll_interval`), until stopped."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_interval)
            self._wake.clear()
            await self.drain()
        if self.lease is not None:
            await self.lease.release()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain(self) -> int:
        """Handle every pending inbox row; return how many.

        Rows are handled in arrival order within each conversation (a channel, a private
        chat; all timers count as one), and conversations side by side, up to `LANES` at a
        time: one team's slow command does not hold up the next team, and the waits of one
        event for the database overlap with the work of another. Runs are still changed
        under their own lock, one step at a time."""
        done = 0
        async with self._drain_lock:
            while True:
                if self.lease is not None and not await self.lease.check():
                    return done  # another process handles the inbox (and takes it over)
                rows = await self.store.inbox_pending(limit=100)
                if not rows:
                    return done
                lanes = _lanes(rows)
                await self._read_teams_ahead(lanes)
                done += sum(await asyncio.gather(*map(self._drain_lane, lanes)))
                if self._stopping:
                    return done  # the rest waits in the inbox for the next start

    async def _read_teams_ahead(self, lanes: Sequence[Sequence[InboxRow]]) -> None:
        """Read the team and member of each conversation's first event, for the whole
        batch in one statement instead of one read per event (P1 in docs/performance.md).

        Only the first: an event may change its own team or member (a setting, a role, a
        person who joined), so the next event of that conversation reads after it. The
        first one's read stays true until it is handled, since a team's rows are changed
        only by events of its own conversation, and conversations are lanes of their own.
        """
        self._teams_ahead = {}
        keys = {row.id: key for row in (lane[0] for lane in lanes) if (key := _team_key(row))}
        if keys:
            found = await self.store.teams_and_members(keys.values())
            self._teams_ahead = {id: found[key] for id, key in keys.items()}

    async def _drain_lane(self, rows: Sequence[InboxRow]) -> int:
        """Handle one conversation's rows in order, once one of the `LANES` is free;
        return how many."""
        at = 0
        async with self._lane_slots:
            while at < len(rows) and not self._stopping:
                group = _run_timers(rows[at:])
                if len(group) > 1:
                    await self._handle_run_timers(group)
                else:
                    group = list(rows[at : at + 1])
                    await self._handle_safely(group[0])
                at += len(group)
        return at

    async def _handle_safely(self, row: InboxRow) -> None:
        try:
            await self._handle(row)
        except Exception as error:  # one bad event must never stop the others
            log.exception("inbox row %s failed: %s", row.id, type(error).__name__)
            await self.store.inbox_done(row.id, self.clock.now(), error=type(error).__name__)
        finally:
            self._private.discard(row.id)
        self.handled += 1

    async def _handle_run_timers(self, rows: Sequence[InboxRow]) -> None:
        """Timers of different runs that fell due together (the bells of many meetings):
        each run is advanced in memory and all the steps are committed in one transaction
        (group commit; see `Store.commit_steps`). Anything out of the ordinary - a run
        gone or busy, its flow not loaded, another writer that moved a run on, an error -
        sends the group down the one-at-a-time path, which handles each case."""
        ids = [str(row.payload["run_id"]) for row in rows]
        locks = [self._locks[run_id] for run_id in ids]
        if any(lock.locked() for lock in locks):
            await self._one_by_one(rows)
            return
        steps: list[tuple[TeamRow, Flow, engine.Outcome]] = []
        async with contextlib.AsyncExitStack() as held:
            for lock in locks:
                await held.enter_async_context(lock)  # free (checked above): no wait
            try:
                stored = await self.store.load_runs(ids)
                teams = await self.store.get_teams({run.team_id for run in stored.values()})
                writes = []
                for n, (row, run_id) in enumerate(zip(rows, ids, strict=True)):
                    if n % 10 == 9:
                        await asyncio.sleep(0)  # let acks run between the runs' steps
                    found = stored.get(run_id)
                    flow = self.flows.get(found.flow_id) if found is not None else None
                    team = teams.get(found.team_id) if found is not None else None
                    if found is None or flow is None or team is None:
                        raise _Ordinary()
                    fired = TimerFired(
                        str(row.payload.get("timer", "")),
                        late=row.payload.get("catch_up") in _LATE,
                    )
                    outcome = engine.advance(
                        flow, Run.model_validate(found.state), fired, self.clock.now()
                    )
                    steps.append((team, flow, outcome))
                    writes.append(
                        await self._step_write(
                            team, outcome.run, outcome.effects, found.version, row.id
                        )
                    )
                await self.store.commit_steps(writes)
            except Exception as error:
                if not isinstance(error, (_Ordinary, StaleRun)):
                    log.warning("a group of %d timers: %s", len(rows), type(error).__name__)
                steps = []
        if not steps:
            await self._one_by_one(rows)
            return
        self.handled += len(rows)
        for team, flow, outcome in steps:
            try:
                await self._after(team, flow, outcome.run, outcome.effects, arm=False)
            except Exception as error:  # committed: the others' follow-up must still run
                log.exception("run %s: after its step: %s", outcome.run.id, type(error).__name__)
        await self._nudge([e for _, _, outcome in steps for e in outcome.effects])

    async def _one_by_one(self, rows: Sequence[InboxRow]) -> None:
        for row in rows:
            await self._handle_safely(row)

    # ------------------------------------------------------------------ dispatch

    async def _handle(self, row: InboxRow) -> None:
        payload = row.payload
        if row.platform == "timer":
            await self._on_timer(row)
            return
        kind = payload.get("kind")
        now = self.clock.now()
        if str(payload.get("channel", "")).startswith("dm:") and kind != "answer":
            # A private chat is no team (e.g. Telegram's /start): it may open the way for
            # messages that waited until the person started the bot.
            if self.on_private is not None and payload.get("user"):
                await self.on_private(row.platform, str(payload["user"]), payload)
            await self.store.inbox_done(row.id, now)
            return
        if kind == "migrated":
            # The platform gave the group a new id (Telegram: upgraded to a supergroup).
            moved = await self.store.move_channel(
                row.platform, str(payload.get("channel", "")), str(payload.get("to", ""))
            )
            log.info("inbox row %s: channel moved=%s", row.id, moved)
            await self.store.inbox_done(row.id, now)
            return
        team, known = await self._team_and_member(row)
        if team.id not in self._planned:
            await self.plan_schedules(team)
        if str(payload.get("channel", "")) != team.channel:
            self._private.add(row.id)
        member = None
        if payload.get("user"):
            member = await self.store.upsert_member(
                team.id,
                str(payload["user"]),
                # Slack's events carry no name: "" keeps the one we know (see upsert_member).
                str(payload.get("user_name") or ""),
                now=now,
                known=known,
            )
        ctx = _Context(team, member, row, row.platform)
        log.info("inbox row %s kind=%s", row.id, kind)
        if kind == "command" and payload.get("command") == "bel":
            await self._on_bell(ctx, str(payload.get("args", "")))
        elif kind == "command" and payload.get("command") == "samen":
            await self._on_samen(ctx, str(payload.get("args", "")))
        elif kind == "command":
            await self._reply(
                ctx,
                say(
                    "unknown_command",
                    team.language,
                    typed="/" + first_word(str(payload.get("command", ""))),
                ),
            )
        elif kind == "answer":
            await self._on_answer(ctx)
        elif kind == "mention":
            await self._reply(ctx, self._help(team.language))
        elif kind == "bot_added" and member is not None:
            await self._reply(ctx, say("bot_added", team.language))
        else:  # joined / left and anything else: nothing to do beyond the member upsert
            await self.store.inbox_done(row.id, now)

    async def _team_and_member(self, row: InboxRow) -> tuple[TeamRow, MemberRow | None]:
        """The team an inbound event belongs to, and its person's row in it when already
        at hand (None: `upsert_member` looks). An answer given in a direct message or a
        modal belongs to its run's team, not to a "team" made of that private chat."""
        payload = row.payload
        if payload.get("kind") == "answer" and payload.get("run"):
            run = await self.store.load_run(str(payload["run"]))
            team = await self.store.get_team(run.team_id) if run is not None else None
            if team is not None:
                return team, None
        channel, name = str(payload["channel"]), str(payload.get("channel_name", ""))
        ahead = self._teams_ahead.pop(row.id, None)
        found, member = ahead or await self.store.team_and_member(
            row.platform, channel, str(payload.get("user") or "")
        )
        if found is not None and (not name or found.name == name):
            return found, member
        team = await self.store.team_for_channel(
            row.platform, channel, name=name, now=self.clock.now()
        )
        return team, None

    # ------------------------------------------------------------------ runs

    async def _advance(self, run_id: str, event: Event, inbox_id: int | None) -> Run | None:
        """Lock, load, advance, save. Retries when another writer moved the run on."""
        async with self._locks[run_id]:
            for _ in range(STALE_RETRIES):
                row = await self.store.load_run(run_id)
                if row is None:
                    return None
                run = Run.model_validate(row.state)
                flow = self.flows.get(run.flow_id)
                if flow is None:
                    log.warning("run %s: flow %s is not loaded", run_id, run.flow_id)
                    return None
                outcome = engine.advance(flow, run, event, self.clock.now())
                team = await self.store.get_team(row.team_id)
                assert team is not None
                try:
                    await self.store.commit_step(
                        await self._step_write(
                            team, outcome.run, outcome.effects, row.version, inbox_id
                        )
                    )
                except StaleRun:
                    log.info("run %s moved on meanwhile; retrying", run_id)
                    continue
                await self._after(team, flow, outcome.run, outcome.effects)
                return outcome.run
        raise RuntimeError(f"run {run_id} kept changing under us")

    async def start_flow(
        self,
        team: TeamRow,
        flow: Flow,
        *,
        by: str | None,
        event: RegisteredEvent | None = None,
        parent: str | None = None,
        participants: tuple[str, ...] | None = None,
        inbox_id: int | None = None,
        preface: Message | None = None,
    ) -> Run:
        engine_team = await self._engine_team(team)
        agenda: dict[str, tuple[str, ...]] = {}
        if any(
            isinstance(s, PhaseStep) and s.phase.agenda is Agenda.evaluations for s in flow.steps
        ):
            # As of the meeting's day: what is due by then, by client code (never a name).
            day = (event.at if event is not None else self.clock.now()).astimezone(
                ZoneInfo(team.timezone)
            )
            agenda[Agenda.evaluations.value] = await agenda_lines(self.store, team, day.date())
        ctx = StartContext(
            run_id=uuid.uuid4().hex[:16],
            team=engine_team,
            started_by=by,
            event=event,
            parent_run=parent,
            participants=participants,
            agenda=agenda,
        )
        outcome = engine.start(flow, ctx, self.clock.now())
        if preface is not None and by is not None:
            # Said by the shell before the flow's first words (e.g. which trajectory).
            first = Send(f"preface:{ctx.run_id}", Destination.person(by), preface)
            outcome = engine.Outcome(outcome.run, (first, *outcome.effects))
        if outcome.run.status == RunStatus.refused:
            await self._commit_messages(team, outcome.effects, inbox_id)
            return outcome.run
        await self.store.commit_step(
            await self._step_write(team, outcome.run, outcome.effects, None, inbox_id)
        )
        log.info("run %s started flow=%s", outcome.run.id, flow.id)
        await self._after(team, flow, outcome.run, outcome.effects)
        return outcome.run

    async def _step_write(
        self,
        team: TeamRow,
        run: Run,
        effects: Sequence[Effect],
        expected: int | None,
        inbox_id: int | None,
    ) -> StepWrite:
        """What a step writes: the run, its answers, messages, timers, the inbox mark."""
        now = self.clock.now()
        outbox, timers_new, timers_cancel = self._effects_to_rows(team, run, effects, inbox_id)
        sent_here = {o["msg_key"]: o for o in outbox if o["op"] == "send"}
        for row in outbox:
            if row["op"] == "edit":
                original = sent_here.get(row["msg_key"])
                destination = (
                    original["destination"]
                    if original is not None
                    else await self.store.original_destination(run.id, row["msg_key"])
                )
                row["destination"] = destination or team.channel
                row["message"]["thread"] = bool(original and original["message"]["thread"])
        answers = [
            {
                "step": step,
                "question": question,
                "member": member,
                "kind": answer.kind.value,
                "value": _stored(answer.value),
                "answered_at": answer.answered_at,
            }
            for step, questions in run.answers.items()
            for question, by_member in questions.items()
            for member, answer in by_member.items()
        ]
        finished = run.status in (RunStatus.done, RunStatus.stopped)
        return StepWrite(
            run_id=run.id,
            expected_version=expected,
            run={
                "team_id": team.id,
                "flow_id": run.flow_id,
                "status": run.status.value,
                "version": run.version if expected is None else max(run.version, expected + 1),
                "state": run.model_dump(mode="json"),
                "parent_run": run.parent_run,
                "finished_at": now if finished else None,
            },
            answers=answers,
            outbox=outbox,
            timers_new=timers_new,
            timers_cancel=timers_cancel,
            inbox_id=inbox_id,
            now=now,
            access=disclosures(team.id, run.id, outbox),  # R-PRV-7: who saw answers
        )

    async def _after(
        self, team: TeamRow, flow: Flow, run: Run, effects: Sequence[Effect], *, arm: bool = True
    ) -> None:
        """Work that follows a committed step: chained flows, after_flow triggers, and
        (unless `arm` is False: the caller does it once for a group) nudging the outbox
        and the scheduler."""
        event = (
            RegisteredEvent(run.event_kind, run.event_at)
            if run.event_kind and run.event_at
            else None
        )
        for effect in effects:
            if isinstance(effect, StartFlow) and effect.flow in self.flows:
                await self.start_flow(
                    team,
                    self.flows[effect.flow],
                    by=run.started_by,
                    event=event,
                    parent=run.id,
                    participants=effect.participants,
                )
            elif isinstance(effect, Finish):
                for other in self.flows.values():
                    if any(
                        isinstance(t, AfterFlowTrigger) and t.after_flow == flow.id
                        for t in other.triggers
                    ):
                        await self.start_flow(
                            team, other, by=run.started_by, event=event, parent=run.id
                        )
                await self._time_out_over(flow, run)
        if arm:
            await self._nudge(effects)

    async def _nudge(self, effects: Sequence[Effect]) -> None:
        """After a commit: the outbox has rows to send, the scheduler maybe new timers."""
        if self._notify_outbox is not None:
            self._notify_outbox()
        if self.scheduler is not None:
            await self.scheduler.arm_new(e.due for e in effects if isinstance(e, ScheduleTimer))

    async def _time_out_over(self, flow: Flow, run: Run) -> None:
        """A meeting's time-out flow (`Flow.time_out`) ended: let the meeting's clock run."""
        if run.parent_run is None:
            return
        row = await self.store.load_run(run.parent_run)
        parent = self.flows.get(row.flow_id) if row is not None else None
        if parent is None or parent.time_out != flow.id:
            return
        if self._locks[run.parent_run].locked():  # ended while the meeting itself moved
            log.warning("run %s: time-out ended inside its meeting's step", run.id)
            return
        await self._advance(run.parent_run, TimeOutEnded(), None)

    def _effects_to_rows(
        self, team: TeamRow, run: Run, effects: Sequence[Effect], inbox_id: int | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        # A rejected event leaves the run's version as it was, so a reply is also keyed by
        # the event that caused it: a second wrong answer gets its own re-prompt.
        cause = f":inbox:{inbox_id}" if inbox_id is not None else ""
        outbox: list[dict[str, Any]] = []
        timers_new: list[dict[str, Any]] = []
        timers_cancel: list[str] = []
        for effect in effects:
            if isinstance(effect, Send):
                outbox.append(
                    self._row(
                        team,
                        run.id,
                        "send",
                        effect.key,
                        effect.to,
                        effect.message,
                        f"{run.id}:send:{effect.key}",
                    )
                )
            elif isinstance(effect, Edit):
                outbox.append(
                    self._row(
                        team,
                        run.id,
                        "edit",
                        effect.key,
                        Destination.thread(),
                        effect.message,
                        f"{run.id}:edit:{effect.key}:{run.version}",
                    )
                )
            elif isinstance(effect, Reply):
                outbox.append(
                    self._row(
                        team,
                        run.id,
                        "reply",
                        "",
                        Destination.person(effect.member),
                        effect.message,
                        f"{run.id}:reply:{effect.member}:{run.version}:{len(outbox)}{cause}",
                        reply=True,
                        private=inbox_id in self._private,
                    )
                )
            elif isinstance(effect, ScheduleTimer):
                timers_new.append(
                    {
                        "timer": effect.timer_id,
                        "kind": effect.kind.value,
                        "due_at": effect.due,
                        "idempotency_key": f"{run.id}:{effect.timer_id}:{effect.due.isoformat()}",
                    }
                )
            elif isinstance(effect, CancelTimer):
                timers_cancel.append(effect.timer_id)
        return outbox, timers_new, timers_cancel

    def _row(
        self,
        team: TeamRow,
        run_id: str | None,
        op: str,
        key: str,
        to: Destination,
        message: Message,
        idempotency: str,
        *,
        reply: bool = False,
        private: bool = False,
    ) -> dict[str, Any]:
        """One outbox row. Person messages go to `dm:<user>`; replies to the team channel,
        addressed to one user (ephemeral where the platform can)."""
        if reply:
            # To the person where they acted: the team channel, or their private chat
            # when they answered there (a direct message, a modal).
            destination = f"dm:{to.member}" if private else team.channel
            user, thread = to.member, False
        elif to.kind == "person" and op == "send":
            destination, user, thread = f"dm:{to.member}", to.member, False
        elif op == "edit":
            destination, user, thread = "", None, False  # resolved from the original below
        else:
            destination, user, thread = team.channel, None, to.kind == "thread"
        group = team.platform in self._group_platforms and not destination.startswith("dm:")
        return {
            "team_id": team.id,
            "run_id": run_id,
            "platform": team.platform,
            "destination": destination,
            "op": op,
            "msg_key": key,
            "kind": message.kind.value,
            "priority": PRIORITY.get(message.kind, 3),
            "message": message_to_json(
                message, thread=thread, group=group, user=user, language=team.language
            ),
            "idempotency_key": idempotency,
        }

    async def _commit_messages(
        self, team: TeamRow, effects: Sequence[Effect], inbox_id: int | None
    ) -> None:
        rows = [
            self._row(
                team,
                None,
                "reply",
                "",
                Destination.person(e.member),
                e.message,
                f"inbox:{inbox_id}:reply:{n}",
                reply=True,
                private=inbox_id in self._private,
            )
            for n, e in enumerate(effects)
            if isinstance(e, Reply)
        ]
        await self._replies(Messages(outbox=rows, inbox_id=inbox_id))
        if self._notify_outbox is not None:
            self._notify_outbox()

    async def _reply(self, ctx: _Context, text: str) -> None:
        """Answer the member who acted, and mark their inbox row handled, atomically."""
        assert ctx.member is not None
        message = Message(MessageKind.reply, text)
        await self._commit_messages(ctx.team, (Reply(ctx.member.user, message),), ctx.inbox.id)

    async def _engine_team(self, team: TeamRow) -> Team:
        today = self.clock.now().astimezone(ZoneInfo(team.timezone)).date()
        members = tuple(
            Member(
                m.user,
                m.name or m.user,
                frozenset(m.roles),
                absent=m.absent_until is not None and m.absent_until >= today,
            )
            for m in await self.store.members(team.id)
        )
        return Team(
            members=members, language=team.language, address=team.address, timezone=team.timezone
        )

    # ------------------------------------------------------------------ events

    async def _on_timer(self, row: InboxRow) -> None:
        payload = row.payload
        run_id = payload.get("run_id")
        timer = str(payload.get("timer", ""))
        if run_id is None and timer.startswith("start:"):
            await self._on_start_timer(row, timer)
            return
        if run_id is None and timer.startswith("evaluation:"):
            await self.evaluations.on_timer(row, timer)
            return
        if run_id is None and timer.startswith("cadence:"):
            await self._on_cadence_timer(row, timer)
            return
        if run_id is None and timer.startswith("schedule:"):
            await self._on_schedule_timer(row, timer)
            return
        if run_id is None and timer.startswith(RETENTION_PREFIX):  # the daily purge
            await on_retention_timer(self.store, self.flows, row.id, self.clock.now())
            if self.scheduler is not None:
                await self.scheduler.arm_horizon()
            return
        if run_id is None:
            await self.store.inbox_done(row.id, self.clock.now(), error="no run")
            return
        late = payload.get("catch_up") in _LATE
        result = await self._advance(str(run_id), TimerFired(timer, late=late), row.id)
        if result is None:
            await self.store.inbox_done(row.id, self.clock.now(), error="no run")

    async def _on_answer(self, ctx: _Context) -> None:
        payload = ctx.inbox.payload
        assert ctx.member is not None
        value = payload.get("value", "")
        raw: str | tuple[str, ...] = (
            tuple(str(v) for v in value) if isinstance(value, list) else str(value)
        )
        if isinstance(raw, str) and raw:
            where = ("run", "step", "question")
            key = (ctx.member.user, *(str(payload.get(k, "")) for k in where))
            if await self._guard.hold(ctx.inbox, key, raw):
                await self._reply(ctx, say("privacy_warning", ctx.team.language))
                return
        event = Answered(
            ctx.member.user,
            str(payload.get("step", "")),
            str(payload.get("question", "")),
            raw,
            AnswerKind(payload.get("answer_kind", "value")),
        )
        run = await self._advance(str(payload.get("run", "")), event, ctx.inbox.id)
        if run is None:
            await self._reply(ctx, say("bad_answer_target", ctx.team.language))

    async def _on_bell(self, ctx: _Context, args: str) -> None:
        assert ctx.member is not None
        language = ctx.team.language
        try:
            command = parse_bell(ctx.member.user, args)
        except UnknownBellCommand as error:
            await self._reply(
                ctx,
                say(
                    "unknown_bell",
                    language,
                    typed=first_word(error.typed),
                    words=", ".join(error.words),
                ),
            )
            return
        run_id = await self._meeting(ctx.team)
        if run_id is None:
            await self._reply(ctx, say("no_meeting", language))
            return
        await self._advance(run_id, command, ctx.inbox.id)

    async def _meeting(self, team: TeamRow) -> str | None:
        """The run the bell is for: the newest active run in a phase, else the newest."""
        rows = await self.store.active_runs(team.id)
        rows.sort(key=lambda r: r.created_at, reverse=True)
        for row in rows:
            flow = self.flows.get(row.flow_id)
            step = row.state.get("step")
            if (
                flow is not None
                and step
                and any(
                    isinstance(s, PhaseStep) and s.id == str(step).split("~")[0] for s in flow.steps
                )
            ):
                return row.id
        return rows[0].id if rows else None

    # ------------------------------------------------------------------ /samen

    async def _on_samen(self, ctx: _Context, args: str) -> None:
        language = ctx.team.language
        try:
            command = parse_samen(args)
        except UnknownSamenCommand as error:
            await self._reply(
                ctx,
                say("unknown_command", language, typed=f"/samen {first_word(error.typed)}".strip()),
            )
            return
        handlers: dict[str, Callable[[_Context, tuple[str, ...]], Awaitable[None]]] = {
            "help": self._cmd_help,
            "start": self._cmd_start,
            "plan": self._cmd_plan,
            "role": self._cmd_role,
            "setting": self._cmd_setting,
            "absent": self._cmd_absent,
            "present": self._cmd_present,
            "status": self._cmd_status,
            "open": self._cmd_open,
            "trajectory": self.evaluations.trajectory,
            "session": self.evaluations.session,
            "evaluations": self.evaluations.due_list,
            "evaluation": self.evaluations.evaluation,
            "move": functools.partial(planning.move_event, self),
            "cancel": functools.partial(planning.cancel_event, self),
        }
        await handlers[command.action](ctx, command.args)

    def _help(self, language: str) -> str:
        """The help text (every mention gets it): made once per language, as the flows
        are loaded once."""
        text = self._help_texts.get(language)
        if text is None:
            names = sorted(
                {
                    t.command
                    for f in self.flows.values()
                    for t in f.triggers
                    if isinstance(t, CommandTrigger)
                }
            )
            text = self._help_texts[language] = say("help", language, flows=", ".join(names) or "—")
        return text

    async def _cmd_help(self, ctx: _Context, args: tuple[str, ...]) -> None:
        await self._reply(ctx, self._help(ctx.team.language))

    def _find_flow(self, name: str) -> Flow | None:
        name = name.lower()
        if name in self.flows:
            return self.flows[name]
        for flow in self.flows.values():
            if any(isinstance(t, CommandTrigger) and t.command == name for t in flow.triggers):
                return flow
        return None

    async def _cmd_start(self, ctx: _Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        commands = sorted(
            {
                t.command
                for f in self.flows.values()
                for t in f.triggers
                if isinstance(t, CommandTrigger)
            }
        )
        if not args:
            await self._reply(
                ctx, say("start_which", language, example=commands[0] if commands else "...")
            )
            return
        flow = self._find_flow(args[0])
        if flow is None:
            close = difflib.get_close_matches(args[0].lower(), commands + list(self.flows), 1)
            hint = say("did_you_mean", language, name=close[0]) if close else ""
            await self._reply(
                ctx,
                say("unknown_flow", language, name=args[0], hint=hint, flows=", ".join(commands)),
            )
            return
        assert ctx.member is not None
        await self.start_flow(ctx.team, flow, by=ctx.member.user, inbox_id=ctx.inbox.id)

    async def _cmd_plan(self, ctx: _Context, args: tuple[str, ...]) -> None:
        """`/samen bezoek 2026-11-24 14:00`: register the event; start or schedule every
        flow with an event trigger for this kind of event."""
        language, kind = ctx.team.language, args[0]
        word = next((w for w, k in EVENT_WORDS.items() if k == kind), kind)
        at = _parse_when(args[1:3], ctx.team.timezone)
        now = self.clock.now()
        if at is None:
            await self._reply(ctx, say("bad_when", language, word=word))
            return
        if at <= now:
            await self._reply(ctx, say("in_past", language))
            return
        assert ctx.member is not None
        extras = planning.read_plan_extras(args[3:])
        if extras.unknown:
            await self._reply(ctx, say("plan_extra_unknown", language, word=extras.unknown[0]))
            return
        problem = planning.pseudonym_problem(extras.client) if extras.client else None
        if problem is not None:
            await self._reply(ctx, say(problem, language, client=extras.client))
            return
        people: list[MemberRow] = []
        for name in extras.mentions:
            found = await self.store.get_member(ctx.team.id, name)
            found = found or await self.store.get_member(ctx.team.id, name.lower())
            if found is None:
                await self._reply(ctx, say("unknown_member", language, name="@" + name))
                return
            people.append(found)
        participants = tuple(p.user for p in people) or None
        event = await self.store.add_event(
            ctx.team.id,
            kind,
            at,
            label=extras.client or "",
            created_by=ctx.member.user,
            participants=participants or (),
            now=now,
        )
        starts: list[str] = []
        timers: list[dict[str, Any]] = []
        to_start: list[Flow] = []
        for flow in self.flows.values():
            for trigger in flow.triggers:
                if not isinstance(trigger, EventTrigger) or trigger.event != kind:
                    continue
                begin = _trigger_moment(trigger, at, ctx.team.timezone)
                title = render_text(flow.title, language)
                if begin <= now:
                    to_start.append(flow)
                    starts.append(
                        say("planned_starts", language, flow=title, when=say("now", language))
                    )
                else:
                    timers.append(
                        {
                            "timer": f"start:{flow.id}:{event.id}:{ctx.member.user}",
                            "kind": "start",
                            "due_at": begin,
                            "idempotency_key": f"start:{flow.id}:{event.id}",
                        }
                    )
                    starts.append(
                        say(
                            "planned_starts",
                            language,
                            flow=title,
                            when=_when(begin, ctx.team, language),
                        )
                    )
        what = say(f"event.{kind}", language) if f"event.{kind}" in _EVENT_KEYS else kind
        text = say(
            "planned",
            language,
            what=what,
            when=_when(at, ctx.team, language),
            starts="".join(starts) or say("planned_none", language),
        )
        if people:
            names = ", ".join(p.name or p.user for p in people)
            text += say("planned_with", language, names=names)
        text += say("planned_code", language, code=planning.event_code(event.id))
        message = Message(MessageKind.reply, text)
        rows = [
            self._row(
                ctx.team,
                None,
                "reply",
                "",
                Destination.person(ctx.member.user),
                message,
                f"inbox:{ctx.inbox.id}:reply:0",
                reply=True,
            )
        ]
        registered = RegisteredEvent(kind, at)
        if not to_start:
            await self.store.commit_messages(
                outbox=rows, timers_new=timers, inbox_id=ctx.inbox.id, now=now
            )
        else:
            await self.store.commit_messages(outbox=rows, timers_new=timers, now=now)
            for i, flow in enumerate(to_start):
                await self.start_flow(
                    ctx.team,
                    flow,
                    by=ctx.member.user,
                    event=registered,
                    participants=participants,
                    inbox_id=ctx.inbox.id if i == len(to_start) - 1 else None,
                )
        if self._notify_outbox is not None:
            self._notify_outbox()
        if timers and self.scheduler is not None:
            await self.scheduler.arm_new(t["due_at"] for t in timers)

    async def plan_schedules(self, team: TeamRow | None = None) -> int:
        """Give every team (or one) a timer for the next time each scheduled flow is due
        (`schedule: "0 9 * * mon"`, in the team's zone); return how many it planned.

        Idempotent: a timer is keyed by its moment, so planning twice writes it once. Run at
        start, for a team first seen, and after each firing (for the one after it).
        """
        scheduled = [
            (flow, trigger.schedule)
            for flow in self.flows.values()
            for trigger in flow.triggers
            if isinstance(trigger, ScheduleTrigger)
        ]
        teams = [team] if team is not None else await self.store.teams()
        now = self.clock.now()
        timers: list[dict[str, Any]] = []
        for each in teams:
            self._planned.add(each.id)
            for flow, expr in scheduled:
                due = cron_next(expr, now, each.timezone)
                name = f"schedule:{flow.id}:{each.id}"
                timers.append(
                    {
                        "timer": name,
                        "kind": "schedule",
                        "due_at": due,
                        "idempotency_key": f"{name}:{due.isoformat()}",
                    }
                )
        if not timers:
            return 0
        await self.store.commit_messages(timers_new=timers, now=now)
        if self.scheduler is not None:
            await self.scheduler.arm_new(t["due_at"] for t in timers)
        return len(timers)

    async def _on_schedule_timer(self, row: InboxRow, timer: str) -> None:
        """A scheduled flow is due for a team (`schedule:<flow>:<team>`): start it for the
        whole team, then plan the next time."""
        _, flow_id, team_id = ([*timer.split(":", 2), "", ""])[:3]
        flow = self.flows.get(flow_id)
        team = await self.store.get_team(team_id)
        if flow is None or team is None:
            await self.store.inbox_done(row.id, self.clock.now(), error="schedule target gone")
            return
        await self.start_flow(team, flow, by=None, inbox_id=row.id)
        await self.plan_schedules(team)

    async def _on_start_timer(self, row: InboxRow, timer: str) -> None:
        """A planned event's flow is due to start (`start:<flow>:<event>:<by>`)."""
        _, flow_id, event_id, by = ([*timer.split(":", 3), "", "", ""])[:4]
        event = await self.store.get_event(event_id)
        flow = self.flows.get(flow_id)
        team = await self.store.get_team(event.team_id) if event is not None else None
        if event is None or flow is None or team is None:
            await self.store.inbox_done(row.id, self.clock.now(), error="start target gone")
            return
        await self.start_flow(
            team,
            flow,
            by=by or None,
            event=RegisteredEvent(event.kind, event.at),
            participants=tuple(event.participants.split()) or None,
            inbox_id=row.id,
        )

    async def _on_cadence_timer(self, row: InboxRow, timer: str) -> None:
        """An evaluation moment of a trajectory fell due (`cadence:<flow>:<trajectory>:<n>`):
        start its flow for the trajectory's owner, saying first which trajectory it is.
        Timers of this form come from before evaluations were kept (bot/evaluations.py
        plans `evaluation:` timers now); they are still honoured."""
        _, flow_id, trajectory_id, _n = ([*timer.split(":", 3), "", "", ""])[:4]
        trajectory = await self.store.get_trajectory(trajectory_id)
        flow = self.flows.get(flow_id)
        team = await self.store.get_team(trajectory.team_id) if trajectory else None
        if trajectory is None or flow is None or team is None or trajectory.status != "open":
            await self.store.inbox_done(row.id, self.clock.now(), error="cadence target gone")
            return
        language = team.language
        today = self.clock.now().astimezone(ZoneInfo(team.timezone)).date()
        months = months_since(trajectory.started_on, today)  # month ends count as whole
        age = (
            say("age_years", language, n=months // 12)
            if months % 12 == 0 and months
            else say("age_months", language, n=months)
        )
        preface = Message(
            MessageKind.say,
            say(
                "trajectory_due",
                language,
                ref=trajectory.client_ref,
                start=format_date(trajectory.started_on, "d MMM yyyy", locale=_locale(language)),
                age=age,
            ),
        )
        await self.start_flow(team, flow, by=trajectory.owner, inbox_id=row.id, preface=preface)

    async def _may_change_settings(self, ctx: _Context) -> bool:
        """A team without a coordinator is set up by anyone; after that, by coordinators."""
        members = await self.store.members(ctx.team.id)
        coordinators = {m.user for m in members if "coordinator" in m.roles}
        return not coordinators or (ctx.member is not None and ctx.member.user in coordinators)

    async def _cmd_role(self, ctx: _Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        if len(args) < 2:
            await self._reply(ctx, say("role_usage", language))
            return
        if not await self._may_change_settings(ctx):
            await self._reply(ctx, say("not_allowed_settings", language))
            return
        typed = args[0].lstrip("@")
        # Platform ids are case-sensitive (Slack's U0ANNA); console names are typed loosely.
        target = await self.store.get_member(ctx.team.id, typed)
        if target is None:
            target = await self.store.get_member(ctx.team.id, typed.lower())
        user = target.user if target is not None else typed.lower()
        if target is None:
            await self._reply(ctx, say("unknown_member", language, name=args[0]))
            return
        roles = [_ROLE_WORDS.get(r.lower(), r.lower()) for r in args[1:]]
        updated = await self.store.set_roles(ctx.team.id, user, roles)
        await self._reply(
            ctx,
            say(
                "role_set",
                language,
                name=updated.name or user,
                roles=", ".join(updated.roles) or "—",
            ),
        )

    async def _cmd_setting(self, ctx: _Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        if len(args) < 2:
            await self._reply(ctx, say("setting_usage", language))
            return
        if not await self._may_change_settings(ctx):
            await self._reply(ctx, say("not_allowed_settings", language))
            return
        name, value = args[0], " ".join(args[1:])
        try:
            if name == "hours":
                days, start, end = parse_work_hours(value)
                settings = {"work_days": days, "work_start": start, "work_end": end}
            else:
                settings = {name: value if name == "timezone" else value.lower()}
            team = await self.store.update_team(ctx.team.id, **settings)
        except ValueError as error:
            await self._reply(ctx, say("setting_bad", language, why=str(error)))
            return
        await self._reply(
            ctx,
            say(
                "setting_set",
                team.language,
                what=", ".join(f"{k} = {v}" for k, v in settings.items()),
            ),
        )

    async def _cmd_absent(self, ctx: _Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        words = [a for a in args if a.lower() not in ("tot", "until", "t/m")]
        until = _parse_date(words[0]) if words else None
        if until is None:
            await self._reply(ctx, say("absent_usage", language))
            return
        assert ctx.member is not None
        await self.store.set_absent(ctx.team.id, ctx.member.user, until)
        await self._reply(ctx, say("absent_set", language, until=until.isoformat()))

    async def _cmd_present(self, ctx: _Context, args: tuple[str, ...]) -> None:
        assert ctx.member is not None
        await self.store.set_absent(ctx.team.id, ctx.member.user, None)
        await self._reply(ctx, say("present_set", ctx.team.language))

    async def _cmd_status(self, ctx: _Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        rows = await self.store.active_runs(ctx.team.id)
        names = [
            render_text(self.flows[r.flow_id].title, language)
            for r in rows
            if r.flow_id in self.flows
        ]
        due = await self.store.next_due()
        await self._reply(
            ctx,
            say(
                "status",
                language,
                runs=", ".join(names) or say("nothing", language),
                next=_when(due, ctx.team, language) if due else say("nothing", language),
            ),
        )

    async def _cmd_open(self, ctx: _Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        assert ctx.member is not None
        items = []
        for row in await self.store.active_runs(ctx.team.id):
            run = Run.model_validate(row.state)
            flow = self.flows.get(run.flow_id)
            state = run.state
            if flow is None or state is None or ctx.member.user not in state.recipients:
                continue
            mine = run.answers.get(run.step or "", {})
            if not any(ctx.member.user in by_member for by_member in mine.values()):
                items.append(render_text(flow.title, language))
        await self._reply(
            ctx,
            say("open_some", language, items=", ".join(items))
            if items
            else say("open_none", language),
        )


# --------------------------------------------------------------------------- helpers

_EVENT_KEYS = {"event.visit", "event.mdo", "event.meeting", "event.intervisie", "event.intake"}

_ROLE_WORDS = {
    "voorzitter": "chair",
    "coordinator": "coordinator",
    "coördinator": "coordinator",
    "inbrenger": "presenter",
    "behandelaar": "owner",
    "eigenaar": "owner",
    "deelnemer": "participant",
    "tijdsbewaker": "timekeeper",
}


def _locale(language: str) -> str:
    return language.replace("-", "_")


def _stored(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DUTCH_DATE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def _parse_date(word: str) -> date | None:
    try:
        if m := _DATE.match(word):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DUTCH_DATE.match(word):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


def _parse_when(words: Sequence[str], tz: str) -> datetime | None:
    if len(words) < 2:
        return None
    day = _parse_date(words[0])
    clock = _TIME.match(words[1])
    if day is None or clock is None or int(clock[1]) > 23 or int(clock[2]) > 59:
        return None
    return datetime(day.year, day.month, day.day, int(clock[1]), int(clock[2]), tzinfo=ZoneInfo(tz))


def _trigger_moment(trigger: EventTrigger, at: datetime, tz: str) -> datetime:
    if trigger.before:
        return resolve_offset(
            TimingOffset(parse_duration(trigger.before), "before", "event"), at, tz
        )
    if trigger.after:
        return resolve_offset(TimingOffset(parse_duration(trigger.after), "after", "event"), at, tz)
    return at


def _when(moment: datetime, team: TeamRow, language: str) -> str:
    local = moment.astimezone(ZoneInfo(team.timezone))
    return format_datetime(local, "EEE d MMM HH:mm", locale=language.replace("-", "_"))


__all__ = ["Service"]


class _Ordinary(Exception):
    """A timer group needs the one-at-a-time path (see `Service._handle_run_timers`)."""


def _lanes(rows: Sequence[InboxRow]) -> list[list[InboxRow]]:
    """`rows` by conversation, each in arrival order: one lane per platform and channel
    (a private chat is a channel of its own), and one for all the timers."""
    lanes: dict[tuple[str, str], list[InboxRow]] = {}
    for row in rows:
        channel = "" if row.platform == "timer" else str(row.payload.get("channel", ""))
        lanes.setdefault((row.platform, channel), []).append(row)
    return list(lanes.values())


def _team_key(row: InboxRow) -> tuple[str, str, str] | None:
    """(platform, channel, user) under which `Service._team_and_member` looks up an
    inbound event's team and person; None for the events it does not look up that way
    (timers, private chats, a group's new id, an answer that names its run)."""
    payload = row.payload
    kind, channel = payload.get("kind"), str(payload.get("channel", ""))
    if row.platform == "timer" or not channel or channel.startswith("dm:") or kind == "migrated":
        return None
    if kind == "answer" and payload.get("run"):
        return None
    return row.platform, channel, str(payload.get("user") or "")


def _run_timers(rows: Sequence[InboxRow]) -> list[InboxRow]:
    """The leading rows that are timers of runs, each of a different run (so that every
    run still sees its own timers in order), up to `TIMER_GROUP`."""
    group: list[InboxRow] = []
    runs: set[str] = set()
    for row in rows:
        run_id = row.payload.get("run_id") if row.platform == "timer" else None
        if run_id is None or str(run_id) in runs or len(group) == TIMER_GROUP:
            break
        runs.add(str(run_id))
        group.append(row)
    return group
