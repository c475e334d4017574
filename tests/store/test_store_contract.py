"""The store's contract, one suite run against SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.store.repo import HandOver, Messages, NotFound, StaleRun, StepWrite, Store
from bot.store.tables import (
    AccessLogRow,
    AnswerRow,
    InboxRow,
    OutboxRow,
    RunRow,
    TeamRow,
    TimerRow,
)

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- helpers


async def new_team(store: Store, channel: str = "C1") -> TeamRow:
    return await store.team_for_channel("slack", channel, name="Team", now=NOW)


def new_run_write(team_id: str, run_id: str = "run-1", **parts: Any) -> StepWrite:
    return StepWrite(
        run_id=run_id,
        expected_version=None,
        run={
            "team_id": team_id,
            "flow_id": "intervisie",
            "status": "active",
            "version": 1,
            "state": {"step": "ask"},
        },
        **{"now": NOW, **parts},
    )


def step_write(run_id: str, expected: int, **parts: Any) -> StepWrite:
    run = parts.pop("run", {"state": {"step": f"after-{expected}"}})
    now = parts.pop("now", NOW + timedelta(minutes=expected))
    return StepWrite(
        run_id=run_id,
        expected_version=expected,
        run={"version": expected + 1, **run},
        now=now,
        **parts,
    )


def timer(name: str, due: datetime, key: str | None = None, **more: Any) -> dict[str, Any]:
    return {
        "timer": name,
        "kind": "bell",
        "due_at": due,
        "idempotency_key": key or f"{name}@{due.isoformat()}",
        **more,
    }


def message(key: str, *, priority: int = 5, msg_key: str = "", **more: Any) -> dict[str, Any]:
    return {
        "platform": "slack",
        "destination": "C1",
        "kind": "say",
        "priority": priority,
        "message": {"text_id": key},
        "idempotency_key": key,
        "msg_key": msg_key,
        **more,
    }


async def claim(store: Store, id: int, status: str, now: datetime, note: str = "") -> bool:
    """Hand one timer over as the scheduler does; True when this call claimed it."""
    return id in await store.hand_over([HandOver(id, status, {"timer_row": id}, note)], now)


async def count(store: Store, model: type[Any], *where: Any) -> int:
    async with store.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
        )


async def started_run(store: Store, **parts: Any) -> TeamRow:
    team = await new_team(store)
    await store.commit_step(new_run_write(team.id, **parts))
    return team


# ---------------------------------------------------------------------------- teams


async def test_a_team_is_created_once_when_ten_callers_race(store: Store) -> None:
    teams = await asyncio.gather(
        *[store.team_for_channel("telegram", "-100123", now=NOW) for _ in range(10)]
    )
    assert len({team.id for team in teams}) == 1
    assert await count(store, TeamRow) == 1


async def test_a_known_channel_gives_its_team_and_a_new_name_renames_it(store: Store) -> None:
    first = await store.team_for_channel("slack", "C1", name="Wijkteam", now=NOW)
    again = await store.team_for_channel("slack", "C1", now=NOW + timedelta(days=1))
    renamed = await store.team_for_channel("slack", "C1", name="Wijkteam Noord", now=NOW)
    other = await store.team_for_channel("telegram", "C1", now=NOW)
    assert again.id == first.id == renamed.id != other.id
    assert again.name == "Wijkteam" and renamed.name == "Wijkteam Noord"
    assert (await store.get_team(first.id)).name == "Wijkteam Noord"  # type: ignore[union-attr]
    assert first.language == "nl" and first.address == "je"
    assert first.timezone == "Europe/Amsterdam" and first.work_days == "1,2,3,4,5"


async def test_valid_team_settings_are_stored_normalised(store: Store) -> None:
    team = await new_team(store)
    updated = await store.update_team(
        team.id,
        language="nl-BE",
        address="u",
        timezone="Europe/Brussels",
        work_days=[5, 1, 2, 2],
        work_start="07:45",
        work_end="16:00",
    )
    stored = await store.get_team(team.id)
    assert stored is not None
    for row in (updated, stored):
        assert (row.language, row.address, row.timezone) == ("nl-BE", "u", "Europe/Brussels")
        assert (row.work_days, row.work_start, row.work_end) == ("1,2,5", "07:45", "16:00")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"language": "de"}, "language must be one of nl, en, nl-BE"),
        ({"address": "jij"}, "address must be 'je'"),
        ({"timezone": "Europe/Amsterdan"}, "timezone must be an IANA time zone"),
        ({"timezone": "../etc/passwd"}, "timezone must be an IANA time zone"),
        ({"work_start": "8:30"}, "work_start must be a time as HH:MM"),
        ({"work_end": "24:00"}, "work_end must be a time as HH:MM"),
        ({"work_days": "1,2,8"}, "work_days must be ISO weekdays"),
        ({"work_days": "ma,di"}, "work_days must be ISO weekdays"),
        ({"work_days": ""}, "work_days must be ISO weekdays"),
        ({"work_start": "18:00"}, "work_end (17:30) must be later than work_start (18:00)"),
        ({"colour": "blue"}, "unknown team setting"),
    ],
)
async def test_invalid_team_settings_are_refused_with_a_clear_message(
    store: Store, settings: dict[str, Any], message: str
) -> None:
    team = await new_team(store)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await store.update_team(team.id, **settings)
    stored = await store.get_team(team.id)
    assert stored is not None and stored.work_start == "08:30" and stored.language == "nl"


async def test_updating_an_unknown_team_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update_team("no-such-team", language="en")


# ---------------------------------------------------------------------------- members


async def test_a_member_is_added_once_and_updated_by_a_second_upsert(store: Store) -> None:
    team = await new_team(store)
    added = await store.upsert_member(team.id, "U1", "An", now=NOW)
    again = await store.upsert_member(team.id, "U1", "An de Vries", now=NOW + timedelta(1))
    unnamed = await store.upsert_member(team.id, "U1", "", now=NOW + timedelta(2))
    assert added.id == again.id == unnamed.id
    assert added.roles == [] and added.joined_at == NOW
    assert again.name == unnamed.name == "An de Vries"
    assert again.joined_at == NOW  # not re-joined: they never left
    assert [m.user for m in await store.members(team.id)] == ["U1"]


async def test_a_channels_team_and_a_persons_row_in_it_come_in_one_read(store: Store) -> None:
    assert await store.team_and_member("slack", "C1", "U1") == (None, None)
    team, other = await new_team(store, "C1"), await new_team(store, "C2")
    await store.upsert_member(other.id, "U1", "An", now=NOW)
    found, member = await store.team_and_member("slack", "C1", "U1")
    assert found is not None and found.id == team.id and member is None  # not in C1's team
    await store.upsert_member(team.id, "U1", "An", now=NOW)
    await store.member_left(team.id, "U1", NOW)
    found, member = await store.team_and_member("slack", "C1", "U1")
    assert member is not None and member.team_id == team.id and member.left_at is not None
    back = await store.upsert_member(team.id, "U1", "", now=NOW, known=member)
    assert back.id == member.id and back.left_at is None and back.name == "An"
    assert await store.team_and_member("telegram", "C1", "U1") == (None, None)


async def test_the_teams_and_members_of_a_batch_of_events_come_in_one_read(store: Store) -> None:
    c1, c2 = await new_team(store, "C1"), await new_team(store, "C2")
    await store.upsert_member(c1.id, "U1", "An", now=NOW)
    await store.upsert_member(c1.id, "U2", "Bo", now=NOW)
    await store.upsert_member(c2.id, "U2", "Bo", now=NOW)
    keys = [
        ("slack", "C1", "U1"),
        ("slack", "C1", "U3"),  # no such person in C1's team (yet)
        ("slack", "C2", "U1"),  # U1 is in C1's team, not C2's
        ("slack", "C2", "U2"),
        ("slack", "C9", "U1"),  # no team on C9
        ("telegram", "C1", "U1"),  # the same channel id on another platform
    ]
    found = await store.teams_and_members(keys)
    assert {k: (t and t.id, m and (m.team_id, m.user)) for k, (t, m) in found.items()} == {
        ("slack", "C1", "U1"): (c1.id, (c1.id, "U1")),
        ("slack", "C1", "U3"): (c1.id, None),
        ("slack", "C2", "U1"): (c2.id, None),
        ("slack", "C2", "U2"): (c2.id, (c2.id, "U2")),
        ("slack", "C9", "U1"): (None, None),
        ("telegram", "C1", "U1"): (None, None),
    }
    # Each answer is what the read of one would have said.
    for key in keys:
        team, member = await store.team_and_member(*key)
        batch_team, batch_member = found[key]
        assert (team and team.name, member and member.id) == (
            batch_team and batch_team.name,
            batch_member and batch_member.id,
        )
    assert await store.teams_and_members([]) == {}


async def test_roles_are_the_extra_roles_and_member_is_implicit(store: Store) -> None:
    team = await new_team(store)
    member = await store.upsert_member(
        team.id, "U1", "An", now=NOW, roles=["member", "Chair", "chair"]
    )
    assert member.roles == ["chair"]
    changed = await store.set_roles(team.id, "U1", ["coordinator", "chair"])
    assert changed.roles == ["chair", "coordinator"]
    kept = await store.upsert_member(team.id, "U1", "An", now=NOW)  # roles=None: unchanged
    assert kept.roles == ["chair", "coordinator"]
    assert (await store.get_member(team.id, "U1")).roles == ["chair", "coordinator"]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="a role is a short lowercase word"):
        await store.set_roles(team.id, "U1", ["chair; drop table"])
    with pytest.raises(NotFound):
        await store.set_roles(team.id, "U404", ["chair"])


async def test_absence_is_set_and_cleared(store: Store) -> None:
    team = await new_team(store)
    await store.upsert_member(team.id, "U1", "An", now=NOW)
    away = await store.set_absent(team.id, "U1", date(2025, 3, 14))
    assert away.absent_until == date(2025, 3, 14)
    assert (await store.members(team.id))[0].absent_until == date(2025, 3, 14)
    back = await store.set_absent(team.id, "U1", None)
    assert back.absent_until is None
    with pytest.raises(NotFound):
        await store.set_absent(team.id, "U404", None)


async def test_a_member_who_left_is_hidden_and_comes_back_on_upsert(store: Store) -> None:
    team = await new_team(store)
    await store.upsert_member(team.id, "U1", "An", now=NOW)
    await store.upsert_member(team.id, "U2", "Bo", now=NOW + timedelta(seconds=1))
    assert await store.member_left(team.id, "U1", NOW + timedelta(days=1)) is True
    assert await store.member_left(team.id, "U1", NOW + timedelta(days=2)) is False
    assert await store.member_left(team.id, "U404", NOW) is False
    assert [m.user for m in await store.members(team.id)] == ["U2"]
    everyone = await store.members(team.id, include_left=True)
    assert [(m.user, m.left_at) for m in everyone] == [
        ("U1", NOW + timedelta(days=1)),
        ("U2", None),
    ]
    back = await store.upsert_member(team.id, "U1", "An", now=NOW + timedelta(days=3))
    assert back.left_at is None and back.joined_at == NOW + timedelta(days=3)
    assert {m.user for m in await store.members(team.id)} == {"U1", "U2"}


# ---------------------------------------------------------------------------- inbox


async def test_the_inbox_absorbs_a_duplicate_event(store: Store) -> None:
    first = await store.inbox_put("slack", "Ev01", {"type": "message"}, NOW)
    second = await store.inbox_put("slack", "Ev01", {"type": "message", "retry": 1}, NOW)
    other_platform = await store.inbox_put("telegram", "Ev01", {}, NOW)
    assert isinstance(first, int) and second is None and isinstance(other_platform, int)
    pending = await store.inbox_pending()
    assert [(row.platform, row.payload) for row in pending] == [
        ("slack", {"type": "message"}),
        ("telegram", {}),
    ]


async def test_fifty_concurrent_puts_of_one_event_store_exactly_one_row(store: Store) -> None:
    ids = await asyncio.gather(
        *[store.inbox_put("telegram", "update:4242", {"n": n}, NOW) for n in range(50)]
    )
    assert len([i for i in ids if i is not None]) == 1
    assert await count(store, InboxRow) == 1


async def test_a_burst_of_events_is_stored_at_once_and_duplicates_are_told_apart(
    store: Store,
) -> None:
    earlier = await store.inbox_put("slack", "Ev0", {"n": 0}, NOW)
    ids = await store.inbox_put_many(
        [
            ("slack", "Ev1", {"n": 1}),
            ("slack", "Ev0", {"n": 0, "retry": 1}),  # stored before
            ("telegram", "Ev1", {"n": 2}),  # another platform's event 1
            ("slack", "Ev1", {"n": 1, "retry": 1}),  # a copy within the burst
        ],
        NOW,
    )
    assert earlier is not None and ids[1] is None and ids[3] is None
    assert isinstance(ids[0], int) and isinstance(ids[2], int) and ids[0] != ids[2]
    pending = {row.id: (row.platform, row.payload) for row in await store.inbox_pending()}
    assert pending == {
        earlier: ("slack", {"n": 0}),
        ids[0]: ("slack", {"n": 1}),
        ids[2]: ("telegram", {"n": 2}),
    }
    assert await store.inbox_put_many([], NOW) == []


async def test_timers_that_fell_due_are_handled_before_a_backlog_of_chat_events(
    store: Store,
) -> None:
    chat = [await store.inbox_put("slack", f"Ev{n}", {"n": n}, NOW) for n in range(3)]
    bell = await store.inbox_put("timer", "timer:1", {"timer": "t:bell"}, NOW)
    later = await store.inbox_put("timer", "timer:2", {"timer": "t:warning"}, NOW)
    assert [row.id for row in await store.inbox_pending()] == [bell, later, *chat]
    assert [row.id for row in await store.inbox_pending(limit=1)] == [bell]


async def test_handled_events_leave_the_pending_list_as_done_or_failed(store: Store) -> None:
    ids = [await store.inbox_put("slack", f"Ev{n}", {"n": n}, NOW) for n in range(3)]
    assert [row.id for row in await store.inbox_pending()] == ids
    assert [row.id for row in await store.inbox_pending(limit=2)] == ids[:2]
    await store.inbox_done(ids[0], NOW)  # type: ignore[arg-type]
    await store.inbox_done(ids[1], NOW, error="unknown run\nstep")  # type: ignore[arg-type]
    assert [row.id for row in await store.inbox_pending()] == [ids[2]]
    assert await count(store, InboxRow, InboxRow.status == "done") == 1
    async with store.engine.connect() as conn:
        failed = (
            await conn.execute(
                select(InboxRow.error, InboxRow.handled_at).where(InboxRow.status == "failed")
            )
        ).one()
    assert failed.error == "unknown run step" and failed.handled_at == NOW


async def test_purge_deletes_only_old_handled_events(store: Store) -> None:
    old_done = await store.inbox_put("slack", "old-done", {}, NOW - timedelta(days=8))
    await store.inbox_put("slack", "old-new", {}, NOW - timedelta(days=8))
    recent = await store.inbox_put("slack", "recent-done", {}, NOW - timedelta(days=1))
    await store.inbox_done(old_done, NOW)  # type: ignore[arg-type]
    await store.inbox_done(recent, NOW)  # type: ignore[arg-type]
    assert await store.purge_inbox(NOW - timedelta(days=7)) == 1
    async with store.engine.connect() as conn:
        keys = set((await conn.execute(select(InboxRow.event_key))).scalars())
    assert keys == {"old-new", "recent-done"}
    # Purged, the key may come again: a dedupe key lives as long as its row.
    assert await store.inbox_put("slack", "old-done", {}, NOW) is not None


# ---------------------------------------------------------------------------- runs


async def test_a_new_run_is_written_with_its_answers_timers_messages_and_inbox_row(
    store: Store,
) -> None:
    team = await new_team(store)
    inbox_id = await store.inbox_put("slack", "Ev1", {}, NOW)
    await store.commit_step(
        new_run_write(
            team.id,
            answers=[{"step": "ask", "question": "q1", "member": "U1", "value": "ja"}],
            timers_new=[timer("bell", NOW + timedelta(minutes=10))],
            outbox=[message("m1")],
            inbox_id=inbox_id,
        )
    )
    run = await store.load_run("run-1")
    assert run is not None
    assert (run.team_id, run.flow_id, run.status, run.version) == (
        team.id,
        "intervisie",
        "active",
        1,
    )
    assert run.state == {"step": "ask"} and run.created_at == run.updated_at == NOW
    assert await count(store, AnswerRow, AnswerRow.run_id == "run-1") == 1
    [pending] = await store.pending_timers()
    assert (pending.run_id, pending.timer, pending.status) == ("run-1", "bell", "pending")
    [out] = await store.outbox_due(NOW)
    assert (out.team_id, out.run_id, out.not_before, out.created_at, out.op) == (
        team.id,
        "run-1",
        NOW,
        NOW,
        "send",
    )
    assert await store.inbox_pending() == []


async def test_a_step_moves_the_run_to_the_next_version(store: Store) -> None:
    await started_run(store)
    await store.commit_step(
        step_write(
            "run-1",
            1,
            run={"status": "done", "finished_at": NOW + timedelta(1), "state": {"step": "end"}},
        )
    )
    run = await store.load_run("run-1")
    assert run is not None
    assert (run.version, run.status, run.state) == (2, "done", {"step": "end"})
    assert run.finished_at == NOW + timedelta(1)
    assert run.updated_at == NOW + timedelta(minutes=1) and run.created_at == NOW
    assert run.flow_id == "intervisie"  # fields left out keep their value


async def test_a_stale_version_raises_and_writes_nothing_of_the_step(store: Store) -> None:
    await started_run(store, timers_new=[timer("warn", NOW + timedelta(minutes=5))])
    await store.commit_step(step_write("run-1", 1))
    inbox_id = await store.inbox_put("slack", "Ev-late", {}, NOW)
    with pytest.raises(StaleRun, match="run run-1 is at version 2, expected version 1"):
        await store.commit_step(
            step_write(
                "run-1",
                1,
                run={"status": "stopped", "state": {"step": "stale"}},
                answers=[{"step": "ask", "question": "q1", "member": "U1", "value": "oud"}],
                outbox=[message("stale-message")],
                timers_new=[timer("bell", NOW + timedelta(minutes=30))],
                timers_cancel=["warn"],
                inbox_id=inbox_id,
            )
        )
    run = await store.load_run("run-1")
    assert run is not None and (run.version, run.status) == (2, "active")
    assert run.state == {"step": "after-1"}
    assert await count(store, AnswerRow) == 0
    assert await count(store, OutboxRow) == 0
    assert [t.timer for t in await store.pending_timers()] == ["warn"]
    assert [row.id for row in await store.inbox_pending()] == [inbox_id]


async def test_a_failing_later_part_rolls_back_the_whole_step(store: Store) -> None:
    await started_run(store)
    with pytest.raises(ValueError, match=r"outbox\.destination is required"):
        await store.commit_step(
            step_write(
                "run-1",
                1,
                answers=[{"step": "ask", "question": "q1", "member": "U1", "value": "ja"}],
                timers_new=[timer("bell", NOW + timedelta(minutes=30))],
                outbox=[
                    {
                        "platform": "slack",
                        "kind": "say",
                        "message": {},
                        "idempotency_key": "no-destination",
                    }
                ],
            )
        )
    run = await store.load_run("run-1")
    assert run is not None and run.version == 1
    assert await count(store, AnswerRow) == 0 and await count(store, TimerRow) == 0


async def test_a_step_for_a_vanished_run_raises_stale_run(store: Store) -> None:
    await new_team(store)
    with pytest.raises(StaleRun, match="no longer exists"):
        await store.commit_step(step_write("run-404", 3))


async def test_a_second_new_run_with_the_same_id_is_refused(store: Store) -> None:
    team = await started_run(store)
    with pytest.raises(StaleRun, match="already exists"):
        await store.commit_step(new_run_write(team.id, outbox=[message("dup-start")]))
    assert await count(store, OutboxRow) == 0
    assert (await store.load_run("run-1")).version == 1  # type: ignore[union-attr]


async def test_of_two_concurrent_steps_from_one_version_exactly_one_wins(store: Store) -> None:
    await started_run(store)
    results = await asyncio.gather(
        *[
            store.commit_step(step_write("run-1", 1, outbox=[message(f"click-{n}")]))
            for n in range(2)
        ],
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "StaleRun"]
    assert await count(store, OutboxRow) == 1
    assert (await store.load_run("run-1")).version == 2  # type: ignore[union-attr]


async def test_a_new_version_must_be_higher_than_the_expected_one(store: Store) -> None:
    await started_run(store)
    with pytest.raises(ValueError, match="must be higher"):
        await store.commit_step(step_write("run-1", 1, run={"version": 1}))
    with pytest.raises(ValueError, match="not run fields: colour"):
        await store.commit_step(step_write("run-1", 1, run={"colour": "red"}))


async def test_an_edited_answer_replaces_the_old_one(store: Store) -> None:
    await started_run(
        store,
        answers=[
            {"step": "ask", "question": "q1", "member": "U1", "value": "eerst"},
            {"step": "ask", "question": "q1", "member": "U2", "value": "ander"},
        ],
    )
    later = NOW + timedelta(minutes=1)
    await store.commit_step(
        step_write(
            "run-1",
            1,
            answers=[
                {
                    "step": "ask",
                    "question": "q1",
                    "member": "U1",
                    "value": "daarna",
                    "kind": "edit",
                },
            ],
        )
    )
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AnswerRow.member, AnswerRow.value, AnswerRow.kind, AnswerRow.answered_at)
            )
        ).all()
    # Stored by the person's pseudonym (bot/store/pseudonyms.py), not the platform id.
    u1, u2 = store.pseudonym("U1"), store.pseudonym("U2")
    assert sorted(tuple(row) for row in rows) == sorted(
        [(u1, "daarna", "edit", later), (u2, "ander", "value", NOW)]
    )


async def test_create_run_inserts_a_run_and_refuses_its_id_twice(store: Store) -> None:
    team = await new_team(store)

    def row() -> RunRow:
        return RunRow(
            id="run-9",
            team_id=team.id,
            flow_id="evaluatie",
            status="active",
            version=0,
            state={},
            created_at=NOW,
            updated_at=NOW,
        )

    await store.create_run(row())
    loaded = await store.load_run("run-9")
    assert loaded is not None and (loaded.flow_id, loaded.thread) == ("evaluatie", None)
    with pytest.raises(StaleRun):
        await store.create_run(row())
    assert await store.load_run("run-404") is None


async def test_active_runs_are_the_teams_runs_still_going(store: Store) -> None:
    team = await new_team(store)
    other = await new_team(store, "C2")
    await store.commit_step(new_run_write(team.id, "a"))
    await store.commit_step(new_run_write(team.id, "b"))
    await store.commit_step(new_run_write(other.id, "c"))
    await store.commit_step(step_write("b", 1, run={"status": "done"}))
    await store.commit_step(
        StepWrite(
            run_id="d",
            expected_version=None,
            now=NOW,
            run={"team_id": team.id, "flow_id": "afstemming", "status": "active", "state": {}},
        )
    )
    assert [r.id for r in await store.active_runs(team.id)] == ["a", "d"]
    assert [r.id for r in await store.active_runs(team.id, "intervisie")] == ["a"]
    assert (await store.load_run("d")).version == 0  # type: ignore[union-attr]


async def test_setting_the_thread_keeps_the_run_version(store: Store) -> None:
    await started_run(store)
    await store.outbox_sent_many([], {"run-1": "1700000000.000100"})
    run = await store.load_run("run-1")
    assert run is not None and (run.thread, run.version) == ("1700000000.000100", 1)
    await store.commit_step(step_write("run-1", 1))  # a step without "thread" keeps it
    assert (await store.load_run("run-1")).thread == "1700000000.000100"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- timers


async def test_a_timer_is_claimed_by_exactly_one_of_two_concurrent_claims(store: Store) -> None:
    await started_run(store, timers_new=[timer("bell", NOW)])
    [bell] = await store.pending_timers()
    claims = await asyncio.gather(
        claim(store, bell.id, "sent", NOW),
        claim(store, bell.id, "skipped", NOW, note="late"),
    )
    assert sorted(claims) == [False, True]
    claimed = await store.get_timer(bell.id)
    assert claimed is not None and claimed.status in {"sent", "skipped"}
    assert claimed.attempts == 1 and claimed.handled_at == NOW
    assert await claim(store, bell.id, "failed", NOW) is False
    assert await store.get_timer(10**9) is None


async def test_a_timer_is_claimed_only_as_sent_skipped_or_failed(store: Store) -> None:
    await started_run(store, timers_new=[timer("bell", NOW)])
    [bell] = await store.pending_timers()
    with pytest.raises(ValueError, match="sent, skipped, failed"):
        await claim(store, bell.id, "pending", NOW)
    assert await claim(store, bell.id, "skipped", NOW, note="more than 2 min late")
    assert (await store.get_timer(bell.id)).note == "more than 2 min late"  # type: ignore[union-attr]


async def test_only_a_pending_timer_can_be_rescheduled(store: Store) -> None:
    await started_run(store, timers_new=[timer("remind", NOW - timedelta(hours=1))])
    [remind] = await store.pending_timers()
    morning = NOW + timedelta(hours=23)
    assert await store.reschedule_timer(remind.id, morning, note="shifted: quiet hours")
    moved = await store.get_timer(remind.id)
    assert moved is not None and (moved.due_at, moved.status) == (morning, "pending")
    assert moved.note == "shifted: quiet hours"
    assert await claim(store, remind.id, "sent", morning)
    assert await store.reschedule_timer(remind.id, NOW, note="again") is False
    assert (await store.get_timer(remind.id)).due_at == morning  # type: ignore[union-attr]


async def test_arming_reads_only_the_ids_and_due_times_of_pending_timers(store: Store) -> None:
    await started_run(
        store,
        timers_new=[
            timer("bell", NOW + timedelta(minutes=10)),
            timer("warn", NOW + timedelta(minutes=5)),
            timer("later", NOW + timedelta(hours=1)),
            timer("done", NOW - timedelta(minutes=1)),
        ],
    )
    by_name = {t.timer: t for t in await store.pending_timers()}
    assert await claim(store, by_name["done"].id, "sent", NOW)
    horizon = NOW + timedelta(minutes=10)  # inclusive
    warn, bell = by_name["warn"], by_name["bell"]
    assert await store.pending_due(due_before=horizon) == [
        (warn.id, warn.due_at),
        (bell.id, bell.due_at),
    ]
    newest = max(warn.id, bell.id)
    assert await store.pending_due(due_before=horizon, after_id=newest - 1) == [
        (newest, by_name["bell" if newest == bell.id else "warn"].due_at)
    ]
    assert await store.pending_due(due_before=horizon, after_id=newest) == []


async def test_cancelling_a_run_cancels_only_its_pending_timers(store: Store) -> None:
    team = await started_run(
        store,
        timers_new=[
            timer("warn", NOW + timedelta(minutes=5)),
            timer("bell", NOW + timedelta(minutes=10)),
            timer("done", NOW - timedelta(minutes=1)),
        ],
    )
    await store.commit_step(
        new_run_write(team.id, "run-2", timers_new=[timer("bell2", NOW + timedelta(1))])
    )
    by_name = {t.timer: t for t in await store.pending_timers()}
    assert await claim(store, by_name["done"].id, "sent", NOW)
    assert await store.cancel_run_timers("run-1", NOW) == 2
    assert await store.cancel_run_timers("run-1", NOW) == 0
    assert [t.run_id for t in await store.pending_timers()] == ["run-2"]
    assert await store.count_timers("cancelled") == 2
    assert (await store.get_timer(by_name["done"].id)).status == "sent"  # type: ignore[union-attr]
    # A cancelled timer that fires anyway (an armed job not yet removed) is not claimed.
    assert await claim(store, by_name["bell"].id, "sent", NOW) is False


async def test_a_step_can_cancel_a_timer_and_set_it_again(store: Store) -> None:
    await started_run(store, timers_new=[timer("bell", NOW + timedelta(minutes=10))])
    extended = NOW + timedelta(minutes=15)
    await store.commit_step(
        step_write("run-1", 1, timers_cancel=["bell"], timers_new=[timer("bell", extended)])
    )
    [bell] = await store.pending_timers()
    assert (bell.timer, bell.due_at) == ("bell", extended)
    assert await store.count_timers("cancelled") == 1


async def test_known_idempotency_keys_are_skipped_for_timers_and_messages(store: Store) -> None:
    await started_run(
        store, timers_new=[timer("bell", NOW, key="k-bell")], outbox=[message("k-msg")]
    )
    await store.commit_step(
        step_write(
            "run-1",
            1,
            timers_new=[timer("bell", NOW, key="k-bell"), timer("warn", NOW, key="k-warn")],
            outbox=[message("k-msg"), message("k-msg-2")],
        )
    )
    assert sorted(t.idempotency_key for t in await store.pending_timers()) == ["k-bell", "k-warn"]
    assert sorted(o.idempotency_key for o in await store.outbox_due(NOW + timedelta(1))) == [
        "k-msg",
        "k-msg-2",
    ]
    assert (await store.load_run("run-1")).version == 2  # type: ignore[union-attr]


async def test_pending_timers_come_soonest_first_with_next_due_and_oldest_overdue(
    store: Store,
) -> None:
    assert await store.next_due() is None and await store.oldest_overdue(NOW) is None
    dues = [NOW + timedelta(minutes=m) for m in (30, -20, 10, -5, 0)]
    await started_run(store, timers_new=[timer(f"t{n}", due) for n, due in enumerate(dues)])
    assert [t.due_at for t in await store.pending_timers()] == sorted(dues)
    assert [t.due_at for t in await store.pending_timers(due_before=NOW)] == sorted(dues)[:3]
    assert [t.due_at for t in await store.pending_timers(limit=2)] == sorted(dues)[:2]
    assert await store.next_due() == NOW - timedelta(minutes=20)
    assert await store.oldest_overdue(NOW) == NOW - timedelta(minutes=20)
    overdue = await store.pending_timers(due_before=NOW - timedelta(minutes=10))
    await claim(store, overdue[0].id, "skipped", NOW)
    assert await store.oldest_overdue(NOW) == NOW - timedelta(minutes=5)
    assert await store.oldest_overdue(NOW - timedelta(hours=1)) is None
    assert await store.count_timers("pending") == 4


# ---------------------------------------------------------------------------- outbox


async def test_due_messages_come_by_priority_then_in_written_order(store: Store) -> None:
    later = NOW + timedelta(seconds=30)
    await started_run(
        store,
        outbox=[
            message("a", priority=5),
            message("b", priority=5),
            message("bell", priority=0),
            message("c", priority=5),
            message("held", priority=0, not_before=later),
            message("d", priority=9),
        ],
    )
    assert [o.idempotency_key for o in await store.outbox_due(NOW)] == ["bell", "a", "b", "c", "d"]
    assert [o.idempotency_key for o in await store.outbox_due(NOW, limit=2)] == ["bell", "a"]
    assert [o.idempotency_key for o in await store.outbox_due(later)][:2] == ["bell", "held"]
    assert await store.outbox_backlog() == 6


async def test_due_messages_leave_out_the_conversations_the_worker_skips(store: Store) -> None:
    await started_run(
        store,
        outbox=[
            message("c1", destination="C1"),
            message("c2", destination="C2"),
            message("d1", destination="D1"),
            message("telegram-c1", destination="C1", platform="telegram"),
        ],
    )
    due = await store.outbox_due(NOW, skip={("slack", "C1"), ("slack", "D9")})
    assert [o.idempotency_key for o in due] == ["c2", "d1", "telegram-c1"]
    assert [o.idempotency_key for o in await store.outbox_due(NOW, skip=set())] == [
        "c1",
        "c2",
        "d1",
        "telegram-c1",
    ]
    # A message read while its conversation was skipped is opened as before.
    [again] = await store.outbox_due(
        NOW, skip={("slack", "C2"), ("slack", "D1"), ("telegram", "C1")}
    )
    assert (again.idempotency_key, again.message) == ("c1", {"text_id": "c1"})


async def test_a_retry_counts_the_attempt_and_holds_the_message(store: Store) -> None:
    await started_run(store, outbox=[message("m1")])
    [m1] = await store.outbox_due(NOW)
    retry_at = NOW + timedelta(seconds=7)
    assert await store.outbox_retry(m1.id, retry_at, "429 retry_after=7")
    assert await store.outbox_due(NOW) == []
    [again] = await store.outbox_due(retry_at)
    assert (again.attempts, again.not_before, again.error, again.status) == (
        1,
        retry_at,
        "429 retry_after=7",
        "pending",
    )
    assert await store.outbox_failed(m1.id, "timeout " * 100)
    assert await store.outbox_due(retry_at + timedelta(days=1)) == []
    assert await store.outbox_backlog() == 0
    assert (await store.status(NOW))["outbox_failed"] == 1
    async with store.engine.connect() as conn:
        failed = (await conn.execute(select(OutboxRow).where(OutboxRow.id == m1.id))).one()
    assert failed.attempts == 2 and failed.status == "failed" and len(failed.error) == 200
    # Settled is settled: a late retry or sent from another worker changes nothing.
    assert await store.outbox_retry(m1.id, NOW, "late") is False
    await store.outbox_sent_many([(m1.id, NOW, "ts-1")])
    async with store.engine.connect() as conn:
        again = (await conn.execute(select(OutboxRow).where(OutboxRow.id == m1.id))).one()
    assert (again.status, again.platform_ref, again.sent_at) == ("failed", None, None)


async def test_a_delete_row_is_dropped_once_done_and_a_refusal_goes_to_the_access_log(
    store: Store,
) -> None:
    """`samen forget`'s delete rows leave nothing behind; only delete rows can be dropped."""
    team = await started_run(store, outbox=[message("m1")])
    deletes = [
        message(
            key,
            op="delete",
            kind="delete",
            destination="dm:U1",
            platform_ref=f"D1:{key}",
            message={"group": False, "for": "forgotten-0123456789"},
        )
        for key in ("d1", "d2")
    ]
    await store.commit_messages(outbox=[{**d, "team_id": team.id} for d in deletes], now=NOW)
    m1, d1, d2 = await store.outbox_due(NOW)
    assert await store.outbox_drop(m1.id, NOW) is False  # a message is no delete row
    assert await store.outbox_drop(d1.id, NOW)
    assert await store.outbox_drop(d2.id, NOW, refused="cant_delete_message")
    assert await store.outbox_drop(d2.id, NOW) is False  # settled is settled
    assert [o.id for o in await store.outbox_due(NOW)] == [m1.id]
    assert await count(store, OutboxRow, OutboxRow.op == "delete") == 0
    async with store.engine.connect() as conn:
        (logged,) = (await conn.execute(select(AccessLogRow))).all()
    assert logged.action == "erase" and logged.subject == "person:p-0123456789"  # the pseudonym
    assert logged.what == "platform message not deleted on slack: cant_delete_message"
    assert "U1" not in logged.what + logged.subject + logged.actor


