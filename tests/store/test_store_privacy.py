"""Export, erasure, retention and the access log (R-PRV-4..7), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from adapters.console import ConsoleAdapter
from bot.core.loader import load_flow
from bot.runtime.clock import FakeClock
from bot.runtime.delivery import Delivery, DeliveryResult, Limits
from bot.runtime.outbox import Outbox
from bot.store import access_log, privacy
from bot.store.inbox import handled_payload
from bot.store.privacy import as_dict
from bot.store.repo import StepWrite, Store
from bot.store.tables import (
    AccessLogRow,
    AnswerRow,
    Base,
    EvaluationRow,
    EventRow,
    InboxRow,
    MemberRow,
    OutboxRow,
    PinnedMessageRow,
    PrivateChatRow,
    ReplyPromptRow,
    RunRow,
    StartLinkRow,
    TeamCadenceRow,
    TeamRow,
    TimerRow,
    TrajectoryRow,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MODELS: dict[str, type[Base]] = {
    "teams": TeamRow,
    "members": MemberRow,
    "runs": RunRow,
    "answers": AnswerRow,
    "events": EventRow,
    "trajectories": TrajectoryRow,
    "timers": TimerRow,
    "inbox": InboxRow,
    "outbox": OutboxRow,
    "access_log": AccessLogRow,
}

FLOW = """\
id: anoniem
title: {nl: Anoniem, en: Anonymous}
steps:
  - id: vraag
    collect:
      deadline: 1d
      questions:
        - id: gevoel
          type: text
          anonymous: true
          text: {nl: "Hoe gaat het?", en: "How are you?"}
        - id: open
          type: text
          text: {nl: "Iets anders?", en: "Anything else?"}
