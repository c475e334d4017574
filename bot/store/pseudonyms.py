"""Keyed pseudonyms of people where Samen does not need their platform id to deliver.

`answers.member` holds `AuditKey.pseudonym(user)` ("p-" + 16 hex; HMAC-SHA256 with the
audit key, which is kept apart from the data like the data key): the same person gets
the same pseudonym, so their answers are found (export, erasure), but a copy of the
database does not tell whose answer is whose, nor lets one test a guess, without the
key. Samen never delivers from an answer row: messages go out from `members.user` and
the run state, which keep the platform ids delivery needs.

The store turns ids into pseudonyms where it writes (`RunRepository._apply_steps`), so the
runtime and the engine keep speaking of platform ids. `pseudonymise_answers` is the data
migration of `0010_pseudonyms`: every member id in `answers` that is not pseudonymous
yet (neither "p-" + 16 hex digits nor an erased person's "forgotten-...") becomes its
pseudonym, in batches of short transactions; `Store.open` runs it at every start until
none is left (a start interrupted half-way is finished by the next). The same revision
seals the group titles (`teams.name`): `seal_team_names`, run once by the start that
applies it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Text, and_, select, type_coerce
from sqlalchemy.orm import load_only

from bot.store.database import Database
from bot.store.sealed import PSEUDONYM_PREFIX, AuditKey, is_sealed_text
from bot.store.tables import AnswerRow, TeamRow

FORGOTTEN_PREFIX = "forgotten-"  # an erased person's placeholder (bot.store.privacy)
BATCH = 200
# A pseudonym's shape in SQL LIKE: the prefix and 16 characters (hex digits).
_PSEUDONYM_LIKE = PSEUDONYM_PREFIX + "_" * 16


def pseudonyms_of(users: Iterable[str], audit: AuditKey) -> dict[str, str]:
    """Pseudonym -> platform id, to show stored answers by the people one knows (a
    team's members)."""
    return {audit.pseudonym(user): user for user in users}


async def pseudonymise_answers(db: Database) -> int:
    """Replace every platform id left in `answers.member` by its pseudonym; how many rows
    changed. Rows are changed through the ORM (so that a sealed value bound to its row
    follows the row's new identity). Should a row for the pseudonym exist already (the
    same answer written since), the row with the plain id goes: the newer one stands."""
    plain = and_(
        AnswerRow.member.not_like(_PSEUDONYM_LIKE),
        AnswerRow.member.not_like(f"{FORGOTTEN_PREFIX}%"),
    )
    async with db.reading() as s:  # most starts: nothing to do, and no write lock taken
        if await s.scalar(select(AnswerRow.id).where(plain).limit(1)) is None:
            return 0
    done = 0
    while True:
        async with db.writing() as s:
            query = select(AnswerRow).where(plain).order_by(AnswerRow.id).limit(BATCH)
            rows = list(await s.scalars(query))
            if not rows:
                return done
            keys = select(AnswerRow.run_id, AnswerRow.step, AnswerRow.question, AnswerRow.member)
            taken = {
                tuple(key)
                for key in await s.execute(
                    keys.where(
                        AnswerRow.run_id.in_({row.run_id for row in rows}),
                        AnswerRow.member.like(_PSEUDONYM_LIKE),
                    )
                )
            }
            for row in rows:
                member = db.audit.pseudonym(row.member)
                if (row.run_id, row.step, row.question, member) in taken:
                    await s.delete(row)
                else:
                    row.member = member
            done += len(rows)


async def seal_team_names(db: Database) -> int:
    """Seal the group titles stored in plain text before `teams.name` was sealed; how
    many there were. Through the ORM, without reading the plain value as a sealed one."""
    async with db.writing() as s:
        raw = type_coerce(TeamRow.name, Text())
        plain = {
            team_id: str(name)
            for team_id, name in await s.execute(select(TeamRow.id, raw))
            if name is not None and not is_sealed_text(name)
        }
        if plain:
            query = select(TeamRow).where(TeamRow.id.in_(plain)).options(load_only(TeamRow.id))
            for team in await s.scalars(query):
                team.name = plain[team.id]
        return len(plain)