async def test_a_sent_message_is_marked_once_and_gives_its_platform_ref(store: Store) -> None:
    await started_run(
        store,
        outbox=[
            message("m1", msg_key="question"),
            message("m2", msg_key="summary"),
        ],
    )
    m1, m2 = await store.outbox_due(NOW)
    assert await store.message_ref("run-1", "question") is None  # not sent yet
    await store.outbox_sent_many([(m1.id, NOW, "1700000000.000200")])
    await store.outbox_sent_many([(m1.id, NOW, "other")])  # marked once: no change
    assert await store.message_ref("run-1", "question") == "1700000000.000200"
    assert await store.message_ref("run-1", "summary") is None
    assert await store.message_ref("run-2", "question") is None
    # An edit of the message is not the message: the ref stays the one of the send.
    await store.commit_step(
        step_write("run-1", 1, outbox=[message("m1-edit", msg_key="question", op="edit")])
    )
    later = NOW + timedelta(hours=1)
    [_, edit] = await store.outbox_due(later)
    assert edit.op == "edit"
    await store.outbox_sent_many([(edit.id, later, "edit-ref")])
    assert await store.message_ref("run-1", "question") == "1700000000.000200"
    assert [o.id for o in await store.outbox_due(later)] == [m2.id]


# ---------------------------------------------------------------------------- events, time


