"""Scheduled flows: `schedule: "0 9 * * mon"` in a flow starts it for every team at that
moment in the team's own zone (a weekly check-in), one timer ahead at a time."""

from __future__ import annotations

from typing import Any

from bot.core.model import ScheduleTrigger
from bot.core.timer_names import ScheduledFlowTimer
from bot.core.timing import cron_next
from bot.runtime.feature import Feature
from bot.runtime.router import Router
from bot.store.tables import InboxRow, TeamRow


class Schedules(Feature):
    """Plans the next start of every scheduled flow for each team, and starts it then."""

    def register(self, router: Router) -> None:
        router.timer(ScheduledFlowTimer.KIND, self.on_timer)
        router.on_team_seen(self.plan)  # a team first seen: its scheduled flows too

    async def plan(self, team: TeamRow | None = None) -> int:
        """Give every team (or one) a timer for the next time each scheduled flow is due
        (in the team's zone); return how many it planned.

        Idempotent: a timer is keyed by its moment, so planning twice writes it once. Run at
        start, for a team first seen, and after each firing (for the one after it).
        """
        scheduled = [
            (flow, trigger.schedule)
            for flow in self.flows.values()
            for trigger in flow.triggers
            if isinstance(trigger, ScheduleTrigger)
        ]
        if not scheduled:
            return 0
        teams = [team] if team is not None else await self.store.teams()
        now = self.clock.now()
        timers: list[dict[str, Any]] = []
        for each in teams:
            for flow, expr in scheduled:
                due = cron_next(expr, now, each.timezone)
                name = ScheduledFlowTimer(flow.id, each.id).name()
                timers.append(
                    {
                        "timer": name,
                        "kind": ScheduledFlowTimer.KIND,
                        "due_at": due,
                        "idempotency_key": f"{name}:{due.isoformat()}",
                    }
                )
        if not timers:
            return 0
        await self.store.commit_messages(timers_new=timers, now=now)
        await self.outgoing.arm(t["due_at"] for t in timers)
        return len(timers)

    async def on_timer(self, row: InboxRow, timer: ScheduledFlowTimer) -> None:
        """A scheduled flow is due for a team: start it for the whole team, then plan the
        next time."""
        flow = self.flows.get(timer.flow)
        team = await self.store.get_team(timer.team)
        if flow is None or team is None:
            await self.store.inbox_done(row.id, self.clock.now(), error="schedule target gone")
            return
        await self.runs.start_flow(team, flow, by=None, inbox_id=row.id)
        await self.plan(team)
