"""Who acted, and where: what every handler of an inbound event receives."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.tables import InboxRow, MemberRow, TeamRow


@dataclass(frozen=True, slots=True)
class Context:
    """The team an event belongs to, the person who acted (None for events of nobody, such
    as a group's new id) and the stored inbox row, whose id marks the event handled when
    the handler commits its reply.

    A command typed in a person's private chat is handled for one team, the one it is
    about (see `bot/runtime/private.py`); `teams` then holds all the person's teams on
    the platform, for the commands that look across them (`/samen open`)."""

    team: TeamRow
    member: MemberRow | None
    inbox: InboxRow
    platform: str
    teams: tuple[TeamRow, ...] = ()

    @property
    def private_chat(self) -> bool:
        """The person wrote in their private chat with Samen (not in a team channel)."""
        return bool(self.teams)

    @property
    def language(self) -> str:
        return self.team.language