async def test_events_are_listed_in_time_order_after_a_given_time(store: Store) -> None:
    team = await new_team(store)
    mdo = await store.add_event(
        team.id, "mdo", NOW + timedelta(days=2), label="MDO-3", created_by="U1", now=NOW
    )
    visit = await store.add_event(team.id, "visit", NOW + timedelta(days=1), now=NOW)
    await store.add_event((await new_team(store, "C2")).id, "mdo", NOW, now=NOW)
    assert [e.id for e in await store.events(team.id)] == [visit.id, mdo.id]
    assert [e.id for e in await store.events(team.id, after=NOW + timedelta(days=1))] == [mdo.id]
    assert (mdo.kind, mdo.label, mdo.created_by, mdo.created_at) == ("mdo", "MDO-3", "U1", NOW)


async def test_timestamps_come_back_aware_in_utc(store: Store) -> None:
    amsterdam = datetime(2025, 3, 30, 3, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))  # DST day
    team = await new_team(store)
    await store.add_event(team.id, "mdo", amsterdam, now=NOW)
    await store.commit_step(
        new_run_write(team.id, timers_new=[timer("bell", amsterdam)], now=amsterdam)
    )
    [event] = await store.events(team.id)
    [bell] = await store.pending_timers()
    run = await store.load_run("run-1")
    assert run is not None
    for value in (
        event.at,
        bell.due_at,
        await store.next_due(),
        run.created_at,
        (await store.status(amsterdam + timedelta(hours=1)))["oldest_overdue"],
    ):
        assert value == amsterdam
        assert value.tzinfo is UTC
        assert value.utcoffset() == timedelta(0)
    assert event.at.hour == 1  # 03:30 CEST is 01:30 UTC