"""


def _state(run_id: str, members: list[str], answers: dict[str, str]) -> dict[str, Any]:
    return {
        "id": run_id,
        "members": [{"id": m, "name": m.title(), "roles": [], "absent": False} for m in members],
        "answers": {"vraag": {"gevoel": {m: {"value": v} for m, v in answers.items()}, "open": {}}},
        "asked": {"vraag": members},
        "timers": {"vraag:deadline": {"kind": "deadline"}},
    }


async def _run(
    store: Store,
    team_id: str,
    run_id: str,
    members: list[str],
    answers: dict[str, str],
    now: datetime = NOW,
) -> None:
    await store.commit_step(
        StepWrite(
            run_id=run_id,
            expected_version=None,
            run={
                "team_id": team_id,
                "flow_id": "anoniem",
                "status": "active",
                "state": _state(run_id, members, answers),
            },
            answers=[
                {"step": "vraag", "question": "gevoel", "member": m, "value": v}
                for m, v in answers.items()
            ],
            timers_new=[
                {
                    "timer": "vraag:deadline",
                    "kind": "deadline",
                    "due_at": now + timedelta(days=1),
                    "idempotency_key": f"{run_id}:deadline",
                }
            ],
            outbox=[
                {
                    "platform": "console",
                    "destination": f"dm:{m}",
                    "kind": "form",
                    "message": {"kind": "form", "text": "form"},
                    "idempotency_key": f"{run_id}:form:{m}",
                }
                for m in members
            ],
            now=now,
        )
    )


async def _world(store: Store) -> tuple[str, str]:
    """Two teams; anna is in both, bram only in the first; a run only anna takes part in.
    Anna and bram use Telegram too (`_telegram_state`)."""
    one = await store.team_for_channel("console", "team-1", now=NOW)
    two = await store.team_for_channel("console", "team-2", now=NOW)
    for team, user in ((one, "anna"), (one, "bram"), (two, "anna"), (two, "cees")):
        await store.upsert_member(team.id, user, user.title(), now=NOW)
    await _run(store, one.id, "run-1", ["anna", "bram"], {"anna": "moe", "bram": "goed"})
    await _run(store, two.id, "run-2", ["anna", "cees"], {"cees": "prima"})
    await _run(store, one.id, "run-solo", ["anna"], {"anna": "alleen"})
    for i, (channel, user) in enumerate((("team-1", "anna"), ("team-2", "cees"))):
        await store.inbox_put("console", f"e{i}", {"channel": channel, "user": user}, NOW)
    await store.add_event(one.id, "mdo", NOW + timedelta(days=2), created_by="anna", now=NOW)
    trajectory = await store.add_trajectory(one.id, "client-7", "bram", date(2026, 1, 5), now=NOW)
    assert trajectory is not None
    async with store.sessionmaker() as s, s.begin():
        # Anna (a coordinator, say) closed bram's plan review; team one has its own policy.
        s.add(
            EvaluationRow(
                id="ev-1",
                trajectory_id=trajectory.id,
                team_id=one.id,
                kind="plan_review",
                due_on=date(2026, 7, 5),
                status="done",
                done_by="anna",
                course="verder met het netwerk",
                history=[{"at": NOW.isoformat(), "what": "done", "by": "anna"}],
                created_at=NOW,
            )
        )
        s.add(TeamCadenceRow(team_id=one.id, policy={"plan": 6}, updated_at=NOW))
    await _telegram_state(store)
    await store.commit_messages(
        timers_new=[
            {
                "timer": "evaluation:ev-1:due",
                "kind": "evaluation",
                "due_at": NOW + timedelta(days=3),
                "idempotency_key": "evaluation:ev-1:due",
            },
            {
                "timer": f"schedule:weekstart:{one.id}",
                "kind": "schedule",
                "due_at": NOW + timedelta(days=4),
                "idempotency_key": "schedule:weekstart:one",
            },
            {
                "timer": f"schedule:weekstart:{two.id}",
                "kind": "schedule",
                "due_at": NOW + timedelta(days=4),
                "idempotency_key": "schedule:weekstart:two",
            },
        ],
        now=NOW,
    )
    return one.id, two.id


async def _telegram_state(store: Store) -> None:
    """What the Telegram adapter remembers of anna and bram: their private chat, the link
    to start the bot posted for them in their group, and the reply routing of a form in
    their private chat (its id is their user id); and of a form in the group itself."""
    group = await store.team_for_channel("telegram", "-100123", now=NOW)
    form = ("run-1", [[1, "vraag", "open", "text"]])
    for user in ("anna", "bram"):
        await store.set_private_chat("telegram", user, "blocked", NOW)
        await store.start_link_for("telegram", group.id, user, NOW)
        await store.save_reply_prompt("telegram", f"{user}:17", form, NOW)
    await store.save_reply_prompt("telegram", "-100123:18", form, NOW)


async def _table(store: Store, model: type[Base], *where: Any) -> list[dict[str, Any]]:
    async with store.sessionmaker() as s, s.begin():
        return [as_dict(r) for r in await s.scalars(select(model).where(*where))]


def _by_id(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {row["id"]: row for row in rows}


async def test_a_team_export_holds_every_row_of_the_team_and_hides_who_answered_anonymously(
    store: Store,
) -> None:
    one, _two = await _world(store)
    await _telegram_state(store)  # another team's: not in this export
    await store.start_link_for("console", one, "anna", NOW)
    await store.save_reply_prompt("console", "team-1:5", ("run-1", [[1, "vraag", "open"]]), NOW)
    await store.set_pinned_message("console", "team-1", "run-1", "5", NOW)
    flows = {"anoniem": load_flow(FLOW, "anoniem.yaml")}
    export = await privacy.export_team(store, one, actor="admin:test", flows=flows, now=NOW)
    run_ids = {"run-1", "run-solo"}
    expected = {
        "teams": await _table(store, TeamRow, TeamRow.id == one),
        "members": await _table(store, MemberRow, MemberRow.team_id == one),
        "runs": await _table(store, RunRow, RunRow.team_id == one),
        "answers": await _table(store, AnswerRow, AnswerRow.run_id.in_(run_ids)),
        "events": await _table(store, EventRow, EventRow.team_id == one),
        "trajectories": await _table(store, TrajectoryRow, TrajectoryRow.team_id == one),
        "evaluations": await _table(store, EvaluationRow, EvaluationRow.team_id == one),
        "team_cadences": await _table(store, TeamCadenceRow, TeamCadenceRow.team_id == one),
        "timers": await _table(store, TimerRow, TimerRow.run_id.in_(run_ids))
        + await _table(
            store,
            TimerRow,
            TimerRow.timer.in_(["evaluation:ev-1:due", f"schedule:weekstart:{one}"]),
        ),
        "inbox": [r for r in await _table(store, InboxRow) if r["payload"]["channel"] == "team-1"],
        "outbox": await _table(store, OutboxRow, OutboxRow.team_id == one),
        "start_links": await _table(store, StartLinkRow, StartLinkRow.team_id == one),
        "reply_prompts": await _table(store, ReplyPromptRow, ReplyPromptRow.run_id.in_(run_ids)),
        "pinned_messages": await _table(store, PinnedMessageRow),
    }
    assert all(expected[t] for t in ("start_links", "reply_prompts", "pinned_messages"))
    assert set(expected) | {"access_log"} == set(export) == set(privacy.EXPORT_TABLES)
    for table, rows in expected.items():
        if not rows or "id" not in rows[0]:  # keyed otherwise: compared whole
            assert export[table] == rows, table
            continue
        exported = _by_id(export[table])
        assert set(exported) == set(_by_id(rows)), table
        for row_id, row in _by_id(rows).items():
            if table == "answers" and row["question"] == "gevoel":
                assert exported[row_id] == {**row, "member": "anonymous", "answered_at": None}
            elif table == "runs":
                assert {k: v for k, v in exported[row_id].items() if k != "state"} == {
                    k: v for k, v in row.items() if k != "state"
                }
                gevoel = exported[row_id]["state"]["answers"]["vraag"]["gevoel"]
                assert not set(gevoel) & {"anna", "bram"}
                assert sorted(a["value"] for a in gevoel.values()) == sorted(
                    a["value"] for a in row["state"]["answers"]["vraag"]["gevoel"].values()
                )
            elif table == "inbox":  # routing only (bot.store.inbox.handled_payload)
                assert exported[row_id] == {**row, "payload": handled_payload(row["payload"])}
            else:
                assert exported[row_id] == row, table
    assert "anna" not in json.dumps([a["member"] for a in export["answers"]])
    csv_files = privacy.to_csv(export)
    assert set(csv_files) == {f"{t}.csv" for t in export}
    assert csv_files["answers.csv"].count("\n") == len(export["answers"]) + 1
    (logged,) = await _table(store, AccessLogRow)
    assert logged["action"] == "export" and logged["subject"] == f"team:{one}"
    assert "moe" not in json.dumps(logged)


async def test_a_person_export_holds_their_rows_in_every_team_and_nobody_elses_answers(
    store: Store,
) -> None:
    await _world(store)
    export = await privacy.export_person(store, "anna", actor="admin:test", now=NOW)
    assert {r["id"] for r in export["members"]} == {
        r["id"] for r in await _table(store, MemberRow, MemberRow.user == "anna")
    }
    # Stored by her pseudonym, found by it: her two answers, nobody else's.
    mine = await _table(store, AnswerRow, AnswerRow.member == store.pseudonym("anna"))
    assert export["answers"] == mine and {a["value"] for a in mine} == {"moe", "alleen"}
    assert {r["id"] for r in export["runs"]} == {"run-1", "run-2", "run-solo"}
    assert "goed" not in json.dumps(export) and "prima" not in json.dumps(export)
    assert {r["destination"] for r in export["outbox"]} == {"dm:anna"}
    assert len(export["inbox"]) == 1 and len(export["events"]) == 1
    assert [e["id"] for e in export["evaluations"]] == ["ev-1"]  # the one anna closed
    assert [(r["platform"], r["state"]) for r in export["private_chats"]] == [
        ("telegram", "blocked")
    ]
    assert [r["user"] for r in export["start_links"]] == ["anna"]
    assert [r["message"] for r in export["reply_prompts"]] == ["anna:17"]


async def _deliver(store: Store, *keys: str) -> dict[str, str]:
    """Mark the outbox rows with these idempotency keys sent, as the outbox would: each
    gets a platform ref (by key)."""
    refs = {}
    for row in await store.outbox_due(NOW + timedelta(days=30)):
        if row.idempotency_key in keys:
            refs[row.idempotency_key] = f"{row.destination}:{row.id}"
            await store.outbox_sent_many([(row.id, NOW, refs[row.idempotency_key])])
    assert set(refs) == set(keys)
    return refs


async def _deletes(store: Store) -> list[dict[str, Any]]:
    return await _table(store, OutboxRow, OutboxRow.op == "delete")


async def _run_outbox(store: Store, courier: Any) -> None:
    """The running Samen's outbox, until nothing is due (the clock moves a second a pass)."""
    clock = FakeClock(NOW)
    outbox = Outbox(store, {courier.platform: courier}, clock)
    for _ in range(30):
        await outbox.pump()
        await outbox.flush()
        if not await store.outbox_due(clock.now() + timedelta(minutes=5)):
            return
        await clock.advance(1)
    raise AssertionError("the outbox did not empty")


