"""The teams and members repository: channels' teams, their settings and their people.

A team is created on first sight of its channel; every inbound event names its person,
so `upsert_member` writes only when something changed (on SQLite one writer at a time
serves every event). Settings are checked here (`validate_team_settings`) with messages
a chair can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.database import Repository, new_id, rowcount
from bot.store.sealed import bind_row
from bot.store.tables import MemberRow, OutboxRow, TeamRow

LANGUAGES = ("nl", "en", "nl-BE")
ADDRESSES = ("je", "u")
TEAM_SETTINGS = ("name", "language", "address", "timezone", "work_days", "work_start", "work_end")

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class NotFound(LookupError):
    """A team or member the caller named does not exist."""


class TeamRepository(Repository):
    """Teams and their members."""

    async def team_for_channel(
        self, platform: str, channel: str, *, name: str = "", now: datetime
    ) -> TeamRow:
        """The team of a platform channel, created with default settings if new.

        Concurrent callers for the same channel all get the same row: the insert skips on
        the unique (platform, channel) and everyone reads what was stored."""
        async with self.db.reading() as s:
            team = await s.scalar(_team_by_channel(platform, channel))
        if team is not None and (not name or team.name == name):
            return team
        async with self.db.writing() as s:
            if team is None:
                await s.execute(
                    self.db.insert(TeamRow)
                    .values(
                        bind_row(
                            TeamRow,
                            {
                                "id": new_id(),
                                "platform": platform,
                                "channel": channel,
                                "name": name,
                                "created_at": now,
                            },
                        )
                    )
                    .on_conflict_do_nothing(index_elements=["platform", "channel"])
                )
            team = (
                await s.scalars(
                    _team_by_channel(platform, channel).execution_options(populate_existing=True)
                )
            ).one()
            if name and team.name != name:  # a renamed channel
                team.name = name
            return team

    async def teams(self, *, by_name: bool = False) -> list[TeamRow]:
        """Every team, oldest first (`by_name`: by name). Names are sealed, so they are
        sorted here, not in SQL."""
        async with self.db.reading() as s:
            teams = list(await s.scalars(select(TeamRow).order_by(TeamRow.created_at, TeamRow.id)))
        if by_name:
            teams.sort(key=lambda t: (t.name.casefold(), t.name, t.id))
        return teams

    async def get_team(self, team_id: str) -> TeamRow | None:
        return (await self.get_teams([team_id])).get(team_id)

    async def get_teams(self, team_ids: Iterable[str]) -> dict[str, TeamRow]:
        async with self.db.reading() as s:
            rows = await s.scalars(select(TeamRow).where(TeamRow.id.in_(list(team_ids))))
            return {row.id: row for row in rows}

    async def update_team(self, team_id: str, **settings: Any) -> TeamRow:
        """Change a team's settings: name, language (nl, en, nl-BE), address (je, u),
        timezone (an IANA zone), work_days (ISO weekdays, "1,2,3,4,5" or [1, 2, ...]),
        work_start and work_end (HH:MM, end after start).

        Raises ValueError with a message a chair can act on; NotFound for an unknown team."""
        values = validate_team_settings(settings)
        async with self.db.writing() as s:
            team = await s.scalar(select(TeamRow).where(TeamRow.id == team_id).with_for_update())
            if team is None:
                raise NotFound(f"no team with id {team_id}")
            start = values.get("work_start", team.work_start)
            end = values.get("work_end", team.work_end)
            if end <= start:
                raise ValueError(f"work_end ({end}) must be later than work_start ({start})")
            for key, value in values.items():
                setattr(team, key, value)
            return team

    async def upsert_member(
        self,
        team_id: str,
        user: str,
        name: str,
        *,
        now: datetime,
        roles: Iterable[str] | None = None,
        known: MemberRow | None = None,
    ) -> MemberRow:
        """Add a person to a team, or update them: a new name (when given) and roles (when
        given) replace the old; someone who had left is back, joined now. A person added
        without a name is named by their user id until a name comes.

        `roles` are the EXTRA roles (chair, coordinator, ...): everyone is a member
        implicitly, so "member" is never stored. `known`: their row as the caller just
        read it (`team_and_member`), so that it is not read again."""
        extra = None if roles is None else normalise_roles(roles)
        # Every inbound event names its person: when nothing changes, a read will do and
        # no write lock is taken (on SQLite one writer at a time serves every event).
        if known is None:
            known = await self.get_member(team_id, user)
        if (
            known is not None
            and known.left_at is None
            and (not name or known.name == name)
            and (extra is None or list(known.roles) == extra)
        ):
            return known
        async with self.db.writing() as s:
            inserted = await s.scalar(
                self.db.insert(MemberRow)
                .values(
                    bind_row(
                        MemberRow,
                        {
                            "id": new_id(),
                            "team_id": team_id,
                            "user": user,
                            "name": name or user,
                            "roles": extra or [],
                            "joined_at": now,
                        },
                    )
                )
                .on_conflict_do_nothing(index_elements=["team_id", "user"])
                .returning(MemberRow.id)
            )
            member = await self._member_for_update(s, team_id, user)
            if inserted is None:
                if name and member.name != name:
                    member.name = name
                if extra is not None:
                    member.roles = extra
                if member.left_at is not None:
                    member.left_at = None
                    member.joined_at = now
            return member

    async def team_and_member(
        self, platform: str, channel: str, user: str
    ) -> tuple[TeamRow | None, MemberRow | None]:
        """The team of a channel and `user`'s row in it (also when they left), in one read:
        the two lookups of every inbound event. None for what does not exist yet."""
        key = (platform, channel, user)
        return (await self.teams_and_members([key]))[key]

    async def teams_and_members(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[TeamRow | None, MemberRow | None]]:
        """`team_and_member` for many (platform, channel, user) at once, in one statement:
        the inbox drain reads those of a whole batch of events together. The teams on the
        channels, each with those of its members whose user is wanted (or none)."""
        wanted = set(keys)
        if not wanted:
            return {}
        users = sorted({u for _, _, u in wanted})
        query = (
            select(TeamRow, MemberRow)
            .outerjoin(MemberRow, (MemberRow.team_id == TeamRow.id) & MemberRow.user.in_(users))
            .where(
                tuple_(TeamRow.platform, TeamRow.channel).in_(
                    sorted({(p, c) for p, c, _ in wanted})
                )
            )
        )
        async with self.db.reading() as s:
            rows = (await s.execute(query)).all()
        teams: dict[tuple[str, str], TeamRow] = {}
        members: dict[tuple[str, str], MemberRow] = {}
        for team, member in rows:
            teams[(team.platform, team.channel)] = team
            if member is not None:
                members[(team.id, member.user)] = member
        found: dict[tuple[str, str, str], tuple[TeamRow | None, MemberRow | None]] = {}
        for platform, channel, user in wanted:
            known = teams.get((platform, channel))
            person = members.get((known.id, user)) if known is not None else None
            found[(platform, channel, user)] = (known, person)
        return found

    async def get_member(self, team_id: str, user: str) -> MemberRow | None:
        async with self.db.reading() as s:
            return await s.scalar(_member(team_id, user))

    async def set_roles(self, team_id: str, user: str, roles: Iterable[str]) -> MemberRow:
        """Replace a member's extra roles (see `upsert_member`)."""
        extra = normalise_roles(roles)
        async with self.db.writing() as s:
            member = await self._member_for_update(s, team_id, user)
            member.roles = extra
            return member

    async def set_absent(self, team_id: str, user: str, until: date | None) -> MemberRow:
        """Mark a member away until (and including) `until`; None: back."""
        async with self.db.writing() as s:
            member = await self._member_for_update(s, team_id, user)
            member.absent_until = until
            return member

    async def members(self, team_id: str, *, include_left: bool = False) -> list[MemberRow]:
        """The team's members in the order they joined."""
        query = select(MemberRow).where(MemberRow.team_id == team_id)
        if not include_left:
            query = query.where(MemberRow.left_at.is_(None))
        async with self.db.reading() as s:
            return list(await s.scalars(query.order_by(MemberRow.joined_at, MemberRow.user)))

    async def member_left(self, team_id: str, user: str, now: datetime) -> bool:
        """Record that someone left the team; False if they were not a (current) member."""
        async with self.db.writing() as s:
            result = await s.execute(
                update(MemberRow)
                .where(
                    MemberRow.team_id == team_id,
                    MemberRow.user == user,
                    MemberRow.left_at.is_(None),
                )
                .values(left_at=now)
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1

    async def teams_of(self, platform: str, user: str) -> list[TeamRow]:
        """The teams `user` is a member of on `platform` (not those they left), oldest first."""
        query = (
            select(TeamRow)
            .join(MemberRow, MemberRow.team_id == TeamRow.id)
            .where(
                TeamRow.platform == platform,
                MemberRow.user == user,
                MemberRow.left_at.is_(None),
            )
            .order_by(TeamRow.created_at, TeamRow.id)
        )
        async with self.db.reading() as s:
            return list(await s.scalars(query))

    async def set_timezones(self, platform: str, zones: Mapping[str, str]) -> set[str]:
        """Each person's own zone (`zones`: user id -> IANA name, checked by the caller) on
        their member rows in every team on `platform` they belong to, in one transaction;
        returns the users in such a team (the others are not stored: the caller may try
        again later). A row that already holds the zone is not written."""
        if not zones:
            return set()
        # EXISTS, not `team_id IN (teams on the platform)`: the planner then finds the
        # person's rows by ix_members_user instead of probing every team on the platform.
        on_platform = (
            select(TeamRow.id)
            .where(TeamRow.id == MemberRow.team_id, TeamRow.platform == platform)
            .exists()
        )
        async with self.db.writing() as s:
            found = set(
                await s.scalars(
                    select(MemberRow.user)
                    .where(
                        MemberRow.user.in_(list(zones)), on_platform, MemberRow.left_at.is_(None)
                    )
                    .distinct()
                )
            )
            by_zone: dict[str, list[str]] = {}
            for user in sorted(found):
                by_zone.setdefault(zones[user], []).append(user)
            for zone, users in by_zone.items():  # one UPDATE per zone: people share a few
                await s.execute(
                    update(MemberRow)
                    .where(
                        MemberRow.user.in_(users),
                        on_platform,
                        MemberRow.left_at.is_(None),
                        MemberRow.timezone.is_(None) | (MemberRow.timezone != zone),
                    )
                    .values(timezone=zone)
                    .execution_options(synchronize_session=False)
                )
        return found

    async def move_channel(self, platform: str, old: str, new: str) -> bool:
        """A group got a new id (Telegram: upgraded to a supergroup): the team follows,
        and so do messages still waiting for it. False when no team had `old`."""
        async with self.db.writing() as s:
            result = await s.execute(
                update(TeamRow)
                .where(TeamRow.platform == platform, TeamRow.channel == old)
                .values(channel=new)
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                return False
            await s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.platform == platform,
                    OutboxRow.destination == old,
                    OutboxRow.status.in_(("pending", "waiting")),
                )
                .values(destination=new)
                .execution_options(synchronize_session=False)
            )
            return True

    async def _member_for_update(self, s: AsyncSession, team_id: str, user: str) -> MemberRow:
        member = await s.scalar(
            _member(team_id, user).with_for_update().execution_options(populate_existing=True)
        )
        if member is None:
            raise NotFound(f"no member {user} in team {team_id}")
        return member


