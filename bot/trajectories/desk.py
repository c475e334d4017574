"""Trajectories and their evaluation moments in chat (issue #7): the shell around bot.core.cadence.

Commands (Dutch words; English ones work too):

- `/samen traject <code> <startdatum>` registers a treatment under a pseudonym and plans
  its evaluations; `/samen traject [lijst]` lists the team's running trajectories;
  `/samen traject <code> start <datum>` moves the start date; `/samen traject <code> sluit`
  closes it; `/samen traject <code> beleid mdo=12 ...` sets its own policy.
- `/samen sessie <code>` logs a session (a process evaluation after every N).
- `/samen evaluaties` lists the team's due and overdue evaluations (the MDO agenda);
  `/samen evaluaties beleid ...` sets the team's default policy (coordinators).
- `/samen evaluatie <code> mdo | klaar ... | uitstel ...` puts the current evaluation on
  the next MDO agenda, completes it, or snoozes it.

Changing the start date or a policy replans the future evaluations; done ones and those
already due stay as history. Each open evaluation has up to three timers
(`evaluation:<id>:due|overdue|escalate`, kind "evaluation", no run), all at a working
moment in the owner's time zone; the scheduler shifts a late one out of quiet hours, and
the outbox holds a nudge whose turn to be sent comes after its person's hours.
When one fires, the current state decides whether anything is said: a done or snoozed
evaluation is left in peace. Only the owner or a coordinator may complete, snooze, move
or close; anyone may log a session.

`due_for_mdo(store, team_id, on)` is the read an MDO flow uses to reserve time.
Logs carry ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.core.cadence import (
    Done,
    Evaluation,
    Kind,
    Outcome,
    Planned,
    Policy,
    PolicyError,
    Refusal,
    State,
    budget_near,
    effective_date,
    escalate_on,
    months_since,
    nudge_moment,
    overdue_on,
    parse_date,
    parse_done,
    parse_policy,
    parse_snooze,
    process_due,
    replan,
    state_of,
)
from bot.core.effects import Destination, Message, MessageKind
from bot.core.hours import WorkingHours
from bot.core.model import Agenda, CadenceTrigger, Flow
from bot.core.sensitive import PseudonymProblem, pseudonym_problem
from bot.core.timer_names import EvaluationTimer, parse_timer_name
from bot.runtime.context import Context
from bot.runtime.feature import Feature
from bot.runtime.outgoing import Outgoing
from bot.runtime.private import team_label
from bot.runtime.replies import say as shell_say
from bot.runtime.router import Router
from bot.runtime.runs import Runs
from bot.store.evaluations import EvaluationChanged, EvaluationStore, EvaluationWrite, new_id
from bot.store.repo import Store
from bot.store.tables import (
    EvaluationRow,
    InboxRow,
    MemberRow,
    TeamRow,
    TimerRow,
    TrajectoryRow,
)
from bot.trajectories.texts import say

log = logging.getLogger("samen.evaluations")

_LIST = {"lijst", "list", "overzicht"}
_START = {"start", "startdatum"}
_CLOSE = {"sluit", "afsluiten", "close"}
_POLICY = {"beleid", "policy"}
_MDO = {"mdo", "agenda"}
_DONE = {"klaar", "gedaan", "done", "afronden"}
_SNOOZE = {"uitstel", "uitstellen", "snooze"}
TIMER_WHATS = ("due", "overdue", "escalate")


# --------------------------------------------------------------------------- MDO agenda


@dataclass(frozen=True, slots=True)
class MdoItem:
    """One evaluation for the MDO agenda. `kind` is a bot.core.cadence.Kind value."""

    evaluation_id: str
    trajectory_id: str
    client_ref: str  # the pseudonym; never a name
    owner: str
    kind: str
    due_on: date  # when it fell (or falls) due, after any snooze
    state: State
    on_agenda: bool  # the owner asked for it to go on the MDO agenda


async def due_for_mdo(store: Store, team_id: str, on: date) -> list[MdoItem]:
    """The team's evaluations to reserve MDO time for on `on`: every open evaluation of a
    running trajectory that is due or overdue that day, or that its owner put on the
    agenda (unless snoozed past it). Overdue first, then those asked for, then by date.

    For an MDO flow: `items = await due_for_mdo(store, team.id, mdo_day)`."""
    evaluations = EvaluationStore(store)
    team_policy = Policy.from_json(await evaluations.team_policy(team_id))
    trajectories = {t.id: t for t in await evaluations.trajectories(team_id)}
    items: list[MdoItem] = []
    for row in await evaluations.evaluations(team_id=team_id, status="open"):
        trajectory = trajectories.get(row.trajectory_id)
        if trajectory is None:
            continue
        ev = lifecycle(row)
        state = state_of(ev, Policy.from_json(trajectory.policy, team_policy), on)
        asked = row.on_mdo_agenda is not None and state is not State.snoozed
        if state in (State.due, State.overdue) or asked:
            items.append(
                MdoItem(
                    row.id,
                    trajectory.id,
                    trajectory.client_ref,
                    trajectory.owner,
                    row.kind,
                    effective_date(ev),
                    state,
                    row.on_mdo_agenda is not None,
                )
            )
    items.sort(key=lambda i: (i.state is not State.overdue, not i.on_agenda, i.due_on))
    return items


async def agenda_lines(store: Store, team: TeamRow, on: date) -> tuple[str, ...]:
    """`due_for_mdo` as lines for a meeting's agenda (a phase with `agenda: evaluations`),
    in the team's language: client code, what is due, whose it is, since when."""
    language = team.language
    names = {m.user: m.name or m.user for m in await store.members(team.id)}
    lines = []
    for item in await due_for_mdo(store, team.id, on):
        key = {State.overdue: "agenda.overdue", State.due: "agenda.due"}.get(
            item.state, "agenda.asked"
        )
        lines.append(
            say(
                key,
                language,
                ref=item.client_ref,
                what=say(f"label.{item.kind}", language),
                owner=names.get(item.owner, item.owner),
                since=format_date(item.due_on, "d MMM", locale=language.replace("-", "_")),
            )
        )
    return tuple(lines)


