"""Registering events from chat: who takes part, a client pseudonym, moving, cancelling.

`/samen bezoek 2026-11-24 14:00 @anna @bram cliënt K-12` registers a joint visit with
Anna and Bram and the pseudonym K-12: the flows the visit starts (preparing before it,
looking back after it) run with exactly those two. The reply gives the event's short code,
with which `/samen verzet <code> <datum> <tijd>` moves it — its planned flow starts move
along — and `/samen afzeggen <code>` cancels it and the flows it would still start.

A planned event's flows start from `start:` timers (`Planning.on_start_timer`). A
pseudonym is a code, never a name (R-PRV-1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core import sensitive
from bot.core.commands import EVENT_WORDS
from bot.core.events import RegisteredEvent
from bot.core.model import EventTrigger, Flow
from bot.core.render import text as render_text
from bot.core.sensitive import PseudonymProblem
from bot.core.timer_names import EventStartTimer, parse_timer_name
from bot.core.when import Moment, WhenProblem, example_moment, read_moment, trigger_moment
from bot.runtime.context import Context
from bot.runtime.feature import Feature
from bot.runtime.replies import local_moment, say
from bot.runtime.router import Router
from bot.store.tables import EventRow, InboxRow, MemberRow

log = logging.getLogger(__name__)

CLIENT_WORDS = frozenset({"cliënt", "client", "cliënte", "pseudoniem"})
# Typed after a registration that exists already: register it a second time anyway.
CONFIRM_WORDS = frozenset({"toch", "opnieuw", "again", "anyway"})
CODE_LENGTH = 6
# Event kinds with a name of their own in the replies (others are shown as typed).
NAMED_EVENTS = frozenset({"visit", "mdo", "meeting", "intervisie", "intake"})


@dataclass(frozen=True, slots=True)
class PlanExtras:
    """What follows the date and time of `/samen bezoek`."""

    mentions: tuple[str, ...] = ()  # as typed, without the @
    client: str | None = None
    unknown: tuple[str, ...] = ()  # words that are neither a mention nor `cliënt <code>`


def read_plan_extras(words: Sequence[str]) -> PlanExtras:
    """`("@anna", "<@U2>", "cliënt", "K-12")` -> mentions ("anna", "U2"), client "K-12"."""
    mentions: list[str] = []
    unknown: list[str] = []
    client: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith(("@", "<@")):
            name = word.strip("<>").lstrip("@").split("|", 1)[0]
            if name and name not in mentions:
                mentions.append(name)
        elif word.lower() in CLIENT_WORDS and i + 1 < len(words) and client is None:
            client = words[i + 1]
            i += 1
        else:
            unknown.append(word)
        i += 1
    return PlanExtras(tuple(mentions), client, tuple(unknown))


def pseudonym_problem(client: str) -> str | None:
    """None when `client` is a usable pseudonym, else the reply key saying why not."""
    problem = sensitive.pseudonym_problem(client)
    if problem is PseudonymProblem.not_a_code:
        return "plan_client_usage"
    if problem is PseudonymProblem.identifying:
        return "plan_client_name_like"
    return None


def event_code(event_id: str) -> str:
    """The short code people type to move or cancel an event."""
    return event_id[:CODE_LENGTH]


class Planning(Feature):
    """`/samen bezoek|mdo|intervisie|overleg|intake`, `/samen verzet` and `/samen afzeggen`,
    and the `start:` timers that start a planned event's flows."""

    def register(self, router: Router) -> None:
        router.command("plan", self.plan)
        router.command("move", self.move)
        router.command("cancel", self.cancel)
        router.timer(EventStartTimer.KIND, self.on_start_timer)

    async def plan(self, ctx: Context, args: tuple[str, ...]) -> None:
        """`/samen bezoek 2026-11-24 14:00`: register the event; start or schedule every
        flow with an event trigger for this kind of event."""
        language, kind = ctx.language, args[0]
        word = next((w for w, k in EVENT_WORDS.items() if k == kind), kind)
        now = self.clock.now()
        read = read_moment(args[1:], now, ctx.team.timezone)
        if read.at is None:
            await self.outgoing.reply(ctx, self.when_problem(read, ctx, word, now))
            return
        at = read.at
        if at <= now:
            await self.outgoing.reply(ctx, say("in_past", language))
            return
        assert ctx.member is not None
        rest = args[1 + read.used :]
        confirmed = bool(rest) and rest[-1].lower() in CONFIRM_WORDS
        extras = read_plan_extras(rest[:-1] if confirmed else rest)
        if extras.unknown:
            await self.outgoing.reply(
                ctx, say("plan_extra_unknown", language, word=extras.unknown[0])
            )
            return
        problem = pseudonym_problem(extras.client) if extras.client else None
        if problem is not None:
            await self.outgoing.reply(ctx, say(problem, language, client=extras.client))
            return
        people: list[MemberRow] = []
        for name in extras.mentions:
            found = await self.store.get_member(ctx.team.id, name)
            found = found or await self.store.get_member(ctx.team.id, name.lower())
            if found is None:
                await self.outgoing.reply(ctx, say("unknown_member", language, name="@" + name))
                return
            people.append(found)
        participants = tuple(p.user for p in people) or None
        if not confirmed:
            same = await self.same_event(ctx.team.id, kind, at, participants or ())
            if same is not None:
                typed = " ".join(("/samen", word, *args[1:], say("confirm_word", language)))
                text = say(
                    "plan_duplicate",
                    language,
                    what=_what(kind, language),
                    when=local_moment(at, ctx.team.timezone, language),
                    code=event_code(same.id),
                    typed=typed,
                )
                await self.outgoing.reply(ctx, text)
                return
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
                begin = trigger_moment(trigger, at, ctx.team.timezone)
                title = render_text(flow.title, language)
                if begin <= now:
                    to_start.append(flow)
                    when = say("now", language)
                else:
                    timers.append(
                        {
                            "timer": EventStartTimer(flow.id, event.id, ctx.member.user).name(),
                            "kind": EventStartTimer.KIND,
                            "due_at": begin,
                            "idempotency_key": f"start:{flow.id}:{event.id}",
                        }
                    )
                    when = local_moment(begin, ctx.team.timezone, language)
                starts.append(say("planned_starts", language, flow=title, when=when))
        text = say(
            "planned",
            language,
            what=_what(kind, language),
            when=local_moment(at, ctx.team.timezone, language),
            starts="".join(starts) or say("planned_none", language),
        )
        if people:
            names = ", ".join(p.name or p.user for p in people)
            text += say("planned_with", language, names=names)
        text += say("planned_code", language, code=event_code(event.id))
        rows = [self.outgoing.reply_row(ctx, text)]
        registered = RegisteredEvent(kind, at)
        if not to_start:
            await self.store.commit_messages(
                outbox=rows, timers_new=timers, inbox_id=ctx.inbox.id, now=now
            )
        else:
            await self.store.commit_messages(outbox=rows, timers_new=timers, now=now)
            for i, flow in enumerate(to_start):
                await self.runs.start_flow(
                    ctx.team,
                    flow,
                    by=ctx.member.user,
                    event=registered,
                    participants=participants,
                    inbox_id=ctx.inbox.id if i == len(to_start) - 1 else None,
                )
        self.outgoing.notify()
        if timers:
            await self.outgoing.arm(t["due_at"] for t in timers)

    def when_problem(self, read: Moment, ctx: Context, word: str, now: datetime) -> str:
        """What to say about a moment that could not be read: an impossible date or time
        by name, anything else with an example that lies in the future."""
        language = ctx.language
        if read.problem == WhenProblem.impossible_date:
            return say("when_impossible_date", language, typed=read.typed)
        if read.problem == WhenProblem.impossible_time:
            return say("when_impossible_time", language, typed=read.typed)
        example = example_moment(now, ctx.team.timezone, language)
        return say("bad_when", language, word=word, example=example)

    async def same_event(
        self, team_id: str, kind: str, at: datetime, participants: Sequence[str]
    ) -> EventRow | None:
        """An event of this kind registered already for the same moment and people."""
        for event in await self.store.events(team_id):
            when = event.at if event.at.tzinfo is not None else event.at.replace(tzinfo=UTC)
            people = tuple(sorted(event.participants.split()))
            if event.kind == kind and when == at and people == tuple(sorted(participants)):
                return event
        return None

    async def find_event(self, team_id: str, code: str) -> EventRow | None:
        """The team's event whose id starts with `code` (and no other's does)."""
        code = code.lower().strip()
        if len(code) < CODE_LENGTH:
            return None
        found = [e for e in await self.store.events(team_id) if e.id.startswith(code)]
        return found[0] if len(found) == 1 else None

    async def move(self, ctx: Context, args: tuple[str, ...]) -> None:
        """`/samen verzet <code> <datum> <tijd>`: the event and its planned flow starts move."""
        language = ctx.language
        if len(args) < 2:
            example = example_moment(self.clock.now(), ctx.team.timezone, language)
            await self.outgoing.reply(ctx, say("move_usage", language, example=example))
            return
        event = await self.find_event(ctx.team.id, args[0])
        if event is None:
            await self.outgoing.reply(ctx, say("event_unknown", language, code=args[0]))
            return
        now = self.clock.now()
        read = read_moment(args[1:], now, ctx.team.timezone)
        if read.at is None:
            if read.problem == WhenProblem.unreadable:
                example = example_moment(now, ctx.team.timezone, language)
                await self.outgoing.reply(ctx, say("move_usage", language, example=example))
            else:
                await self.outgoing.reply(ctx, self.when_problem(read, ctx, "", now))
            return
        at = read.at
        if at <= now:
            await self.outgoing.reply(ctx, say("in_past", language))
            return
        moved = 0
        for row in await self.store.event_start_timers(event.id):
            name = parse_timer_name(row.timer)
            flow = self.flows.get(name.flow) if isinstance(name, EventStartTimer) else None
            trigger = next(
                (
                    t
                    for t in (flow.triggers if flow is not None else ())
                    if isinstance(t, EventTrigger) and t.event == event.kind
                ),
                None,
            )
            if trigger is None:
                continue
            due = max(trigger_moment(trigger, at, ctx.team.timezone), now)
            if await self.store.reschedule_timer(row.id, due, "event moved"):
                moved += 1
        await self.store.move_event(event.id, at)
        log.info("event %s moved; %d starts moved", event.id, moved)
        await self.outgoing.rearm()
        when = local_moment(at, ctx.team.timezone, language)
        text = say("event_moved", language, what=_what(event.kind, language), when=when, n=moved)
        await self.outgoing.reply(ctx, text)

    async def cancel(self, ctx: Context, args: tuple[str, ...]) -> None:
        """`/samen afzeggen <code>`: the event goes, and so do the flows it would still start."""
        language = ctx.language
        if len(args) != 1:
            await self.outgoing.reply(ctx, say("cancel_usage", language))
            return
        event = await self.find_event(ctx.team.id, args[0])
        if event is None:
            await self.outgoing.reply(ctx, say("event_unknown", language, code=args[0]))
            return
        cancelled = await self.store.cancel_event(event.id, self.clock.now())
        log.info("event %s cancelled; %d starts cancelled", event.id, cancelled)
        await self.outgoing.rearm()
        text = say(
            "event_cancelled", language, what=_what(event.kind, language), n=max(cancelled, 0)
        )
        await self.outgoing.reply(ctx, text)

    async def on_start_timer(self, row: InboxRow, timer: EventStartTimer) -> None:
        """A planned event's flow is due to start."""
        event = await self.store.get_event(timer.event)
        flow = self.flows.get(timer.flow)
        team = await self.store.get_team(event.team_id) if event is not None else None
        if event is None or flow is None or team is None:
            await self.store.inbox_done(row.id, self.clock.now(), error="start target gone")
            return
        await self.runs.start_flow(
            team,
            flow,
            by=timer.by or None,
            event=RegisteredEvent(event.kind, event.at),
            participants=tuple(event.participants.split()) or None,
            inbox_id=row.id,
        )


def _what(kind: str, language: str) -> str:
    return say(f"event.{kind}", language) if kind in NAMED_EVENTS else kind