def validate_team_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Check team settings and return them normalised; ValueError names what is wrong."""
    unknown = set(settings) - set(TEAM_SETTINGS)
    if unknown:
        raise ValueError(
            f"unknown team setting(s): {', '.join(sorted(unknown))}; "
            f"known are {', '.join(TEAM_SETTINGS)}"
        )
    values: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "name":
            values[key] = str(value).strip()[:200]
        elif key == "language":
            if value not in LANGUAGES:
                raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {value!r}")
            values[key] = value
        elif key == "address":
            if value not in ADDRESSES:
                raise ValueError(f"address must be 'je' (informal) or 'u' (formal), not {value!r}")
            values[key] = value
        elif key == "timezone":
            values[key] = _valid_zone(value)
        elif key == "work_days":
            values[key] = _valid_days(value)
        else:  # work_start, work_end
            if not isinstance(value, str) or not _TIME.match(value):
                raise ValueError(f"{key} must be a time as HH:MM (e.g. 08:30), not {value!r}")
            values[key] = value
    return values


def normalise_roles(roles: Iterable[str]) -> list[str]:
    """Extra roles, sorted and without duplicates; "member" is implicit and dropped."""
    result = set()
    for role in roles:
        name = str(role).strip().lower()
        if not _ROLE.match(name):
            raise ValueError(f"a role is a short lowercase word (e.g. chair), not {role!r}")
        if name != "member":
            result.add(name)
    return sorted(result)


def _valid_zone(value: Any) -> str:
    if isinstance(value, str) and value and value == value.strip():
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return value
    raise ValueError(
        f"timezone must be an IANA time zone such as Europe/Amsterdam or "
        f"Europe/Brussels, not {value!r}"
    )


def _valid_days(value: Any) -> str:
    problem = (
        f"work_days must be ISO weekdays 1 (Monday) to 7 (Sunday), e.g. '1,2,3,4,5', not {value!r}"
    )
    parts = value.split(",") if isinstance(value, str) else value
    try:
        days = sorted({int(str(part).strip()) for part in parts})
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if not days or days[0] < 1 or days[-1] > 7:
        raise ValueError(problem)
    return ",".join(str(day) for day in days)


def _team_by_channel(platform: str, channel: str) -> Select[TeamRow]:
    return select(TeamRow).where(TeamRow.platform == platform, TeamRow.channel == channel)


def _member(team_id: str, user: str) -> Select[MemberRow]:
    return select(MemberRow).where(MemberRow.team_id == team_id, MemberRow.user == user)
