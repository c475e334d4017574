"""Who acted, and where: what every handler of an inbound event receives."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.tables import InboxRow, MemberRow, TeamRow


@dataclass(frozen=True, slots=True)
class Context:
    """The team an event belongs to, the person who acted (None for events of nobody, such
    as a group's new id) and the stored inbox row, whose id marks the event handled when
    the handler commits its reply."""

    team: TeamRow
    member: MemberRow | None
    inbox: InboxRow
    platform: str

    @property
    def language(self) -> str:
        return self.team.language