async def test_naive_datetimes_are_refused(store: Store) -> None:
    team = await new_team(store)
    with pytest.raises(Exception, match="naive datetime"):
        await store.add_event(team.id, "mdo", datetime(2025, 3, 3, 9, 0), now=NOW)


async def test_status_reports_timers_and_backlogs(store: Store) -> None:
    empty = await store.status(NOW)
    assert empty == {
        "timers_pending": 0,
        "next_due": None,
        "oldest_overdue": None,
        "inbox_backlog": 0,
        "outbox_backlog": 0,
        "outbox_failed": 0,
    }
    await started_run(
        store,
        timers_new=[timer("a", NOW - timedelta(minutes=3)), timer("b", NOW + timedelta(minutes=3))],
        outbox=[message("m1"), message("m2")],
    )
    await store.inbox_put("slack", "Ev1", {}, NOW)
    [m1, _] = await store.outbox_due(NOW)
    await store.outbox_failed(m1.id, "403 forbidden")
    assert await store.status(NOW) == {
        "timers_pending": 2,
        "next_due": NOW - timedelta(minutes=3),
        "oldest_overdue": NOW - timedelta(minutes=3),
        "inbox_backlog": 1,
        "outbox_backlog": 1,
        "outbox_failed": 1,
    }


async def test_many_concurrent_reads_and_writes_never_find_the_database_locked(
    store: Store,
) -> None:
    """R-OPS-4 in small: writers queue behind each other instead of failing."""
    team = await started_run(
        store, timers_new=[timer(f"t{n}", NOW + timedelta(seconds=n)) for n in range(40)]
    )
    timers = await store.pending_timers()
    work: list[Coroutine[Any, Any, object]] = []
    for n in range(40):
        work.append(store.inbox_put("slack", f"Ev{n}", {"n": n}, NOW))
        work.append(claim(store, timers[n].id, "sent", NOW))
        work.append(store.upsert_member(team.id, f"U{n % 7}", f"P{n}", now=NOW))
        work.append(store.pending_timers(due_before=NOW + timedelta(seconds=n)))
        work.append(store.status(NOW))
    await asyncio.gather(*work)
    assert await store.count_timers("sent") == 40
    assert await count(store, InboxRow, InboxRow.platform == "slack") == 40
    assert await count(store, InboxRow, InboxRow.platform == "timer") == 40  # hand-overs
    assert len(await store.members(team.id)) == 7


