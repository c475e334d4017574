"""A person's private chat with Samen: which team a command typed there is about.

A private chat is no team: nothing typed there creates a team or a member. A `/samen`
command typed there is handled for one of the teams the person belongs to on that
platform, and its reply stays in the private chat:

- `... in <team>` at the end names the team (its name, or its channel id);
- the actions the features mark as looking across teams (`Router.across`: `/samen open`,
  `/samen evaluaties`, help) get all the person's teams (`Context.teams`);
- a person in one team: that team;
- otherwise a feature may tell from the words (`Router.find_team`: the team that owns a
  trajectory code);
- else Samen asks which team, with a button per team that types the command again with
  `in <team>` after it (or the person types that).

A person in no team on the platform yet is told what Samen is and where it starts.

Nothing here talks to a platform; logs carry ids only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.commands import UnknownSamenCommand, parse_samen
from bot.runtime.router import Router
from bot.store.repo import Store
from bot.store.tables import TeamRow

log = logging.getLogger("samen.private")

IN_WORDS = frozenset({"in", "bij", "voor", "for"})


def team_label(team: TeamRow) -> str:
    """How a team is named to its people: its channel's name, else the channel id."""
    return team.name or team.channel


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a private-chat command is about: `team` (None: Samen must ask which) among
    the person's `teams`, and the command's words without a trailing `in <team>`."""

    team: TeamRow | None
    teams: tuple[TeamRow, ...]
    args: str


def named_team(args: str, teams: tuple[TeamRow, ...]) -> tuple[TeamRow | None, str]:
    """`afwezig tot vrijdag in Team Noord` -> (the team "Team Noord", "afwezig tot vrijdag")
    when the person is in a team of that name; else (None, args) untouched."""
    words = args.split()
    for at in range(len(words) - 2, -1, -1):
        if words[at].lower() not in IN_WORDS:
            continue
        name = " ".join(words[at + 1 :]).casefold().lstrip("#")
        for team in teams:
            if name in (team.name.casefold(), team.channel.casefold()):
                return team, " ".join(words[:at])
    return None, args


async def resolve(
    store: Store, router: Router, platform: str, user: str, args: str
) -> Resolved | None:
    """The team a `/samen` command typed in `user`'s private chat is about; None when the
    person belongs to no team on `platform`."""
    teams = tuple(await store.teams_of(platform, user))
    if not teams:
        return None
    chosen, rest = named_team(args, teams)
    if chosen is not None:
        return Resolved(chosen, teams, rest)
    try:
        command = parse_samen(args)
    except UnknownSamenCommand:
        return Resolved(teams[0], teams, args)  # its reply says the word is unknown
    if len(teams) == 1 or command.action in router.across_teams:
        return Resolved(teams[0], teams, args)
    finder = router.team_finders.get(command.action)
    if finder is not None:
        found = await finder(teams, command.args)
        if found is not None:
            return Resolved(found, teams, args)
    return Resolved(None, teams, args)
