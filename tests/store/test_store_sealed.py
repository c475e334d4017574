"""Encryption at rest (R-PRV-2): sealed columns on SQLite and PostgreSQL, keys and rotation."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Text, select, text, type_coerce, update

from bot.store.rekey import count_under_other_keys, reseal
from bot.store.repo import StepWrite, Store
from bot.store.sealed import (
    KEY_FILE_NAME,
    DataKeyError,
    Keyring,
    SealBroken,
    bind_row,
    default_key_file,
    is_sealed_json,
    is_sealed_text,
    sealed_key_id,
)
from bot.store.tables import AnswerRow, InboxRow, MemberRow, OutboxRow, RunRow

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET_ANSWER = "Mevrouw Zonnebloem-Verhaar belde om drie uur"


async def _one_step(store: Store) -> str:
    team = await store.team_for_channel("console", "c-sealed", now=NOW)
    await store.inbox_put("console", "e1", {"text": SECRET_ANSWER}, NOW)
    await store.commit_step(
        StepWrite(
            run_id="run-sealed",
            expected_version=None,
            run={
                "team_id": team.id,
                "flow_id": "f",
                "status": "active",
                "state": {"answers": {"q": SECRET_ANSWER}},
            },
            answers=[{"step": "s", "question": "q", "member": "u1", "value": SECRET_ANSWER}],
            outbox=[
                {
                    "platform": "console",
                    "destination": "c-sealed",
                    "kind": "summary",
                    "message": {"text": SECRET_ANSWER},
                    "idempotency_key": "o1",
                }
            ],
            now=NOW,
        )
    )
    return team.id


async def _raw(store: Store) -> list[object]:
    async with store.sessionmaker() as s, s.begin():
        return [
            await s.scalar(select(type_coerce(AnswerRow.value, Text()))),
            await s.scalar(select(type_coerce(RunRow.state, JSON()))),
            await s.scalar(select(type_coerce(InboxRow.payload, JSON()))),
            await s.scalar(select(type_coerce(OutboxRow.message, JSON()))),
        ]


async def test_answers_state_and_payloads_are_sealed_in_the_database_and_open_for_the_store(
    store: Store,
) -> None:
    await _one_step(store)
    answer, state, payload, message = await _raw(store)
    assert is_sealed_text(answer)
    assert all(is_sealed_json(v) for v in (state, payload, message))
    assert all(SECRET_ANSWER not in str(v) for v in (answer, state, payload, message))
    assert {sealed_key_id(v) for v in (answer, state, payload, message)} == {store.keyring.current}
    run = await store.load_run("run-sealed")
    assert run is not None and run.state == {"answers": {"q": SECRET_ANSWER}}
    (pending,) = await store.inbox_pending()
    assert pending.payload == {"text": SECRET_ANSWER}
    (due,) = await store.outbox_due(NOW)
    assert due.message == {"text": SECRET_ANSWER}


async def test_the_outbox_read_gives_a_pending_message_as_stored_also_after_it_changed(
    store: Store,
) -> None:
    await _one_step(store)
    for _ in range(2):  # one row waiting through two passes of the outbox
        (due,) = await store.outbox_due(NOW)
        assert due.message == {"text": SECRET_ANSWER}
    async with store.sessionmaker() as s, s.begin():  # new content under the same id
        row = {"idempotency_key": "o1", "message": {"text": "anders"}}
        await s.execute(update(OutboxRow).values(bind_row(OutboxRow, row)))
    (due,) = await store.outbox_due(NOW)
    assert due.message == {"text": "anders"}


async def test_a_sealed_value_moved_to_another_column_or_altered_does_not_open(
    store: Store,
) -> None:
    await _one_step(store)
    answer, state, *_ = await _raw(store)
    assert isinstance(answer, str) and isinstance(state, dict)
    async with store.sessionmaker() as s, s.begin():  # state's envelope into the answer
        await s.execute(
            update(AnswerRow).values(
                {type_coerce(AnswerRow.value, Text()): "sealed:" + state["sealed"]}
            )
        )
    with pytest.raises(SealBroken, match=r"answers\.value"):
        await _answers(store)
    altered = answer[:-6] + ("AAAA" if not answer.endswith("AAAA") else "BBBB") + answer[-2:]
    async with store.sessionmaker() as s, s.begin():
        await s.execute(update(AnswerRow).values({type_coerce(AnswerRow.value, Text()): altered}))
    with pytest.raises(SealBroken, match="altered"):
        await _answers(store)


async def test_a_plain_value_in_a_sealed_column_is_refused_and_old_ones_are_sealed_at_open(
    backend: Any,
) -> None:
    store = await Store.open(backend.url, schema=backend.schema)
    try:
        await _one_step(store)
        async with store.sessionmaker() as s, s.begin():  # written around the store
            await s.execute(
                update(AnswerRow).values({type_coerce(AnswerRow.value, Text()): "ingeschoven"})
            )
            await s.execute(
                update(RunRow).values({type_coerce(RunRow.state, JSON()): {"answers": {}}})
            )
        with pytest.raises(SealBroken, match=r"answers\.value: holds a plain value"):
            await _answers(store)
        with pytest.raises(SealBroken, match=r"runs\.state: holds a plain value"):
            await store.load_run("run-sealed")
    finally:
        await store.close()
    store = await Store.open(backend.url, schema=backend.schema)  # opening again: still
    try:
        with pytest.raises(SealBroken, match="plain value"):
            await _answers(store)
        # As a database from before sealing: its revision before 0008_privacy_sealed_only,
        # a display name in plain text.
        await store.upsert_member(await _team_id(store), "u9", "Zeemeeuw", now=NOW)
        async with store.sessionmaker() as s, s.begin():
            await s.execute(
                update(MemberRow).values({type_coerce(MemberRow.name, Text()): "Zeemeeuw"})
            )
            await s.execute(
                text("UPDATE alembic_version SET version_num = :v"),
                {"v": "0007_19_outbox_without_team"},
            )
    finally:
        await store.close()
    # Values from before sealing existed: the store seals them as it applies 0008, once.
    store = await Store.open(backend.url, schema=backend.schema)
    try:
        assert await _answers(store) == ["ingeschoven"]
        answer, state, *_ = await _raw(store)
        assert is_sealed_text(answer) and is_sealed_json(state)
        async with store.sessionmaker() as s, s.begin():
            raw_name = await s.scalar(select(type_coerce(MemberRow.name, Text())))
        assert is_sealed_text(raw_name) and "Zeemeeuw" not in str(raw_name)
        assert (await store.get_member(await _team_id(store), "u9")).name == "Zeemeeuw"
    finally:
        await store.close()


async def _team_id(store: Store) -> str:
    return (await store.team_for_channel("console", "c-sealed", now=NOW)).id


async def _answers(store: Store) -> list[str]:
    async with store.sessionmaker() as s, s.begin():
        return list(await s.scalars(select(AnswerRow.value)))


async def test_rotation_reseals_everything_under_the_new_key_and_old_values_stay_readable(
    backend: Any, tmp_path: Path
) -> None:
    old = Keyring.generate(tmp_path / "keys" / KEY_FILE_NAME)
    store = await Store.open(backend.url, schema=backend.schema, keyring=old)
    try:
        await _one_step(store)
    finally:
        await store.close()
    rotated = old.with_new_key()
    store = await Store.open(backend.url, schema=backend.schema, keyring=rotated)
    try:
        assert await count_under_other_keys(store) == 5  # team name included
        assert await _answers(store) == [SECRET_ANSWER]  # the old key still reads
        counts = await reseal(store)
        assert counts == {
            "answers": 1,
            "runs": 1,
            "inbox": 1,
            "outbox": 1,
            "evaluations": 0,
            "members": 0,
            "teams": 1,
        }
        assert await count_under_other_keys(store) == 0
        assert {sealed_key_id(v) for v in await _raw(store)} == {rotated.current}
        assert set((await reseal(store)).values()) == {0}
    finally:
        await store.close()
    store = await Store.open(backend.url, schema=backend.schema, keyring=rotated.only_current())
    try:
        assert await _answers(store) == [SECRET_ANSWER]
    finally:
        await store.close()
    # A keyring without the key the values are sealed with is refused at once.
    with pytest.raises(DataKeyError, match=f"sealed with key {rotated.current}.*does not hold"):
        await Store.open(backend.url, schema=backend.schema, keyring=old)


def test_the_key_file_is_made_outside_the_data_folder_0600_and_read_back(tmp_path: Path) -> None:
    env = {"SAMEN_CONFIG_DIR": str(tmp_path / "config")}
    ring = Keyring.from_environment(tmp_path / "data", env=env)
    assert ring.new and ring.path is not None and not ring.path.exists()  # not yet written
    assert ring.path.parent == tmp_path / "config" / "keys"
    assert ring.path == default_key_file(tmp_path / "data", env)
    ring.save()
    assert stat.S_IMODE(ring.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring.path.parent.stat().st_mode) == 0o700
    again = Keyring.from_environment(tmp_path / "data", env=env)
    assert again.current == ring.current and again.keys == ring.keys and not again.new
    assert base64.b64encode(ring.keys[ring.current]).decode() not in repr(ring)
    # Another data folder has a key file of its own.
    assert default_key_file(tmp_path / "other", env) != ring.path


def test_a_key_file_readable_by_others_is_refused_with_what_to_do(tmp_path: Path) -> None:
    env = {"SAMEN_CONFIG_DIR": str(tmp_path / "config")}
    Keyring.from_environment(tmp_path / "data", env=env).save()
    os.chmod(default_key_file(tmp_path / "data", env), 0o644)
    with pytest.raises(DataKeyError, match="chmod 600"):
        Keyring.from_environment(tmp_path / "data", env=env)


def test_a_key_file_in_the_data_folder_is_refused_by_default(tmp_path: Path) -> None:
    env = {"SAMEN_CONFIG_DIR": str(tmp_path / "config")}
    Keyring.generate(tmp_path / "data" / KEY_FILE_NAME).save()  # where it used to live
    with pytest.raises(DataKeyError, match=r"inside the data folder.*mv .*data\.key"):
        Keyring.from_environment(tmp_path / "data", env=env)
    inside = {**env, "SAMEN_DATA_KEY_FILE": str(tmp_path / "data" / "sub" / "k.key")}
    with pytest.raises(DataKeyError, match="inside the data folder"):
        Keyring.from_environment(tmp_path / "data", env=inside)


def test_a_named_key_file_is_used_and_never_made(tmp_path: Path) -> None:
    named = tmp_path / "secrets" / "samen.key"
    env = {"SAMEN_DATA_KEY_FILE": str(named), "SAMEN_CONFIG_DIR": str(tmp_path / "c")}
    with pytest.raises(DataKeyError, match="does not exist"):
        Keyring.from_environment(tmp_path / "data", env=env)
    made = Keyring.generate(named)
    made.save()
    ring = Keyring.from_environment(tmp_path / "data", env=env)
    assert ring.keys == made.keys and ring.path == named
    assert not (tmp_path / "c").exists()


def test_the_environment_key_wins_and_old_keys_are_kept_for_reading(tmp_path: Path) -> None:
    new, old = os.urandom(32), os.urandom(32)
    env = {
        "SAMEN_DATA_KEY": base64.b64encode(new).decode(),
        "SAMEN_DATA_KEYS_OLD": base64.b64encode(old).decode(),
    }
    ring = Keyring.from_environment(tmp_path, env=env)
    assert ring.keys[ring.current] == new and old in ring.keys.values()
    assert not (tmp_path / KEY_FILE_NAME).exists()
    with pytest.raises(DataKeyError, match="SAMEN_DATA_KEY must be 32"):
        Keyring.from_environment(tmp_path, env={"SAMEN_DATA_KEY": "c2hvcnQ="})