async def test_teams_lists_every_team_oldest_first(store: Store) -> None:
    first = await store.team_for_channel("slack", "C1", now=NOW)
    second = await store.team_for_channel("telegram", "-100", now=NOW + timedelta(minutes=1))
    assert [t.id for t in await store.teams()] == [first.id, second.id]


# ---------------------------------------------------------------------------- one person's view


async def test_teams_of_a_person_are_those_they_are_in_on_that_platform(store: Store) -> None:
    first = await new_team(store, "C1")
    second = await new_team(store, "C2")
    other = await store.team_for_channel("telegram", "-100", name="T", now=NOW)
    for team in (first, second, other):
        await store.upsert_member(team.id, "U1", "Anna", now=NOW)
    await store.upsert_member(second.id, "U2", "Bram", now=NOW)
    assert {t.id for t in await store.teams_of("slack", "U1")} == {first.id, second.id}
    assert [t.id for t in await store.teams_of("slack", "U2")] == [second.id]
    await store.member_left(first.id, "U1", NOW)
    assert [t.id for t in await store.teams_of("slack", "U1")] == [second.id]
    assert await store.teams_of("slack", "U9") == []


async def test_open_trajectories_of_an_owner(store: Store) -> None:
    team = await new_team(store)
    await store.add_trajectory(team.id, "T-2", "U1", date(2025, 1, 6), now=NOW)
    await store.add_trajectory(team.id, "T-1", "U1", date(2025, 1, 6), now=NOW)
    await store.add_trajectory(team.id, "T-3", "U2", date(2025, 1, 6), now=NOW)
    assert [t.client_ref for t in await store.open_trajectories(team.id, "U1")] == ["T-1", "T-2"]
    assert await store.open_trajectories(team.id, "U9") == []