async def test_forget_leaves_no_row_of_the_person_and_cancels_the_timers_of_their_own_run(
    store: Store,
) -> None:
    await _world(store)
    # Anna's forms of run-1 and of her own run reached her; run-2's is still queued.
    refs = await _deliver(store, "run-1:form:anna", "run-solo:form:anna", "run-1:form:bram")
    result = await privacy.forget(store, "anna", actor="admin:test", on_behalf_of="anna", now=NOW)
    assert result.counts["runs"] == 1 and result.counts["runs_scrubbed"] == 2
    # Her delivered messages wait in the outbox for deletion on the platform...
    assert result.deletions_queued == 2
    queued = await _deletes(store)
    assert {d["platform_ref"] for d in queued} == {
        refs["run-1:form:anna"],
        refs["run-solo:form:anna"],
    }
    assert all("text" not in d["message"] for d in queued)
    # ... and the running outbox deletes them there, and then their rows.
    printed: list[str] = []
    await _run_outbox(store, ConsoleAdapter(out=printed.append))
    assert printed.count("[DM anna] (bericht verwijderd)") == 2
    assert await _deletes(store) == []
    async with store.sessionmaker() as s, s.begin():
        for model in [m.class_ for m in Base.registry.mappers]:  # every table, new ones too
            if model is AccessLogRow:
                continue
            for row in await s.scalars(select(model)):
                assert "anna" not in json.dumps(as_dict(row), default=str).lower(), model
        assert (
            await s.scalar(
                select(func.count()).select_from(TimerRow).where(TimerRow.run_id == "run-solo")
            )
            == 0
        )
        assert await s.get(RunRow, "run-solo") is None
    run = await store.load_run("run-1")
    assert run is not None and run.version == 1
    assert run.state["answers"]["vraag"]["gevoel"] == {"bram": {"value": "goed"}}
    gone = privacy.forgotten_id(store.db.audit, "anna")
    assert {"id": gone, "name": "", "roles": [], "absent": False, "left": True} in run.state[
        "members"
    ]
    assert [a["value"] for a in await _table(store, AnswerRow)] == ["goed", "prima"]
    # What Telegram's adapter remembers of her is gone; bram's, and the group's form, stay.
    assert (result.counts["private_chats"], result.counts["start_links"]) == (1, 1)
    assert result.counts["reply_prompts"] == 1
    assert [r["user"] for r in await _table(store, PrivateChatRow)] == ["bram"]
    assert [r["user"] for r in await _table(store, StartLinkRow)] == ["bram"]
    assert sorted(r["message"] for r in await _table(store, ReplyPromptRow)) == [
        "-100123:18",
        "bram:17",
    ]
    (logged,) = await _table(store, AccessLogRow)
    assert logged["action"] == "erase" and logged["on_behalf_of"] == "anna"
    assert "anna" not in logged["subject"]
    assert logged["what"].endswith("; platform deletions queued=2")


