"""Sealed values bound to their rows (issue 23, R-PRV-2), on SQLite and PostgreSQL.

The associated data of every sealed value names its table, column and row identity: a
value copied to another row of its column, or to another column of its row, does not
open; a value written without its row is refused; values sealed before the binding
existed (v1) are sealed again, bound, when the store opens and by key rotation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Text, func, insert, or_, select, text, type_coerce, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import StatementError

from bot.store.evaluations import EvaluationStore, EvaluationWrite
from bot.store.rekey import count_under_other_keys, reseal
from bot.store.repo import StepWrite, Store
from bot.store.sealed import (
    KEY_FILE_NAME,
    Keyring,
    SealBroken,
    Unbound,
    bind_row,
    is_sealed_text,
    row_identity,
    sealed_type,
    sealed_version,
)
from bot.store.tables import (
    AnswerRow,
    Base,
    EvaluationRow,
    InboxRow,
    MemberRow,
    OutboxRow,
    RunRow,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Every sealed column, with its raw type (to read and write around the store).
SEALED: list[tuple[type[Base], str, Any]] = [
    (AnswerRow, "value", Text()),
    (RunRow, "state", JSON()),
    (InboxRow, "payload", JSON()),
    (OutboxRow, "message", JSON()),
    (EvaluationRow, "course", Text()),
    (EvaluationRow, "snooze_reason", Text()),
    (MemberRow, "name", Text()),
]


async def _two_of_each(store: Store) -> str:
    """Two rows in every table with a sealed column, each with a value of its own."""
    team = await store.team_for_channel("console", "c-bound", now=NOW)
    for user, name in (("u1", "Anna Zonnebloem"), ("u2", "Bert Verhaar")):
        await store.upsert_member(team.id, user, name, now=NOW)
    for key, word in (("e1", "een"), ("e2", "twee")):
        await store.inbox_put("console", key, {"text": word}, NOW)
    for run, word in (("run-a", "een"), ("run-b", "twee")):
        await store.commit_step(
            StepWrite(
                run_id=run,
                expected_version=None,
                run={
                    "team_id": team.id,
                    "flow_id": "f",
                    "status": "active",
                    "state": {"answers": {"q": word}},
                },
                answers=[
                    {"step": "s", "question": "q", "member": m, "value": f"{word} van {m}"}
                    for m in ("u1", "u2")
                ],
                outbox=[
                    {
                        "platform": "console",
                        "destination": "c-bound",
                        "kind": "summary",
                        "message": {"text": word},
                        "idempotency_key": f"o-{run}",
                    }
                ],
                now=NOW,
            )
        )
    trajectory = await store.add_trajectory(team.id, "T-1", "u1", date(2026, 3, 1), now=NOW)
    assert trajectory is not None
    await EvaluationStore(store).write(
        EvaluationWrite(
            now=NOW,
            add=[
                {
                    "trajectory_id": trajectory.id,
                    "team_id": team.id,
                    "kind": "continuation",
                    "due_on": date(2026, 5, day),
                    "course": f"koers {day}",
                    "snooze_reason": f"reden {day}",
                }
                for day in (1, 2)
            ],
        )
    )
    return team.id


async def _read(store: Store, model: type[Base], name: str) -> list[Any]:
    """A sealed column as the store reads it (opened), in id order."""
    key = model.id  # type: ignore[attr-defined]
    async with store.sessionmaker() as s, s.begin():
        return list(await s.scalars(select(getattr(model, name)).order_by(key)))


async def _ids(store: Store, model: type[Base]) -> list[Any]:
    key = model.id  # type: ignore[attr-defined]
    async with store.sessionmaker() as s, s.begin():
        return list(await s.scalars(select(key).order_by(key)))


@pytest.mark.parametrize(
    ("model", "name", "_raw"), SEALED, ids=[f"{m.__tablename__}.{n}" for m, n, _ in SEALED]
)
async def test_a_sealed_value_copied_to_another_row_of_its_column_does_not_open(
    store: Store, model: type[Base], name: str, _raw: Any
) -> None:
    await _two_of_each(store)
    opened = list(map(str, await _read(store, model, name)))
    assert len(set(opened)) == len(opened) >= 2  # all open, each different
    first, second, *_ = await _ids(store, model)
    table = model.__tablename__
    async with store.sessionmaker() as s, s.begin():  # around the store, in plain SQL
        await s.execute(
            text(
                f'UPDATE {table} SET "{name}" = (SELECT "{name}" FROM {table} WHERE id = :a) '
                "WHERE id = :b"
            ),
            {"a": first, "b": second},
        )
    with pytest.raises(SealBroken, match=rf"{table}\.{name}: .*moved from another row"):
        await _read(store, model, name)
    # Whole rows as the ORM loads them refuse it as well.
    async with store.sessionmaker() as s, s.begin():
        with pytest.raises(SealBroken):
            list(await s.scalars(select(model).where(model.id == second)))  # type: ignore[attr-defined]


async def test_a_sealed_value_copied_to_another_column_of_its_row_does_not_open(
    store: Store,
) -> None:
    await _two_of_each(store)
    async with store.sessionmaker() as s, s.begin():
        await s.execute(text("UPDATE evaluations SET snooze_reason = course"))
    with pytest.raises(SealBroken, match=r"evaluations\.snooze_reason"):
        await _read(store, EvaluationRow, "snooze_reason")
    assert sorted(await _read(store, EvaluationRow, "course")) == ["koers 1", "koers 2"]


async def test_bound_values_open_in_orm_loads_core_selects_and_returning(store: Store) -> None:
    await _two_of_each(store)
    expected = ["een van u1", "een van u2", "twee van u1", "twee van u2"]
    answers = AnswerRow.__table__
    async with store.sessionmaker() as s, s.begin():
        rows = await s.scalars(select(AnswerRow))
        assert sorted(r.value for r in rows) == expected
        core = await s.scalars(select(answers.c.value))
        assert sorted(core) == expected
        returned = await s.scalars(
            update(AnswerRow)
            .where(AnswerRow.member == store.pseudonym("u1"))  # stored by pseudonym
            .values(kind="value")
            .returning(AnswerRow.value)
            .execution_options(synchronize_session=False)
        )
        assert sorted(returned) == ["een van u1", "twee van u1"]
        row = {
            "platform": "console",
            "destination": "c-bound",
            "kind": "reply",
            "message": {"text": "nieuw"},
            "idempotency_key": "o-new",
            "created_at": NOW,
            "not_before": NOW,
        }
        inserted = await s.scalar(
            insert(OutboxRow).values(bind_row(OutboxRow, row)).returning(OutboxRow.message)
        )
        assert inserted == {"text": "nieuw"}
    async with store.engine.connect() as conn:  # a Core connection of the engine
        core = await conn.scalars(select(answers.c.value))
        assert sorted(core) == expected


async def test_a_value_written_without_its_row_is_refused(store: Store) -> None:
    await _two_of_each(store)
    async with store.sessionmaker() as s, s.begin():
        with pytest.raises(StatementError, match="written without its row") as raised:
            await s.execute(update(AnswerRow).values(value="kaal"))
    assert isinstance(raised.value.orig, Unbound)
    with pytest.raises(Unbound, match="needs the row's idempotency_key"):
        bind_row(OutboxRow, {"message": {"text": "zonder sleutel"}})


async def test_an_orm_update_of_a_rows_identity_seals_its_value_again(store: Store) -> None:
    await _two_of_each(store)
    async with store.sessionmaker() as s, s.begin():
        row = await s.scalar(
            select(AnswerRow).where(
                AnswerRow.run_id == "run-a", AnswerRow.member == store.pseudonym("u1")
            )
        )
        assert row is not None
        row.member = "u9"  # the identity changes: the flush seals the value for the new one
    async with store.sessionmaker() as s, s.begin():
        moved = await s.scalar(
            select(AnswerRow.value).where(AnswerRow.run_id == "run-a", AnswerRow.member == "u9")
        )
        assert moved == "een van u1"
        assert row.value == "een van u1"  # the object holds the plain value again
    # The same change around the ORM leaves the value bound to the old identity.
    async with store.sessionmaker() as s, s.begin():
        await s.execute(
            update(AnswerRow)
            .where(AnswerRow.run_id == "run-a", AnswerRow.member == store.pseudonym("u2"))
            .values(member="u8")
        )
    with pytest.raises(SealBroken, match=r"answers\.value"):
        await _read(store, AnswerRow, "value")


async def _seal_as_v1(store: Store, ring: Keyring) -> int:
    """Seal every value again as Samen did before issue 23: v1, bound to its column only."""
    done = 0
    async with store.sessionmaker() as s, s.begin():
        for model, name, raw_type in SEALED:
            column = getattr(model, name)
            sealed = sealed_type(column)
            assert sealed is not None
            identity = [getattr(model, part) for part in sealed.row]
            query = select(model.id, type_coerce(column, raw_type), *identity)  # type: ignore[attr-defined]
            for row_id, raw, *parts in (await s.execute(query)).all():
                row = row_identity(sealed.column, parts)
                if is_sealed_text(raw):
                    plain = ring.open(raw.removeprefix("sealed:"), sealed.column, row)
                    old: Any = "sealed:" + ring.seal(plain, sealed.column)
                else:
                    plain = ring.open(raw["sealed"], sealed.column, row)
                    old = {"sealed": ring.seal(plain, sealed.column)}
                await s.execute(
                    update(model)
                    .where(model.id == row_id)  # type: ignore[attr-defined]
                    .values({type_coerce(column, raw_type): old})
                    .execution_options(synchronize_session=False)
                )
                done += 1
    return done


async def _versions(store: Store) -> set[str | None]:
    found: set[str | None] = set()
    async with store.sessionmaker() as s, s.begin():
        for model, name, raw_type in SEALED:
            found |= {
                sealed_version(v)
                for v in await s.scalars(select(type_coerce(getattr(model, name), raw_type)))
            }
    return found


async def _v1_prefixes(store: Store) -> int:
    """Values whose stored text starts like a v1 envelope, counted by the database."""
    found = 0
    async with store.sessionmaker() as s, s.begin():
        for model, name, _raw in SEALED:
            stored = sql_cast(getattr(model, name), Text)
            v1 = or_(stored.like("sealed:v1:%"), stored.like('%"v1:%'))
            found += await s.scalar(select(func.count()).select_from(model).where(v1)) or 0
    return found


async def test_values_sealed_before_binding_are_bound_by_rotation_and_when_the_store_opens(
    backend: Any, tmp_path: Path
) -> None:
    ring = Keyring.generate(tmp_path / "keys" / KEY_FILE_NAME)
    store = await Store.open(backend.url, schema=backend.schema, keyring=ring)
    try:
        await _two_of_each(store)
        expected = {(m, n): await _read(store, m, n) for m, n, _ in SEALED}
        written = await _seal_as_v1(store, ring)
        assert written == 16 and await _versions(store) == {"v1"}
        assert await _v1_prefixes(store) == 16
        # A v1 value is refused when read, with what to do.
        with pytest.raises(SealBroken, match=r"answers\.value: sealed before .* \(v1\)"):
            await _read(store, AnswerRow, "value")
        # `samen keys rotate` (rekey.reseal) seals them again, bound.
        assert await count_under_other_keys(store) == 16
        counts = await reseal(store)
        assert sum(counts.values()) == 16
        assert await count_under_other_keys(store) == 0
        assert await _versions(store) == {"v2"} and await _v1_prefixes(store) == 0
        assert {(m, n): await _read(store, m, n) for m, n, _ in SEALED} == expected
        # And once more as before, for the store's opening to bind them.
        await _seal_as_v1(store, ring)
    finally:
        await store.close()
    store = await Store.open(backend.url, schema=backend.schema, keyring=ring)
    try:
        assert await _versions(store) == {"v2"} and await _v1_prefixes(store) == 0
        assert {(m, n): await _read(store, m, n) for m, n, _ in SEALED} == expected
    finally:
        await store.close()
