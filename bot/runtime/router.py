"""What each feature handles: filled by the composition root, read by the runtime.

The runtime (inbox, runs) knows no feature. A feature registers its `/samen` words, its
`/bel` handler, the kinds of timer it plans, the inbound kinds it answers (a mention, the
bot being added), what it does when a team is first seen in this process, what a meeting's
agenda lists, and checks an answer must pass before it reaches a run. `bot/wiring.py`
fills one `Router`; registering a word or a kind twice is a mistake made at start-up and
raises at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from bot.core.timer_names import TimerName
from bot.runtime.context import Context
from bot.store.tables import InboxRow, TeamRow

# `/samen <action> <args...>`: the action as `bot.core.commands.parse_samen` names it.
CommandHandler = Callable[[Context, tuple[str, ...]], Awaitable[None]]
# `/bel <args>`: the words after /bel, as typed.
BellHandler = Callable[[Context, str], Awaitable[None]]
# A timer of no run fell due: its inbox row and its name, read (bot/core/timer_names.py).
TimerHandler = Callable[[InboxRow, Any], Awaitable[None]]
# An inbound event of a kind other than a command or an answer (a mention, bot_added).
EventHandler = Callable[[Context], Awaitable[None]]
# A team seen for the first time by this process (e.g. plan its scheduled flows).
TeamHook = Callable[[TeamRow], Awaitable[object]]
# The lines of a meeting agenda (e.g. the evaluations due) for a team on a day.
AgendaSource = Callable[[TeamRow, date], Awaitable[tuple[str, ...]]]
# Which of a person's teams a command typed in their private chat is about, from its
# words (e.g. the team that owns a trajectory code); None: it cannot tell.
TeamFinder = Callable[[tuple[TeamRow, ...], tuple[str, ...]], Awaitable[TeamRow | None]]
# Looks at an answer before it reaches its run: True when it was held back (the check
# has replied to the person and marked the event handled).
AnswerCheck = Callable[[Context, tuple[str, ...], str], Awaitable[bool]]


class Router:
    """The registry the runtime dispatches through."""

    def __init__(self) -> None:
        self.commands: dict[str, CommandHandler] = {}
        self.bell: BellHandler | None = None
        self.timers: dict[str, TimerHandler] = {}
        self.events: dict[str, EventHandler] = {}
        # Inbound kinds the platform sends about the team itself, naming no person.
        self.team_events: set[str] = set()
        self.team_seen: list[TeamHook] = []
        self.agendas: dict[str, AgendaSource] = {}
        self.answer_checks: list[AnswerCheck] = []
        # Typed in a private chat: the `/samen` actions that look across all the person's
        # teams, and those whose words name their team (see bot/runtime/private.py).
        self.across_teams: set[str] = set()
        self.team_finders: dict[str, TeamFinder] = {}

    def command(self, action: str, handler: CommandHandler) -> None:
        _once(self.commands, action, handler, "/samen action")

    def across(self, action: str) -> None:
        """In a private chat, `action` is about all the person's teams (`Context.teams`)."""
        self.across_teams.add(action)

    def find_team(self, action: str, finder: TeamFinder) -> None:
        """In a private chat, `finder` tells from the words which team `action` is about."""
        _once(self.team_finders, action, finder, "team finder")

    def on_bell(self, handler: BellHandler) -> None:
        if self.bell is not None:
            raise ValueError("the /bel handler is registered twice")
        self.bell = handler

    def timer(self, kind: str, handler: TimerHandler) -> None:
        """Timers of no run whose name is of `kind` (`EventStartTimer.KIND`, ...) go to
        `handler`, with the name read into its `bot.core.timer_names` value."""
        _once(self.timers, kind, handler, "timer kind")

    def event(self, kind: str, handler: EventHandler) -> None:
        """A person's inbound event of `kind` (handled once they are a member)."""
        _once(self.events, kind, handler, "inbound kind")

    def team_event(self, kind: str, handler: EventHandler) -> None:
        """An inbound event of `kind` about the team itself, naming no person (e.g. the
        room's administrators); `Context.member` is None."""
        _once(self.events, kind, handler, "inbound kind")
        self.team_events.add(kind)

    def on_team_seen(self, hook: TeamHook) -> None:
        self.team_seen.append(hook)

    def agenda(self, name: str, source: AgendaSource) -> None:
        _once(self.agendas, name, source, "agenda")

    def check_answers(self, check: AnswerCheck) -> None:
        self.answer_checks.append(check)

    def timer_handler(self, name: TimerName) -> TimerHandler | None:
        return self.timers.get(name.KIND)


_T = TypeVar("_T")


def _once(table: dict[str, _T], key: str, value: _T, what: str) -> None:
    if key in table:
        raise ValueError(f"the {what} {key!r} is registered twice")
    table[key] = value
