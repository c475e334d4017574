"""Teams set up from `config/teams.yaml`: channels, settings, members and their roles.

A team also comes into being the first time Samen is used in a channel; this file is for
an operator who wants a team ready (with its chair and coordinator) before anyone types.
It is applied at every start: what it names is set, what it leaves out is left alone, so
settings changed from chat for other teams or members are never lost.

    teams:
      - platform: console          # console | slack | telegram
        channel: team              # the platform's channel or group id
        name: Wijkteam Oost
        language: nl               # nl | en | nl-BE
        address: je                # je | u
        timezone: Europe/Amsterdam
        working_hours: ma-vr 08:30-17:30
        members:
          - {user: anna, name: Anna, roles: [chair, coordinator]}
          - {user: bram, name: Bram}
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.commands import parse_work_hours
from bot.core.loader import read_yaml
from bot.core.problems import Problem, suggestion
from bot.store.repo import Store


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberConfig(_Strict):
    user: str
    name: str = ""
    roles: tuple[str, ...] = ()


class TeamConfig(_Strict):
    platform: Literal["console", "slack", "telegram"]
    channel: str
    name: str = ""
    language: str | None = None
    address: str | None = None
    timezone: str | None = None
    working_hours: str | None = None
    members: tuple[MemberConfig, ...] = ()


class TeamsFile(_Strict):
    teams: tuple[TeamConfig, ...] = ()


class TeamsFileError(ValueError):
    """The file cannot be used; `problems` say where and what to do."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def read_teams(path: Path) -> TeamsFile:
    """Parse and check the teams file. Raises TeamsFileError with file:line:column."""
    data, source, problems = read_yaml(path.read_text(encoding="utf-8"), str(path))
    if problems:
        raise TeamsFileError(problems)
    try:
        parsed = TeamsFile.model_validate(data or {})
    except ValidationError as error:
        found = []
        for item in error.errors():
            loc = tuple(item["loc"])
            message = item["msg"]
            if item["type"] == "extra_forbidden":
                allowed = _fields_at(loc[:-1])
                message = f"'{loc[-1]}' is not a setting here{suggestion(loc[-1], allowed)}"
            found.append(source.error(loc, message, key=item["type"] == "extra_forbidden"))
        raise TeamsFileError(found) from None
    bad = []
    for i, team in enumerate(parsed.teams):
        if team.working_hours is not None:
            try:
                parse_work_hours(team.working_hours)
            except ValueError:
                bad.append(
                    source.error(
                        ("teams", i, "working_hours"),
                        "write working hours like 'ma-vr 08:30-17:30'",
                    )
                )
    if bad:
        raise TeamsFileError(bad)
    return parsed


def _fields_at(loc: tuple[object, ...]) -> list[str]:
    if not loc:
        return list(TeamsFile.model_fields)
    if len(loc) == 2:
        return list(TeamConfig.model_fields)
    return list(MemberConfig.model_fields)


async def apply_teams(store: Store, teams: TeamsFile, now: datetime) -> int:
    """Create or update every team the file names; return how many. Raises ValueError
    (from the store's own checks) for a setting it cannot take, e.g. an unknown zone."""
    for team in teams.teams:
        row = await store.team_for_channel(team.platform, team.channel, name=team.name, now=now)
        settings: dict[str, str] = {}
        for key in ("language", "address", "timezone"):
            value = getattr(team, key)
            if value is not None:
                settings[key] = value
        if team.name:
            settings["name"] = team.name
        if team.working_hours is not None:
            days, start, end = parse_work_hours(team.working_hours)
            settings |= {"work_days": days, "work_start": start, "work_end": end}
        if settings:
            await store.update_team(row.id, **settings)
        for member in team.members:
            await store.upsert_member(row.id, member.user, member.name or member.user, now=now)
            if member.roles:
                await store.set_roles(row.id, member.user, member.roles)
    return len(teams.teams)