async def test_pending_timers_of_one_kind_soonest_first(store: Store) -> None:
    await started_run(
        store,
        timers_new=[
            timer("e2", NOW + timedelta(days=2), kind="evaluation"),
            timer("b1", NOW + timedelta(minutes=1)),
            timer("e1", NOW + timedelta(days=1), kind="evaluation"),
        ],
    )
    assert [t.timer for t in await store.pending_timers_of_kind("evaluation")] == ["e1", "e2"]
    assert [t.timer for t in await store.pending_timers_of_kind("bell")] == ["b1"]
    fired = (await store.pending_timers_of_kind("evaluation"))[0]
    await claim(store, fired.id, "sent", NOW)
    assert [t.timer for t in await store.pending_timers_of_kind("evaluation")] == ["e2"]


async def test_zones_of_several_people_go_to_every_team_they_are_in(store: Store) -> None:
    first, second = await new_team(store, "C1"), await new_team(store, "C2")
    other = await store.team_for_channel("telegram", "-100", name="T", now=NOW)
    for team, user in [(first, "U1"), (second, "U1"), (second, "U2"), (other, "U3")]:
        await store.upsert_member(team.id, user, user, now=NOW)
    await store.upsert_member(first.id, "U4", "U4", now=NOW)
    await store.member_left(first.id, "U4", NOW)
    zones = {"U1": "America/Curacao", "U2": "Europe/Brussels", "U3": "Asia/Tokyo"}
    found = await store.set_timezones("slack", zones | {"U4": "Asia/Tokyo", "U9": "UTC"})
    assert found == {"U1", "U2"}  # U3 is on Telegram, U4 left, U9 is in no team
    zone = {
        (team.id, user): (await store.get_member(team.id, user)).timezone  # type: ignore[union-attr]
        for team, user in [
            (first, "U1"),
            (second, "U1"),
            (second, "U2"),
            (other, "U3"),
            (first, "U4"),
        ]
    }
    assert zone == {
        (first.id, "U1"): "America/Curacao",
        (second.id, "U1"): "America/Curacao",
        (second.id, "U2"): "Europe/Brussels",
        (other.id, "U3"): None,
        (first.id, "U4"): None,
    }
    assert await store.set_timezones("slack", {}) == set()


