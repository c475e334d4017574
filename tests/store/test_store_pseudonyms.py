"""The data migration of 0009_pseudonyms on SQLite and PostgreSQL: a database written by
a Samen of revision 0008 (answers by platform id, group titles in plain text) is opened
by this one, which stores every answer by its person's keyed pseudonym and seals the
titles; values already pseudonymous, and erased people's placeholders, stay as they are.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from bot.store import privacy
from bot.store.db import open_engine
from bot.store.migrate import alembic_config, current_revision, head_revision
from bot.store.repo import StepWrite, Store
from bot.store.sealed import ENV_AUDIT_KEY, TEXT_PREFIX, AuditKey, Keyring
from bot.store.tables import AnswerRow, MemberRow, RunRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TITLE = "Groep Zeemeermin"
PSEUDONYM = re.compile(r"^p-[0-9a-f]{16}$")
FORGOTTEN = "forgotten-0123456789abcdef"


async def _written_by_samen_0008(backend: Any, ring: Keyring, audit: AuditKey) -> str:
    """A database at revision 0008 as that Samen left it; the team's id."""
    engine = await open_engine(backend.url, schema=backend.schema)

    def up(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0008_privacy_sealed_only")

    async with engine.begin() as conn:
        await conn.run_sync(up)
    store = Store(engine, ring, audit)
    try:
        team = await store.team_for_channel("console", "c-old", now=NOW)
        for user in ("U-raw", "U-dup", "U-gone"):
            await store.upsert_member(team.id, user, user.title(), now=NOW)
        await store.commit_step(
            StepWrite(
                run_id="run-old",
                expected_version=None,
                run={"team_id": team.id, "flow_id": "f", "status": "active", "state": {}},
                answers=[
                    {"step": "s", "question": "q", "member": "U-raw", "value": "oud antwoord"},
                    {"step": "s", "question": "q", "member": "U-dup", "value": "nieuw"},
                    {"step": "s", "question": "q", "member": "U-gone", "value": "weg"},
                ],
                now=NOW,
            )
        )
        async with store.sessionmaker() as s, s.begin():
            # What that Samen wrote: answers by platform id (values sealed as it sealed
            # them, for their column), the group title in plain text.
            for user, member, value in (
                ("U-raw", "U-raw", "oud antwoord"),
                ("U-gone", FORGOTTEN, "weg"),
            ):
                await s.execute(
                    text("UPDATE answers SET member = :m, value = :v WHERE member = :p"),
                    {"m": member, "v": _sealed(ring, value), "p": audit.pseudonym(user)},
                )
            # The same answer twice, by id (an old row) and by pseudonym (written since).
            await s.execute(
                text(
                    "INSERT INTO answers (run_id, step, question, member, kind, value, "
                    "answered_at) SELECT run_id, step, question, 'U-dup', kind, :v, "
                    "answered_at FROM answers WHERE member = :p"
                ),
                {"v": _sealed(ring, "oud"), "p": audit.pseudonym("U-dup")},
            )
            await s.execute(text("UPDATE teams SET name = :t"), {"t": TITLE})
        return team.id
    finally:
        await store.close()


def _sealed(ring: Keyring, value: str) -> str:
    """An answer's value as revision 0008 sealed it: bound to its column alone."""
    return TEXT_PREFIX + ring.seal(value.encode("utf-8"), "answers.value")


async def _raw(backend: Any, sql: str) -> list[Any]:
    engine = await open_engine(backend.url, schema=backend.schema)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


async def test_answers_by_platform_id_become_pseudonyms_and_titles_are_sealed(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = Keyring.generate()
    key = os.urandom(32)
    audit = AuditKey(key)
    monkeypatch.setenv(ENV_AUDIT_KEY, base64.b64encode(key).decode())
    team_id = await _written_by_samen_0008(backend, ring, audit)
    before = sorted(m for (m,) in await _raw(backend, "SELECT member FROM answers"))
    assert before == sorted(["U-raw", "U-dup", audit.pseudonym("U-dup"), FORGOTTEN])
    assert await _raw(backend, "SELECT name FROM teams") == [(TITLE,)]

    store = await Store.open(backend.url, schema=backend.schema, keyring=ring)
    try:
        assert await current_revision(store.engine) == head_revision()
        after = sorted(m for (m,) in await _raw(backend, "SELECT member FROM answers"))
        assert after == sorted([audit.pseudonym("U-raw"), audit.pseudonym("U-dup"), FORGOTTEN])
        assert all(PSEUDONYM.match(m) or m == FORGOTTEN for m in after)
        # The values still open, by their person's pseudonym.
        async with store.sessionmaker() as s, s.begin():
            rows = await s.execute(select(AnswerRow.member, AnswerRow.value))
            values = {member: value for member, value in rows}
        assert values == {
            audit.pseudonym("U-raw"): "oud antwoord",
            audit.pseudonym("U-dup"): "nieuw",
            FORGOTTEN: "weg",
        }
        mine = await privacy.export_person(store, "U-raw", actor="admin:test", now=NOW)
        assert [a["value"] for a in mine["answers"]] == ["oud antwoord"]
        # The title sealed at rest, read back as it was; nothing else of the team lost
        # (SQLite retypes the column without copying the table its rows cascade from).
        [(raw_title,)] = await _raw(backend, "SELECT name FROM teams")
        assert str(raw_title).startswith("sealed:") and TITLE not in str(raw_title)
        team = await store.get_team(team_id)
        assert team is not None and team.name == TITLE
        async with store.sessionmaker() as s, s.begin():
            assert len(list(await s.scalars(select(MemberRow.id)))) == 3
            assert list(await s.scalars(select(RunRow.id))) == ["run-old"]
    finally:
        await store.close()

    # Opening again changes nothing.
    store = await Store.open(backend.url, schema=backend.schema, keyring=ring)
    try:
        again = sorted(m for (m,) in await _raw(backend, "SELECT member FROM answers"))
        assert again == after
        assert await _raw(backend, "SELECT name FROM teams") == [(raw_title,)]
    finally:
        await store.close()