async def test_forget_queues_one_delete_per_message_delivered_to_the_person_and_no_other(
    store: Store,
) -> None:
    one, _ = await _world(store)
    await store.commit_messages(
        outbox=[
            {  # a reply addressed to anna in the team's channel
                "team_id": one,
                "platform": "console",
                "destination": "team-1",
                "op": "reply",
                "kind": "reply",
                "message": {"kind": "reply", "text": "Alleen de voorzitter", "user": "anna"},
                "idempotency_key": "reply:anna",
            },
            {  # her form of run-1 edited in place: the same message on the platform
                "team_id": one,
                "run_id": "run-1",
                "platform": "console",
                "destination": "dm:anna",
                "op": "edit",
                "kind": "form",
                "message": {"kind": "form", "text": "form"},
                "idempotency_key": "run-1:form:anna:edit",
            },
        ],
        now=NOW,
    )
    refs = await _deliver(
        store, "run-1:form:anna", "run-1:form:bram", "run-2:form:cees", "reply:anna"
    )
    async with store.sessionmaker() as s, s.begin():  # the edit carries the original's ref
        await s.execute(
            update(OutboxRow)
            .where(OutboxRow.idempotency_key == "run-1:form:anna:edit")
            .values(status="sent", platform_ref=refs["run-1:form:anna"])
        )
    result = await privacy.forget(store, "anna", actor="admin:test", now=NOW)
    assert result.deletions_queued == 2
    queued = {d["platform_ref"]: d for d in await _deletes(store)}
    assert set(queued) == {refs["run-1:form:anna"], refs["reply:anna"]}
    reply = queued[refs["reply:anna"]]
    assert (reply["destination"], reply["team_id"], reply["status"]) == ("team-1", one, "pending")
    assert reply["message"] == {
        "group": False,
        "language": "nl",
        "for": privacy.forgotten_id(store.db.audit, "anna"),
    }
    assert reply["run_id"] is None and reply["kind"] == "delete"
    # Other people's messages stay as they were.
    others = await _table(store, OutboxRow, OutboxRow.op != "delete")
    assert {o["idempotency_key"] for o in others} == {
        "run-1:form:bram",
        "run-2:form:cees",
    }
    # Forgetting again before the outbox ran keeps the queued deletes and adds none.
    again = await privacy.forget(store, "anna", actor="admin:test", now=NOW)
    assert again.deletions_queued == 0
    assert {d["platform_ref"] for d in await _deletes(store)} == set(queued)