def lifecycle(row: EvaluationRow) -> Evaluation:
    """An evaluation row as the pure cadence rules see it."""
    return Evaluation(row.due_on, row.status == "done", row.snoozed_until, row.snoozes)


# --------------------------------------------------------------------------- the desk


class EvaluationDesk(Feature):
    """The `/samen traject|sessie|evaluaties|evaluatie` handlers and the evaluation timers."""

    def __init__(
        self,
        store: Store,
        flows: Mapping[str, Flow],
        runs: Runs,
        outgoing: Outgoing,
        may_change_settings: Callable[[Context], Awaitable[bool]],
    ) -> None:
        super().__init__(store, flows, runs, outgoing)
        self.evaluations = EvaluationStore(store)
        # Who may set a team's policy: the team's rule (bot/teams), handed in by wiring.
        self.may_change_settings = may_change_settings

    def register(self, router: Router) -> None:
        # The course and a snooze reason are free text: the answers' guard checks them
        # too (names, BSN, e-mail, phone; R-PRV-1), whoever registered it.
        self.text_checks = router.answer_checks
        router.command("trajectory", self.trajectory)
        router.command("session", self.session)
        router.command("evaluations", self.due_list)
        router.command("evaluation", self.evaluation)
        # Typed in a private chat: the due list spans the person's teams; a trajectory
        # code names its team.
        router.across("evaluations")
        for action in ("trajectory", "session", "evaluation"):
            router.find_team(action, self.team_of_code)
        router.timer(EvaluationTimer.KIND, self.on_timer)
        router.agenda(Agenda.evaluations.value, self.agenda)

    async def agenda(self, team: TeamRow, on: date) -> tuple[str, ...]:
        """What a meeting with `agenda: evaluations` lists: see `agenda_lines`."""
        return await agenda_lines(self.store, team, on)

    # -- helpers

    def _notify(self) -> None:
        self.outgoing.notify()

    def _today(self, team: TeamRow) -> date:
        return self.clock.now().astimezone(ZoneInfo(team.timezone)).date()

    async def _policy(self, team: TeamRow, trajectory: TrajectoryRow | None = None) -> Policy:
        base = Policy.from_json(await self.evaluations.team_policy(team.id))
        return Policy.from_json(trajectory.policy, base) if trajectory is not None else base

    async def _hours(self, team: TeamRow, user: str | None) -> WorkingHours:
        """The team's days and hours in `user`'s time zone (the team's for the channel)."""
        member = await self.store.get_member(team.id, user) if user else None
        zone = (member.timezone if member is not None else None) or team.timezone
        return WorkingHours.parse(zone, team.work_days, team.work_start, team.work_end)

    def _when(self, day: date, hours: WorkingHours) -> datetime:
        """A working moment on `day`, or the next one after now if that has passed."""
        now = self.clock.now()
        moment = nudge_moment(day, hours)
        if moment >= now:
            return moment
        if hours.contains(now):
            return now
        local_today = now.astimezone(ZoneInfo(hours.zone)).date()
        moment = nudge_moment(local_today, hours)
        return moment if moment >= now else nudge_moment(local_today + timedelta(days=1), hours)

    def _timers(
        self, evaluation_id: str, ev: Evaluation, policy: Policy, hours: WorkingHours
    ) -> list[dict[str, Any]]:
        days = {
            "due": effective_date(ev),
            "overdue": overdue_on(ev, policy),
            "escalate": escalate_on(ev, policy),
        }
        out = []
        for what, day in days.items():
            due = self._when(day, hours)
            out.append(
                {
                    "timer": EvaluationTimer(evaluation_id, what).name(),
                    "kind": EvaluationTimer.KIND,
                    "due_at": due,
                    "idempotency_key": f"evaluation:{evaluation_id}:{what}:{due.isoformat()}",
                }
            )
        return out

    def _date(self, day: date, language: str) -> str:
        return format_date(day, "d MMM yyyy", locale=language.replace("-", "_"))

    async def _answer(self, ctx: Context, text: str, **write: Any) -> None:
        """Write the changes and the reply, and mark the command handled, atomically."""
        await self.evaluations.write(
            EvaluationWrite(
                now=self.clock.now(),
                by=ctx.member.user if ctx.member is not None else None,
                outbox=[self.outgoing.reply_row(ctx, text)],
                inbox_id=ctx.inbox.id,
                **write,
            )
        )
        self._notify()
        if write.get("timers_new"):
            await self.outgoing.arm(t["due_at"] for t in write["timers_new"])

    async def _refuse(self, ctx: Context, refusal: Refusal) -> None:
        await self._answer(ctx, say(refusal.key, ctx.team.language, **refusal.params))

    def _may_act(self, ctx: Context, trajectory: TrajectoryRow) -> bool:
        member = ctx.member
        return member is not None and (
            member.user == trajectory.owner or "coordinator" in member.roles
        )

    async def _plan(
        self,
        team: TeamRow,
        trajectory: TrajectoryRow,
        policy: Policy,
        *,
        start: date | None = None,
        rows: Sequence[EvaluationRow] | None = None,
        done_now: str | None = None,
        agreed_next: date | None = None,
    ) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], list[date]]:
        """(evaluations to add, ids to drop, their timers, the next dates) for a replan."""
        if rows is None:
            rows = await self.evaluations.evaluations(trajectory_id=trajectory.id)
        live = [r for r in rows if r.status in ("open", "done")]
        if agreed_next is None:
            done = [r for r in live if r.status == "done" and r.next_on is not None]
            done.sort(key=lambda r: (r.done_at or self.clock.now(), r.id))
            agreed_next = done[-1].next_on if done else None
        existing = [
            Planned(r.id, Kind(r.kind), r.due_on, done=r.status == "done" or r.id == done_now)
            for r in live
        ]
        today = self._today(team)
        plan = replan(
            start or trajectory.started_on, policy, today, existing, agreed_next=agreed_next
        )
        hours = await self._hours(team, trajectory.owner)
        adds, timers = [], []
        for moment in plan.add:
            evaluation_id = new_id()
            adds.append(
                {
                    "id": evaluation_id,
                    "trajectory_id": trajectory.id,
                    "team_id": team.id,
                    "kind": moment.kind.value,
                    "due_on": moment.due_on,
                }
            )
            timers += self._timers(evaluation_id, Evaluation(moment.due_on), policy, hours)
        kept = {r.id: r for r in live if r.id in plan.keep and r.status == "open"}
        upcoming = sorted(
            [m.due_on for m in plan.add]
            + [effective_date(lifecycle(r)) for r in kept.values() if r.id != done_now]
        )
        return adds, list(plan.drop), timers, upcoming

    async def team_of_code(
        self, teams: tuple[TeamRow, ...], args: tuple[str, ...]
    ) -> TeamRow | None:
        """The one team among `teams` with a trajectory of the code `args[0]`."""
        if not args:
            return None
        owning = [t for t in teams if await self.evaluations.find_trajectory(t.id, args[0])]
        return owning[0] if len(owning) == 1 else None

    async def _find(self, ctx: Context, ref: str) -> TrajectoryRow | None:
        trajectory = await self.evaluations.find_trajectory(ctx.team.id, ref)
        if trajectory is None:
            await self._answer(ctx, say("unknown_ref", ctx.team.language, ref=ref))
        return trajectory

    async def _current(self, trajectory: TrajectoryRow) -> EvaluationRow | None:
        """The evaluation a command is about: the earliest open one."""
        rows = await self.evaluations.evaluations(trajectory_id=trajectory.id, status="open")
        rows.sort(key=lambda r: (effective_date(lifecycle(r)), r.created_at))
        return rows[0] if rows else None

    # -- /samen traject

    async def trajectory(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        if not args or args[0].lower() in _LIST:
            await self._list(ctx)
            return
        if len(args) == 2 and parse_date(args[1]) is not None:
            await self._register(ctx, args[0], args[1])
            return
        action = args[1].lower() if len(args) > 1 else ""
        if action in _START | _CLOSE | _POLICY:
            trajectory = await self._find(ctx, args[0])
            if trajectory is None:
                return
            if trajectory.status != "open":
                await self._answer(ctx, say("not_open", language, ref=trajectory.client_ref))
            elif not self._may_act(ctx, trajectory):
                await self._answer(ctx, say("not_owner", language, owner=trajectory.owner))
            elif action in _START:
                await self._move_start(ctx, trajectory, args[2:])
            elif action in _CLOSE:
                await self._close(ctx, trajectory)
            else:
                await self._set_policy(ctx, trajectory, args[2:])
            return
        await self._answer(ctx, say("usage", language))

    async def _register(self, ctx: Context, ref: str, day: str) -> None:
        """Register a treatment under a pseudonym (R-PRV-1: a code, never a name)."""
        language = ctx.team.language
        started = parse_date(day)
        assert ctx.member is not None and started is not None
        problem = pseudonym_problem(ref)
        if problem is PseudonymProblem.not_a_code:
            await self._answer(ctx, say("usage", language))
            return
        if problem is PseudonymProblem.identifying:  # a name or a BSN (R-PRV-1)
            await self._answer(ctx, shell_say("trajectory_name_like", language, ref=ref))
            return
        if started > self._today(ctx.team):
            await self._answer(ctx, shell_say("trajectory_future", language))
            return
        now = self.clock.now()
        trajectory = await self.store.add_trajectory(
            ctx.team.id, ref, ctx.member.user, started, now=now
        )
        if trajectory is None:
            await self._answer(ctx, shell_say("trajectory_exists", language, ref=ref))
            return
        policy = await self._policy(ctx.team, trajectory)
        adds, _, timers, upcoming = await self._plan(ctx.team, trajectory, policy, rows=[])
        dates = ", ".join(self._date(d, language) for d in upcoming[:3]) or "—"
        text = say(
            "registered", language, ref=ref, start=self._date(started, language), dates=dates
        )
        await self._answer(ctx, text, add=adds, timers_new=timers)
        log.info("trajectory %s registered with %d evaluations", trajectory.id, len(adds))

    async def _move_start(
        self, ctx: Context, trajectory: TrajectoryRow, args: tuple[str, ...]
    ) -> None:
        language = ctx.team.language
        started = parse_date(args[0]) if args else None
        if started is None:
            await self._answer(ctx, say("usage", language))
            return
        if started > self._today(ctx.team):
            await self._answer(ctx, shell_say("trajectory_future", language))
            return
        policy = await self._policy(ctx.team, trajectory)
        adds, drop, timers, upcoming = await self._plan(ctx.team, trajectory, policy, start=started)
        text = say(
            "start_changed",
            language,
            ref=trajectory.client_ref,
            start=self._date(started, language),
            dates=", ".join(self._date(d, language) for d in upcoming[:3]) or "—",
        )
        await self._answer(
            ctx,
            text,
            trajectory_id=trajectory.id,
            trajectory={"started_on": started},
            add=adds,
            drop=drop,
            timers_new=timers,
        )

    async def _close(self, ctx: Context, trajectory: TrajectoryRow) -> None:
        rows = await self.evaluations.evaluations(trajectory_id=trajectory.id, status="open")
        await self._answer(
            ctx,
            say("closed", ctx.team.language, ref=trajectory.client_ref),
            trajectory_id=trajectory.id,
            trajectory={"status": "closed"},
            drop=[r.id for r in rows],
        )

    async def _set_policy(
        self, ctx: Context, trajectory: TrajectoryRow | None, words: tuple[str, ...]
    ) -> None:
        language = ctx.team.language
        base = await self._policy(ctx.team, trajectory)
        try:
            policy = parse_policy(words, base)
        except PolicyError as error:
            await self._refuse(ctx, error.refusal)
            return
        params = {
            "plan": policy.plan_review_months,
            "mdo": policy.continuation_months,
            "colleague": policy.colleague_months,
            "every": policy.every_months,
            "sessions": policy.process_after_sessions,
            "snoozes": policy.max_snoozes,
            "weeks": policy.max_snooze_weeks,
        }
        if trajectory is None:
            await self.evaluations.set_team_policy(ctx.team.id, policy.to_json(), self.clock.now())
            changes: dict[str, Any] = {}
            dates: list[date] = []
            for each in await self.evaluations.trajectories(ctx.team.id):
                own = Policy.from_json(each.policy, policy)
                adds, drop, timers, upcoming = await self._plan(ctx.team, each, own)
                changes.setdefault("add", []).extend(adds)
                changes.setdefault("drop", []).extend(drop)
                changes.setdefault("timers_new", []).extend(timers)
                dates += upcoming[:1]
            what = say("policy_team", language)
        else:
            # Only what differs from what applied before is stored with the trajectory, on
            # top of what it had: the rest keeps following the team's defaults.
            before = base.to_json()
            changed = {
                **trajectory.policy,
                **{k: v for k, v in policy.to_json().items() if v != before[k]},
            }
            adds, drop, timers, upcoming = await self._plan(ctx.team, trajectory, policy)
            changes = {
                "trajectory_id": trajectory.id,
                "trajectory": {"policy": changed},
                "add": adds,
                "drop": drop,
                "timers_new": timers,
            }
            dates = upcoming
            what = say("policy_of", language, ref=trajectory.client_ref)
        text = say(
            "policy_set",
            language,
            what=what,
            dates=", ".join(self._date(d, language) for d in sorted(dates)[:3]) or "—",
            **params,
        )
        await self._answer(ctx, text, **changes)

    async def _list(self, ctx: Context) -> None:
        language = ctx.team.language
        today = self._today(ctx.team)
        lines = []
        for trajectory in await self.evaluations.trajectories(ctx.team.id):
            current = await self._current(trajectory)
            if current is None:
                upcoming = "—"
            else:
                policy = await self._policy(ctx.team, trajectory)
                ev = lifecycle(current)
                state = say(f"state.{state_of(ev, policy, today).value}", language)
                upcoming = f"{self._date(effective_date(ev), language)} ({state})"
            lines.append(
                say(
                    "list_line",
                    language,
                    ref=trajectory.client_ref,
                    owner=trajectory.owner,
                    start=self._date(trajectory.started_on, language),
                    sessions=trajectory.sessions,
                    next=upcoming,
                )
            )
        text = (
            say("list", language, lines="\n".join(lines)) if lines else say("list_none", language)
        )
        await self._answer(ctx, text)

    # -- /samen sessie

    async def session(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        if len(args) != 1:
            await self._answer(ctx, say("session_usage", language))
            return
        trajectory = await self._find(ctx, args[0])
        if trajectory is None:
            return
        if trajectory.status != "open":
            await self._answer(ctx, say("not_open", language, ref=trajectory.client_ref))
            return
        count = await self.evaluations.log_session(trajectory.id)
        policy = await self._policy(ctx.team, trajectory)
        ref = trajectory.client_ref
        text = say("session_logged", language, sessions=count, ref=ref)
        changes: dict[str, Any] = {}
        if process_due(count, policy):
            evaluation_id = new_id()
            today = self._today(ctx.team)
            hours = await self._hours(ctx.team, trajectory.owner)
            changes = {
                "add": [
                    {
                        "id": evaluation_id,
                        "trajectory_id": trajectory.id,
                        "team_id": ctx.team.id,
                        "kind": Kind.process.value,
                        "due_on": today,
                    }
                ],
                "timers_new": self._timers(evaluation_id, Evaluation(today), policy, hours),
            }
            text += say("process_due", language, sessions=count)
        if budget_near(count, policy):
            text += " " + say(
                "budget_near", language, ref=ref, sessions=count, budget=policy.session_budget
            )
        await self._answer(ctx, text, **changes)

    # -- /samen evaluaties

    async def due_list(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        if args and args[0].lower() in _POLICY:
            if not await self.may_change_settings(ctx):
                await self._answer(ctx, shell_say("not_allowed_settings", language))
                return
            await self._set_policy(ctx, None, args[1:])
            return
        lines = []
        # In a private chat: the person's own trajectories in each of their teams, and
        # all of those of the teams they coordinate; in a team channel: the team's.
        for team in ctx.teams or (ctx.team,):
            mine = await self._own_only(ctx, team)
            items = await due_for_mdo(self.store, team.id, self._today(team))
            lines += [
                say(
                    "due_line",
                    language,
                    ref=item.client_ref,
                    owner=item.owner,
                    what=say(f"kind.{item.kind}", language, sessions="N"),
                    state=say(f"state.{item.state.value}", language),
                    due=self._date(item.due_on, language),
                    agenda=say("on_agenda", language) if item.on_agenda else "",
                )
                + (f" ({team_label(team)})" if len(ctx.teams) > 1 else "")
                for item in items
                if mine is None or item.owner == mine
            ]
        text = (
            say("due_list", language, lines="\n".join(lines))
            if lines
            else say("due_none", language)
        )
        await self._answer(ctx, text)

    async def _own_only(self, ctx: Context, team: TeamRow) -> str | None:
        """Whose trajectories of `team` a private due list shows: the person's own (their
        user id), or None for all of them (a coordinator, or asked in the team channel)."""
        if not ctx.private_chat or ctx.member is None:
            return None
        member = await self.store.get_member(team.id, ctx.member.user)
        return None if member is not None and "coordinator" in member.roles else ctx.member.user

    # -- /samen evaluatie <code> mdo | klaar ... | uitstel ...

    async def evaluation(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.team.language
        action = args[1].lower() if len(args) > 1 else ""
        if action not in _MDO | _DONE | _SNOOZE:
            await self._answer(ctx, say("evaluation_usage", language))
            return
        trajectory = await self._find(ctx, args[0])
        if trajectory is None:
            return
        ref = trajectory.client_ref
        if trajectory.status != "open":
            await self._answer(ctx, say("not_open", language, ref=ref))
            return
        if not self._may_act(ctx, trajectory):
            await self._answer(ctx, say("not_owner", language, owner=trajectory.owner))
            return
        current = await self._current(trajectory)
        if current is None:
            await self._answer(ctx, say("no_open_evaluation", language, ref=ref))
            return
        policy = await self._policy(ctx.team, trajectory)
        today = self._today(ctx.team)
        try:
            if action in _MDO:
                await self._answer(
                    ctx,
                    say("mdo_set", language, ref=ref),
                    update={current.id: {"on_mdo_agenda": today}},
                    events={current.id: "on MDO agenda"},
                )
            elif action in _DONE:
                await self._done(ctx, trajectory, current, policy, args[2:])
            else:
                await self._snooze(ctx, trajectory, current, policy, args[2:])
        except EvaluationChanged:
            await self._answer(ctx, say("no_open_evaluation", language, ref=ref))

    async def _done(
        self,
        ctx: Context,
        trajectory: TrajectoryRow,
        current: EvaluationRow,
        policy: Policy,
        words: tuple[str, ...],
    ) -> None:
        language = ctx.team.language
        assert ctx.member is not None
        result = parse_done(words, self._today(ctx.team), policy)
        if isinstance(result, Refusal):
            await self._refuse(ctx, result)
            return
        done: Done = result
        if done.course and await self._held(ctx, current.id, "course", done.course):
            return
        values = {
            "status": "done",
            "outcome": done.outcome.value,
            "continue_until": done.until,
            "course": done.course,
            "next_on": done.next_on,
            "done_by": ctx.member.user,
            "done_at": self.clock.now(),
        }
        ref = trajectory.client_ref
        if done.outcome is Outcome.close:
            others = await self.evaluations.evaluations(trajectory_id=trajectory.id, status="open")
            await self._answer(
                ctx,
                say("done_closed", language, ref=ref),
                update={current.id: values},
                events={current.id: "done: close"},
                drop=[r.id for r in others if r.id != current.id],
                cancel_timers_of=[current.id],
                trajectory_id=trajectory.id,
                trajectory={"status": "closed"},
            )
            return
        adds, drop, timers, _ = await self._plan(
            ctx.team, trajectory, policy, done_now=current.id, agreed_next=done.next_on
        )
        outcome = say(
            f"outcome.{done.outcome.value}",
            language,
            until=self._date(done.until, language) if done.until else "",
        )
        assert done.next_on is not None
        await self._answer(
            ctx,
            say(
                "done_set",
                language,
                ref=ref,
                outcome=outcome,
                next=self._date(done.next_on, language),
            ),
            update={current.id: values},
            events={current.id: f"done: {done.outcome.value}"},
            cancel_timers_of=[current.id],
            add=adds,
            drop=[d for d in drop if d != current.id],
            timers_new=timers,
        )

    async def _snooze(
        self,
        ctx: Context,
        trajectory: TrajectoryRow,
        current: EvaluationRow,
        policy: Policy,
        words: tuple[str, ...],
    ) -> None:
        language = ctx.team.language
        ev = lifecycle(current)
        result = parse_snooze(words, ev, self._today(ctx.team), policy)
        if isinstance(result, Refusal):
            await self._refuse(ctx, result)
            return
        if result.reason and await self._held(ctx, current.id, "snooze", result.reason):
            return
        snoozed = Evaluation(current.due_on, False, result.until, current.snoozes + 1)
        hours = await self._hours(ctx.team, trajectory.owner)
        await self._answer(
            ctx,
            say(
                "snoozed",
                language,
                ref=trajectory.client_ref,
                until=self._date(result.until, language),
                n=snoozed.snoozes,
                max=policy.max_snoozes,
            ),
            update={
                current.id: {
                    "snoozed_until": result.until,
                    "snoozes": snoozed.snoozes,
                    "snooze_reason": result.reason,
                }
            },
            events={current.id: f"snoozed until {result.until.isoformat()}"},
            cancel_timers_of=[current.id],
            timers_new=self._timers(current.id, snoozed, policy, hours),
        )

    async def _held(self, ctx: Context, evaluation_id: str, what: str, text: str) -> bool:
        """True when a check held `text` back (the person was warned; see AnswerGuard)."""
        assert ctx.member is not None
        key = (ctx.member.user, evaluation_id, what)
        for check in getattr(self, "text_checks", ()):
            if await check(ctx, key, text):
                return True
        return False

    # -- timers

    async def on_timer(self, row: InboxRow, timer: EvaluationTimer) -> None:
        """An evaluation's due, overdue or escalate timer fell due: nudge if it still
        matters."""
        evaluation_id, what = timer.evaluation, timer.what
        now = self.clock.now()
        current = await self.evaluations.get(evaluation_id)
        trajectory = await self.store.get_trajectory(current.trajectory_id) if current else None
        team = await self.store.get_team(trajectory.team_id) if trajectory else None
        if current is None or trajectory is None or team is None or what not in TIMER_WHATS:
            await self.store.inbox_done(row.id, now, error="evaluation gone")
            return
        policy = await self._policy(team, trajectory)
        ev = lifecycle(current)
        state = state_of(ev, policy, self._today(team))
        wanted = {"due": (State.due, State.overdue), "overdue": (State.overdue,)}.get(
            what, (State.overdue,)
        )
        if (
            current.status != "open"
            or trajectory.status != "open"
            or state not in wanted
            or (what == "escalate" and current.escalated_at is not None)
        ):
            await self.store.inbox_done(row.id, now)  # nothing to say any more
            return
        language = team.language
        info = {
            "ref": trajectory.client_ref,
            "what": say(f"kind.{current.kind}", language, sessions=trajectory.sessions),
            "due": self._date(effective_date(ev), language),
        }
        if what == "escalate":
            await self._escalate(row, team, trajectory, current, ev, policy)
            return
        if what == "overdue":
            text = say("overdue", language, **info)
            await self._send(row, team, trajectory.owner, current.id, what, text)
            return
        months = months_since(trajectory.started_on, self._today(team))
        age = (
            say("age_years", language, n=months // 12)
            if months % 12 == 0 and months
            else say("age_months", language, n=months)
        )
        text = say(
            "nudge",
            language,
            ref=trajectory.client_ref,
            start=self._date(trajectory.started_on, language),
            age=age,
            what=info["what"],
        )
        # Top the plan up to the horizon while we are here.
        adds, drop, timers, _ = await self._plan(team, trajectory, policy)
        flows = [
            f for f in self.flows.values() if any(isinstance(t, CadenceTrigger) for t in f.triggers)
        ]
        if not flows:
            await self._send(
                row,
                team,
                trajectory.owner,
                current.id,
                what,
                text,
                add=adds,
                drop=drop,
                timers_new=timers,
            )
            return
        # The team's evaluation flow(s) follow the nudge, which goes first as their preface.
        await self.evaluations.write(
            EvaluationWrite(
                now=now, events={current.id: "nudged"}, add=adds, drop=drop, timers_new=timers
            )
        )
        hours = await self._hours(team, trajectory.owner)
        for i, flow in enumerate(flows):
            await self.runs.start_flow(
                team,
                flow,
                by=trajectory.owner,
                inbox_id=row.id if i == len(flows) - 1 else None,
                preface=Message(MessageKind.say, text) if i == 0 else None,
                hours=hours,  # the nudge and the flow's first words: in the owner's hours
            )
        if timers:
            await self.outgoing.arm(t["due_at"] for t in timers)

    async def _send(
        self,
        row: InboxRow,
        team: TeamRow,
        to: str | None,
        evaluation_id: str,
        what: str,
        text: str,
        **write: Any,
    ) -> None:
        """A nudge to a person (or the team channel when `to` is None), atomically with
        what the timer changes and its inbox row. It carries their working hours: the
        outbox holds it to the next working morning if its turn comes after hours."""
        destination = Destination.person(to) if to else Destination.channel()
        message = Message(MessageKind.reminder, text)
        key = f"evaluation:{evaluation_id}:{what}:{to or 'team'}"
        hours = await self._hours(team, to)
        outbox = [
            self.outgoing.row(team, None, "send", key, destination, message, key, hours=hours)
        ]
        await self._write_timer(row, evaluation_id, what, outbox, **write)

    async def _write_timer(
        self,
        row: InboxRow,
        evaluation_id: str,
        what: str,
        outbox: list[dict[str, Any]],
        **write: Any,
    ) -> None:
        events = {evaluation_id: "nudged" if what == "due" else what}
        await self.evaluations.write(
            EvaluationWrite(
                now=self.clock.now(),
                events=events,
                outbox=outbox,
                inbox_id=row.id,
                **write,
            )
        )
        self._notify()
        if write.get("timers_new"):
            await self.outgoing.arm(t["due_at"] for t in write["timers_new"])

    async def _escalate(
        self,
        row: InboxRow,
        team: TeamRow,
        trajectory: TrajectoryRow,
        current: EvaluationRow,
        ev: Evaluation,
        policy: Policy,
    ) -> None:
        """Overdue for a while: the team's coordinators hear of it (the channel if none)."""
        language = team.language
        members: list[MemberRow] = await self.store.members(team.id)
        coordinators: list[str | None] = [m.user for m in members if "coordinator" in m.roles]
        coordinators = coordinators or [None]
        text = say(
            "escalation",
            language,
            ref=trajectory.client_ref,
            owner=trajectory.owner,
            since=self._date(overdue_on(ev, policy), language),
        )
        outbox = []
        for user in coordinators:
            key = f"evaluation:{current.id}:escalate:{user or 'team'}"
            destination = Destination.person(user) if user else Destination.channel()
            message = Message(MessageKind.reminder, text)
            hours = await self._hours(team, user)  # each coordinator's own
            outbox.append(
                self.outgoing.row(team, None, "send", key, destination, message, key, hours=hours)
            )
        try:
            await self._write_timer(
                row,
                current.id,
                "escalated to coordinator",
                outbox,
                update={current.id: {"escalated_at": self.clock.now()}},
            )
        except EvaluationChanged:
            await self.store.inbox_done(row.id, self.clock.now())


async def evaluation_quiet_hours(store: Store, timer: TimerRow) -> WorkingHours | None:
    """The working hours an evaluation timer waits for when it fires late (after a
    restart, say): the team's days and hours in the owner's time zone. None for others."""
    name = parse_timer_name(timer.timer) if timer.run_id is None else None
    if not isinstance(name, EvaluationTimer):
        return None
    current = await EvaluationStore(store).get(name.evaluation)
    trajectory = await store.get_trajectory(current.trajectory_id) if current else None
    team = await store.get_team(trajectory.team_id) if trajectory else None
    if trajectory is None or team is None:
        return None
    owner = await store.get_member(team.id, trajectory.owner)
    zone = (owner.timezone if owner is not None else None) or team.timezone
    return WorkingHours.parse(zone, team.work_days, team.work_start, team.work_end)
