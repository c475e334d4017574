"""Registering events from chat: who takes part, a client pseudonym, moving, cancelling.

`/samen bezoek 2026-11-24 14:00 @anna @bram cliënt K-12` registers a joint visit with
Anna and Bram and the pseudonym K-12: the flows the visit starts (preparing before it,
looking back after it) run with exactly those two. The reply gives the event's short code,
with which `/samen verzet <code> <datum> <tijd>` moves it — its planned flow starts move
along — and `/samen afzeggen <code>` cancels it and the flows it would still start.

The service (`bot/service.py`) keeps the plumbing; this module reads the extra words and
carries out moving and cancelling. A pseudonym is a code, never a name (R-PRV-1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core import sensitive
from bot.core.model import EventTrigger
from bot.core.sensitive import PseudonymProblem
from bot.replies import say

if TYPE_CHECKING:
    from bot.service import Service, _Context
    from bot.store.tables import EventRow

log = logging.getLogger(__name__)

CLIENT_WORDS = frozenset({"cliënt", "client", "cliënte", "pseudoniem"})
CODE_LENGTH = 6


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


async def find_event(service: Service, team_id: str, code: str) -> EventRow | None:
    code = code.lower().strip()
    if len(code) < CODE_LENGTH:
        return None
    found = [e for e in await service.store.events(team_id) if e.id.startswith(code)]
    return found[0] if len(found) == 1 else None


async def move_event(service: Service, ctx: _Context, args: tuple[str, ...]) -> None:
    """`/samen verzet <code> <datum> <tijd>`: the event and its planned flow starts move."""
    from bot.service import _parse_when, _trigger_moment, _when

    language = ctx.team.language
    if len(args) < 3:
        await service._reply(ctx, say("move_usage", language))
        return
    event = await find_event(service, ctx.team.id, args[0])
    if event is None:
        await service._reply(ctx, say("event_unknown", language, code=args[0]))
        return
    at = _parse_when(args[1:3], ctx.team.timezone)
    now = service.clock.now()
    if at is None:
        await service._reply(ctx, say("move_usage", language))
        return
    if at <= now:
        await service._reply(ctx, say("in_past", language))
        return
    moved = 0
    for row in await service.store.event_start_timers(event.id):
        flow = service.flows.get(row.timer.split(":", 2)[1])
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
        due = max(_trigger_moment(trigger, at, ctx.team.timezone), now)
        if await service.store.reschedule_timer(row.id, due, "event moved"):
            moved += 1
    await service.store.move_event(event.id, at)
    log.info("event %s moved; %d starts moved", event.id, moved)
    if service.scheduler is not None:
        await service.scheduler.arm_horizon()
    what = _what(event.kind, language)
    await service._reply(
        ctx, say("event_moved", language, what=what, when=_when(at, ctx.team, language), n=moved)
    )


async def cancel_event(service: Service, ctx: _Context, args: tuple[str, ...]) -> None:
    """`/samen afzeggen <code>`: the event goes, and so do the flows it would still start."""
    language = ctx.team.language
    if len(args) != 1:
        await service._reply(ctx, say("cancel_usage", language))
        return
    event = await find_event(service, ctx.team.id, args[0])
    if event is None:
        await service._reply(ctx, say("event_unknown", language, code=args[0]))
        return
    cancelled = await service.store.cancel_event(event.id, service.clock.now())
    log.info("event %s cancelled; %d starts cancelled", event.id, cancelled)
    if service.scheduler is not None:
        await service.scheduler.arm_horizon()
    await service._reply(
        ctx, say("event_cancelled", language, what=_what(event.kind, language), n=max(cancelled, 0))
    )


def _what(kind: str, language: str) -> str:
    from bot.service import _EVENT_KEYS

    return say(f"event.{kind}", language) if f"event.{kind}" in _EVENT_KEYS else kind