async def test_an_event_keeps_its_participants(store: Store) -> None:
    team = await new_team(store)
    visit = await store.add_event(
        team.id, "visit", NOW + timedelta(days=1), participants=("U1", "U2"), now=NOW
    )
    plain = await store.add_event(team.id, "mdo", NOW + timedelta(days=2), now=NOW)
    fetched = await store.get_event(visit.id)
    assert fetched is not None and fetched.participants == "U1 U2"
    again = await store.get_event(plain.id)
    assert again is not None and again.participants == ""


async def test_replies_to_several_events_are_committed_at_once(store: Store) -> None:
    team = await new_team(store)
    first, second, third = [await store.inbox_put("slack", f"Ev{n}", {}, NOW) for n in range(3)]
    await store.commit_messages(outbox=[message("reply-0", team_id=team.id)], now=NOW)
    await store.commit_messages_many(
        [
            Messages(outbox=[message("reply-0", team_id=team.id)], inbox_id=first),  # known
            Messages(
                outbox=[message("reply-1a", team_id=team.id), message("reply-1b", team_id=team.id)],
                inbox_id=second,
            ),
            Messages(timers_new=[timer("start:x", NOW + timedelta(hours=1))], inbox_id=None),
        ],
        now=NOW,
    )
    keys = [o.idempotency_key for o in await store.outbox_due(NOW)]
    assert keys == ["reply-0", "reply-1a", "reply-1b"]  # the known key is not written twice
    assert [r.id for r in await store.inbox_pending()] == [third]
    assert await count(store, TimerRow, TimerRow.timer == "start:x") == 1
    await store.commit_messages_many([], now=NOW)  # nothing to write: no transaction


async def _planned(store: Store) -> tuple[str, str]:
    """A team with a visit tomorrow that will start two flows, and one other event."""
    team = await new_team(store)
    visit = await store.add_event(team.id, "visit", NOW + timedelta(days=1), now=NOW)
    other = await store.add_event(team.id, "visit", NOW + timedelta(days=2), now=NOW)
    await store.commit_messages(
        timers_new=[
            timer(f"start:reflectie:{visit.id}:U1", NOW + timedelta(days=1, hours=2), kind="start"),
            timer(f"start:voorbereiding:{visit.id}:U1", NOW, kind="start"),
            timer(f"start:voorbereiding:{other.id}:U1", NOW + timedelta(days=1), kind="start"),
        ],
        now=NOW,
    )
    return visit.id, other.id


async def test_an_events_start_timers_are_found_soonest_first(store: Store) -> None:
    visit, other = await _planned(store)
    names = [t.timer.split(":")[1] for t in await store.event_start_timers(visit)]
    assert names == ["voorbereiding", "reflectie"]
    assert len(await store.event_start_timers(other)) == 1


async def test_moving_an_event_changes_its_moment_only(store: Store) -> None:
    visit, other = await _planned(store)
    assert await store.get_event(other) is not None
    moved = await store.move_event(visit, NOW + timedelta(days=3))
    assert moved is not None and moved.at == NOW + timedelta(days=3)
    fetched = await store.get_event(visit)
    assert fetched is not None and fetched.at == NOW + timedelta(days=3)
    assert await store.move_event("nope", NOW) is None
    assert len(await store.event_start_timers(visit)) == 2
    untouched = await store.get_event(other)
    assert untouched is not None and untouched.at == NOW + timedelta(days=2)


async def test_cancelling_an_event_cancels_the_flows_it_would_start(store: Store) -> None:
    visit, other = await _planned(store)
    assert await store.cancel_event(visit, NOW) == 2
    assert await store.get_event(visit) is None
    assert await store.event_start_timers(visit) == []
    assert len(await store.event_start_timers(other)) == 1
    assert await store.cancel_event(visit, NOW) == -1


