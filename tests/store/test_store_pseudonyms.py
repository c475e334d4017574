"""The data migration of 0010_pseudonyms on SQLite and PostgreSQL: a database written by
a Samen of revision 0008 or 0009 (answers by platform id, their values sealed for their
column, or bound to their row; group titles in plain text) is opened by this one, which
stores every answer by its person's keyed pseudonym and seals the titles; values
already pseudonymous, and erased people's placeholders, stay as they are.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Text, column, insert, select, table, text
from sqlalchemy.engine import Connection

from bot.store import privacy
from bot.store.db import open_engine
from bot.store.migrate import alembic_config, current_revision, head_revision
from bot.store.repo import StepWrite, Store
from bot.store.sealed import ENV_AUDIT_KEY, TEXT_PREFIX, AuditKey, Keyring, bind_row
from bot.store.tables import AnswerRow, MemberRow, RunRow, UTCDateTime

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TITLE = "Groep Zeemeermin"
PSEUDONYM = re.compile(r"^p-[0-9a-f]{16}$")
FORGOTTEN = "forgotten-0123456789abcdef"


OLD = "0008_privacy_sealed_only"  # answers' values sealed for their column alone (v1)
BOUND = "0009_bound_ciphertext"  # values bound to their row, the platform id included


async def _written_by_samen_of(revision: str, backend: Any, ring: Keyring, audit: AuditKey) -> str:
    """A database at `revision` as that Samen left it; the team's id."""
    engine = await open_engine(backend.url, schema=backend.schema)

    def up(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)

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
                answers=[{"step": "s", "question": "q", "member": "U-dup", "value": "nieuw"}],
                now=NOW,
            )
        )
        async with store.sessionmaker() as s, s.begin():
            # What that Samen wrote: answers by platform id (sealed as it sealed them), and
            # the same answer twice, by id (an old row) and by pseudonym (written since).
            for member, value in (("U-raw", "oud antwoord"), (FORGOTTEN, "weg"), ("U-dup", "oud")):
                await s.execute(_old_answer(revision, ring, member, value))
            await s.execute(text("UPDATE teams SET name = :t"), {"t": TITLE})  # plain
        return team.id
    finally:
        await store.close()


def _old_answer(revision: str, ring: Keyring, member: str, value: str) -> Any:
    """An INSERT of an answer row by platform id, as the Samen of `revision` wrote it."""
    row = {"run_id": "run-old", "step": "s", "question": "q", "member": member}
    row |= {"kind": "value", "answered_at": NOW}
    if revision == BOUND:
        return insert(AnswerRow).values(bind_row(AnswerRow, {**row, "value": value}))
    # Sealed for the column alone (v1), written as it is.
    ids = (column(name) for name in ("run_id", "step", "question", "member", "kind"))
    answers = table("answers", *ids, column("value", Text()), column("answered_at", UTCDateTime()))
    sealed = TEXT_PREFIX + ring.seal(value.encode("utf-8"), "answers.value")
    return insert(answers).values({**row, "value": sealed})


async def _raw(backend: Any, sql: str) -> list[Any]:
    engine = await open_engine(backend.url, schema=backend.schema)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("revision", [OLD, BOUND])
async def test_answers_by_platform_id_become_pseudonyms_and_titles_are_sealed(
    revision: str, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = Keyring.generate()
    key = os.urandom(32)
    audit = AuditKey(key)
    monkeypatch.setenv(ENV_AUDIT_KEY, base64.b64encode(key).decode())
    team_id = await _written_by_samen_of(revision, backend, ring, audit)
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