async def test_a_deletion_the_platform_refuses_is_recorded_and_leaves_no_row_either(
    store: Store,
) -> None:
    await _world(store)
    await _deliver(store, "run-1:form:anna", "run-solo:form:anna")
    await privacy.forget(store, "anna", actor="admin:test", now=NOW)

    class Refusing:
        """A platform that deleted one message and will not delete the other."""

        platform, limits = "console", Limits(per_chat=(5, 1.0), overall=(50, 1.0))

        def __init__(self) -> None:
            self.calls: list[Delivery] = []

        async def deliver(self, delivery: Delivery) -> DeliveryResult:
            self.calls.append(delivery)
            if [d.op for d in self.calls].count("delete") != 2:
                return DeliveryResult.sent(ref=delivery.ref or f"m{delivery.id}")
            return DeliveryResult(failed="message_cant_be_deleted")

    courier = Refusing()
    await _run_outbox(store, courier)
    assert [d.op for d in courier.calls].count("delete") == 2  # each once, no retries
    assert await _deletes(store) == []
    erase, refused = await _table(store, AccessLogRow)
    assert refused["action"] == "erase" and refused["subject"] == erase["subject"]
    assert refused["what"] == ("platform message not deleted on console: message_cant_be_deleted")
    async with store.sessionmaker() as s, s.begin():
        for model in [m.class_ for m in Base.registry.mappers]:
            for row in await s.scalars(select(model)):
                assert "anna" not in json.dumps(as_dict(row), default=str).lower(), model


