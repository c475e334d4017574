"""Runs: lock, load, advance, commit. The only writer of runs.

Every event for a run takes the run's lock, THEN loads the run (never before: aiogram
issue 1317), lets the pure engine advance it, and saves the new run, its answers, its
outbox rows and its timer rows in one transaction guarded by the run's version
(`Store.commit_step`). Chained flows start and `after_flow` triggers fire once that
transaction has committed. Timers of many runs that fell due together are advanced in
memory and committed in one transaction (`advance_timers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from bot.core import engine
from bot.core.effects import Destination, Effect, Finish, Message, Send, StartFlow
from bot.core.events import Event, Member, RegisteredEvent, StartContext, Team, TimeOutEnded
from bot.core.hours import WorkingHours
from bot.core.model import AfterFlowTrigger, Flow, PhaseStep
from bot.core.run import Run, RunStatus
from bot.runtime.clock import Clock
from bot.runtime.delivery import TOPIC_THREAD
from bot.runtime.outgoing import Outgoing
from bot.runtime.router import Router
from bot.store.repo import StaleRun, Store
from bot.store.tables import TeamRow

log = logging.getLogger("samen.runs")

# Another process (on PostgreSQL) may commit a step of the same run between this one's
# load and commit: the step is made again on what it wrote, after a short random pause so
# that two processes do not keep meeting. Each retry means the other one got through.
STALE_RETRIES = 12
STALE_PAUSE = 0.02  # s, at most, before a retry


class Runs:
    """Starts runs and moves them on, one event at a time per run."""

    def __init__(
        self,
        store: Store,
        flows: Mapping[str, Flow],
        clock: Clock,
        outgoing: Outgoing,
        router: Router,
    ) -> None:
        self.store = store
        self.flows = dict(flows)
        self.clock = clock
        self.outgoing = outgoing
        self.router = router
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def advance(self, run_id: str, event: Event, inbox_id: int | None) -> Run | None:
        """Lock, load, advance, save; None when the run (or its flow) is gone. Retries
        when another writer moved the run on meanwhile."""
        async with self.locks[run_id]:
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
                        await self.outgoing.step_write(
                            team, outcome.run, outcome.effects, row.version, inbox_id, run
                        )
                    )
                except StaleRun:
                    log.info("run %s moved on meanwhile; retrying", run_id)
                    await asyncio.sleep(random.uniform(0, STALE_PAUSE))
                    continue
                await self._after(team, flow, outcome.run, outcome.effects)
                return outcome.run
        raise RuntimeError(f"run {run_id} kept changing under us")

    async def advance_timers(self, timers: Sequence[tuple[int, str, Event]]) -> bool:
        """Timers of different runs that fell due together (the bells of many meetings),
        as (inbox row id, run id, event): each run is advanced in memory and all the steps
        are committed in one transaction (group commit; see `Store.commit_steps`).

        False, with nothing written, when the group needs the one-at-a-time path, which
        handles each case: a run gone or busy, its flow not loaded, another writer that
        moved a run on, an error."""
        locks = [self.locks[run_id] for _, run_id, _ in timers]
        if any(lock.locked() for lock in locks):
            return False
        steps: list[tuple[TeamRow, Flow, engine.Outcome]] = []
        async with contextlib.AsyncExitStack() as held:
            for lock in locks:
                await held.enter_async_context(lock)  # free (checked above): no wait
            try:
                stored = await self.store.load_runs([run_id for _, run_id, _ in timers])
                teams = await self.store.get_teams({run.team_id for run in stored.values()})
                writes = []
                for n, (inbox_id, run_id, event) in enumerate(timers):
                    if n % 10 == 9:
                        await asyncio.sleep(0)  # let acks run between the runs' steps
                    found = stored.get(run_id)
                    flow = self.flows.get(found.flow_id) if found is not None else None
                    team = teams.get(found.team_id) if found is not None else None
                    if found is None or flow is None or team is None:
                        return False
                    before = Run.model_validate(found.state)
                    outcome = engine.advance(flow, before, event, self.clock.now())
                    steps.append((team, flow, outcome))
                    writes.append(
                        await self.outgoing.step_write(
                            team, outcome.run, outcome.effects, found.version, inbox_id, before
                        )
                    )
                await self.store.commit_steps(writes)
            except StaleRun:
                return False
            except Exception as error:
                log.warning("a group of %d timers: %s", len(timers), type(error).__name__)
                return False
        # The outbox first: the bells are committed, and the follow-up (flows that start
        # when one ends, each its own commit) must not hold them back.
        await self.outgoing.wake([e for _, _, outcome in steps for e in outcome.effects])
        for team, flow, outcome in steps:
            try:
                await self._after(team, flow, outcome.run, outcome.effects, wake=False)
            except Exception as error:  # committed: the others' follow-up must still run
                log.exception("run %s: after its step: %s", outcome.run.id, type(error).__name__)
        return True

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
        hours: WorkingHours | None = None,
    ) -> Run:
        """Start `flow` for `team` (by a person, or None for a timer) and commit its first
        step; a refused start commits only its replies. `preface` is said to `by` before
        the flow's first words (e.g. which trajectory an evaluation is about). With
        `hours` (`by`'s working hours, for a start that nudges them) what the first step
        sends to `by`'s private chat, preface included, is delivered inside those hours
        only: the outbox holds it, in its order, if its turn comes after hours."""
        engine_team = await self.engine_team(team)
        agenda: dict[str, tuple[str, ...]] = {}
        wanted = {
            s.phase.agenda.value
            for s in flow.steps
            if isinstance(s, PhaseStep) and s.phase.agenda is not None
        }
        if wanted & self.router.agendas.keys():
            # As of the meeting's day: what is due by then.
            day = (event.at if event is not None else self.clock.now()).astimezone(
                ZoneInfo(team.timezone)
            )
            for name in wanted & self.router.agendas.keys():
                agenda[name] = await self.router.agendas[name](team, day.date())
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
            first = Send(f"preface:{ctx.run_id}", Destination.person(by), preface)
            outcome = engine.Outcome(outcome.run, (first, *outcome.effects))
        if outcome.run.status == RunStatus.refused:
            await self.outgoing.replies(team, outcome.effects, inbox_id)
            return outcome.run
        write = await self.outgoing.step_write(team, outcome.run, outcome.effects, None, inbox_id)
        if hours is not None and by is not None:
            outbox = self.outgoing.within_hours(write.outbox, f"dm:{by}", hours)
            write = dataclasses.replace(write, outbox=outbox)
        topic = self.outgoing.topics.get(inbox_id) if inbox_id is not None else None
        if topic:  # started in a forum topic: the run lives there (TOPIC_THREAD)
            write = dataclasses.replace(write, run={**write.run, "thread": TOPIC_THREAD + topic})
        await self.store.commit_step(write)
        log.info("run %s started flow=%s", outcome.run.id, flow.id)
        await self._after(team, flow, outcome.run, outcome.effects)
        return outcome.run

    async def tell_team_runs(self, team: TeamRow, event: Event) -> int:
        """A member joined, left or is away: every run of the team still going hears it
        (a collect stops waiting for who left, a round passes their turn, a summary says
        they left). Returns how many runs were told."""
        told = 0
        for row in await self.store.active_runs(team.id):
            if await self.advance(row.id, event, None) is not None:
                told += 1
        return told

    async def engine_team(self, team: TeamRow) -> Team:
        """The team as the engine sees it: members with roles and today's absences."""
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

    async def _after(
        self, team: TeamRow, flow: Flow, run: Run, effects: Sequence[Effect], *, wake: bool = True
    ) -> None:
        """Work that follows a committed step: waking the outbox and the scheduler
        (unless `wake` is False: the caller does it once for a group), then chained flows
        and after_flow triggers (each its own commit, which does not hold the step's
        messages back)."""
        if wake:
            await self.outgoing.wake(effects)
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

    async def _time_out_over(self, flow: Flow, run: Run) -> None:
        """A meeting's time-out flow (`Flow.time_out`) ended: let the meeting's clock run."""
        if run.parent_run is None:
            return
        row = await self.store.load_run(run.parent_run)
        parent = self.flows.get(row.flow_id) if row is not None else None
        if parent is None or parent.time_out != flow.id:
            return
        if self.locks[run.parent_run].locked():  # ended while the meeting itself moved
            log.warning("run %s: time-out ended inside its meeting's step", run.id)
            return
        await self.advance(run.parent_run, TimeOutEnded(), None)