async def test_pending_timers_after_an_id_are_only_the_rows_inserted_since(store: Store) -> None:
    team = await new_team(store)
    soon = NOW + timedelta(minutes=5)
    await store.commit_step(new_run_write(team.id, timers_new=[timer("a", soon), timer("b", soon)]))
    first = await store.pending_timers()
    await store.commit_step(
        new_run_write(team.id, run_id="run-2", timers_new=[timer("c", NOW + timedelta(hours=1))])
    )
    newest = max(t.id for t in first)
    assert [t.timer for t in await store.pending_timers(after_id=newest)] == ["c"]
    assert await store.pending_timers(after_id=newest, due_before=soon) == []
    assert len(await store.pending_timers(after_id=0)) == 3


# ------------------------------------------------------------------ group commit


async def test_steps_of_several_runs_commit_together_as_one_step_each(store: Store) -> None:
    team = await new_team(store)
    for n in (1, 2, 3):
        await store.commit_step(
            new_run_write(
                team.id,
                f"run-{n}",
                timers_new=[timer("warn", NOW + timedelta(minutes=5), key=f"warn-{n}")],
            )
        )
    inbox = [await store.inbox_put("timer", f"timer:{n}", {}, NOW) for n in (1, 2, 3)]
    await store.commit_steps(
        [
            step_write(
                f"run-{n}",
                1,
                now=NOW + timedelta(minutes=1),
                run={"state": {"step": f"phase-{n}"}, "status": "done" if n == 3 else "active"},
                answers=[{"step": "ask", "question": "q1", "member": f"U{n}", "value": "ja"}],
                outbox=[message(f"bell-{n}", destination=f"C{n}")],
                timers_new=[timer("bell", NOW + timedelta(minutes=20 + n), key=f"bell-{n}")],
                timers_cancel=["warn"],
                inbox_id=inbox[n - 1],
            )
            for n in (1, 2, 3)
        ]
    )
    runs = await store.load_runs(["run-1", "run-2", "run-3", "run-404"])
    assert sorted(runs) == ["run-1", "run-2", "run-3"]
    assert [(runs[f"run-{n}"].version, runs[f"run-{n}"].state) for n in (1, 2, 3)] == [
        (2, {"step": f"phase-{n}"}) for n in (1, 2, 3)
    ]
    assert runs["run-3"].status == "done" and runs["run-1"].status == "active"
    assert runs["run-1"].updated_at == NOW + timedelta(minutes=1)
    assert await count(store, AnswerRow) == 3
    sent = await store.outbox_due(NOW + timedelta(hours=1))
    assert sorted((o.run_id, o.destination, o.team_id) for o in sent) == [
        (f"run-{n}", f"C{n}", team.id) for n in (1, 2, 3)
    ]
    assert sorted((t.run_id, t.timer) for t in await store.pending_timers()) == [
        (f"run-{n}", "bell") for n in (1, 2, 3)
    ]
    assert await store.count_timers("cancelled") == 3
    assert await store.inbox_pending() == []


async def test_one_stale_run_leaves_the_whole_group_unwritten(store: Store) -> None:
    team = await new_team(store)
    for n in (1, 2):
        await store.commit_step(new_run_write(team.id, f"run-{n}"))
    await store.commit_step(step_write("run-2", 1))  # run-2 moved on meanwhile
    inbox_id = await store.inbox_put("timer", "timer:1", {}, NOW)
    with pytest.raises(StaleRun, match="run run-2 is at version 2, expected version 1"):
        await store.commit_steps(
            [
                step_write("run-1", 1, outbox=[message("bell-1")], inbox_id=inbox_id),
                step_write("run-2", 1, outbox=[message("bell-2")]),
            ]
        )
    assert (await store.load_run("run-1")).version == 1  # type: ignore[union-attr]
    assert await count(store, OutboxRow) == 0
    assert [row.id for row in await store.inbox_pending()] == [inbox_id]
    with pytest.raises(ValueError, match="one step per run"):
        await store.commit_steps([step_write("run-1", 1), step_write("run-1", 1)])
    with pytest.raises(ValueError, match="only moves existing runs"):
        await store.commit_steps([new_run_write(team.id, "run-9")])


async def test_a_hand_over_claims_and_puts_the_event_of_pending_timers_only(
    store: Store,
) -> None:
    await started_run(
        store,
        timers_new=[timer(f"t{n}", NOW - timedelta(seconds=n)) for n in range(4)],
    )
    rows = {t.timer: t for t in await store.pending_timers()}
    await store.commit_step(step_write("run-1", 1, timers_cancel=["t3"]))  # cancelled meanwhile
    items = [
        HandOver(rows["t0"].id, "sent", {"timer_row": rows["t0"].id}),
        HandOver(rows["t1"].id, "skipped", {"timer_row": rows["t1"].id}, "not rung"),
        HandOver(rows["t2"].id, "sent", {"timer_row": rows["t2"].id}),
        HandOver(rows["t3"].id, "sent", {"timer_row": rows["t3"].id}),
    ]
    claimed = await store.hand_over(items, NOW)
    assert claimed == {rows[t].id for t in ("t0", "t1", "t2")}
    events = await store.inbox_pending()
    assert sorted(e.event_key for e in events) == sorted(
        f"timer:{rows[t].id}" for t in ("t0", "t1", "t2")
    )
    assert {e.payload["timer_row"] for e in events} == claimed
    skipped = await store.get_timer(rows["t1"].id)
    assert skipped is not None and (skipped.status, skipped.note) == ("skipped", "not rung")
    # Offered again (a second sweep or process): nothing claimed, no second event.
    assert await store.hand_over(items, NOW) == set()
    assert len(await store.inbox_pending()) == 3
    with pytest.raises(ValueError, match="sent, skipped, failed"):
        await store.hand_over([HandOver(rows["t0"].id, "pending", {})], NOW)


async def test_deliveries_are_marked_together_and_a_run_keeps_its_first_thread(
    store: Store,
) -> None:
    team = await started_run(store)
    await store.commit_step(new_run_write(team.id, "run-2"))
    await store.commit_step(
        step_write("run-1", 1, outbox=[message("m1", msg_key="k1"), message("m2", msg_key="k2")])
    )
    m1, m2 = await store.outbox_due(NOW + timedelta(hours=1))
    assert await store.run_threads(["run-1", "run-404"]) == {"run-1": None}
    await store.outbox_sent_many(
        [(m1.id, NOW, "ts-1"), (m2.id, NOW + timedelta(seconds=1), "ts-2")],
        {"run-1": "ts-1", "run-404": "ts-9"},
    )
    assert await store.outbox_due(NOW + timedelta(hours=1)) == []
    assert await store.message_ref("run-1", m1.msg_key) == "ts-1"
    assert (await store.run_threads(["run-1"]))["run-1"] == "ts-1"
    # Marked again (a second worker) or another thread later: nothing changes.
    await store.outbox_sent_many([(m1.id, NOW, "other")], {"run-1": "ts-2"})
    assert await store.message_ref("run-1", m1.msg_key) == "ts-1"
    assert await store.run_threads(["run-1", "run-2"]) == {"run-1": "ts-1", "run-2": None}