async def test_the_purge_removes_what_is_past_retention_and_keeps_the_rest(store: Store) -> None:
    one = (await store.team_for_channel("console", "team-1", now=NOW)).id
    old = NOW - timedelta(days=95)
    await _run(store, one, "run-old", ["anna"], {"anna": "oud"}, now=old)
    await _run(store, one, "run-new", ["anna"], {"anna": "nieuw"}, now=NOW - timedelta(days=5))
    async with store.sessionmaker() as s, s.begin():
        await s.execute(
            update(RunRow)
            .where(RunRow.id == "run-old")
            .values(status="done", finished_at=NOW - timedelta(days=91))
        )
    await store.inbox_put("console", "old", {"channel": "team-1"}, NOW - timedelta(days=8))
    await store.inbox_put("console", "new", {"channel": "team-1"}, NOW - timedelta(days=6))
    await store.inbox_put("console", "unhandled", {"channel": "team-1"}, NOW - timedelta(days=30))
    for row in await store.inbox_pending():
        if row.event_key != "unhandled":
            await store.inbox_done(row.id, row.received_at)
    await store.add_event(one, "mdo", NOW - timedelta(days=91), now=old)
    await store.add_event(one, "mdo", NOW - timedelta(days=10), now=old)
    for run_id in ("run-old", "run-new"):  # a form sent to anna's private chat in each run
        await store.save_reply_prompt("console", f"anna:{run_id}", (run_id, ["q"]), old)
    pressed, _ = await store.start_link_for("console", one, "anna", old)
    await store.use_start_links("console", "anna", NOW - timedelta(days=8))
    recent, _ = await store.start_link_for("console", one, "bert", old)
    await store.use_start_links("console", "bert", NOW - timedelta(days=6))
    waiting, _ = await store.start_link_for("console", one, "carla", old)
    flows = {"anoniem": load_flow(FLOW, "anoniem.yaml")}
    result = await privacy.purge(store, flows, now=NOW)
    assert result.counts["events"] == 1 and len(await store.events(one)) == 1
    assert result.counts["runs"] == 1 and result.counts["answers"] == 1
    assert result.counts["inbox"] == 1
    assert [a["value"] for a in await _table(store, AnswerRow)] == ["nieuw"]
    assert {r["event_key"] for r in await _table(store, InboxRow)} == {"new", "unhandled"}
    assert {r["id"] for r in await _table(store, RunRow)} == {"run-new"}
    assert [r["run_id"] for r in await _table(store, ReplyPromptRow)] == ["run-new"]
    assert {r["token"] for r in await _table(store, StartLinkRow)} == {recent, waiting}
    assert pressed not in (recent, waiting)
    assert result.counts["reply_prompts"] == 1 and result.counts["start_links"] == 1
    (logged,) = await _table(store, AccessLogRow)
    assert logged["action"] == "purge" and "answers=1" in logged["what"]


async def test_one_altered_row_of_the_access_log_breaks_verification_at_that_row(
    store: Store,
) -> None:
    async with store.sessionmaker() as s, s.begin():
        for i in range(4):
            await access_log.append(
                s, access_log.Access("read", f"answers of run r{i}", "team:t", "u1"), NOW
            )
    async with store.sessionmaker() as s, s.begin():
        verdict = await access_log.verify(s)
    assert verdict.ok and verdict.rows == 4
    async with store.sessionmaker() as s, s.begin():
        third = (await s.scalars(select(AccessLogRow.id).order_by(AccessLogRow.id))).all()[2]
        await s.execute(text("UPDATE access_log SET actor = 'u2' WHERE id = :id"), {"id": third})
    async with store.sessionmaker() as s, s.begin():
        verdict = await access_log.verify(s)
    assert not verdict.ok and verdict.broken_at == third
