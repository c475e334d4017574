"""The outbox repository: messages waiting for delivery, in order per conversation (R-OUT).

Messages are inserted with `insert_messages` inside the transaction of the step or
command that writes them; a known idempotency key is skipped. A row changes state by
compare-and-set from pending, so a row another worker already settled stays as it is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.access_log import Access
from bot.store.access_log import append as append_access
from bot.store.database import Database, Repository, count_in, rowcount, short
from bot.store.sealed import bind_row
from bot.store.signals import OUTBOX_CHANNEL, notify
from bot.store.tables import OutboxRow, RunRow


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """An outbox row as `Store.outbox_due` reads it for delivery: every column of
    `OutboxRow`, as plain values the outbox worker may keep while the row changes."""

    id: int
    team_id: str | None  # None: a reply to someone in no team yet
    run_id: str | None
    platform: str
    destination: str
    op: str
    msg_key: str
    kind: str
    priority: int
    message: Mapping[str, Any]
    status: str
    attempts: int
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None
    platform_ref: str | None
    idempotency_key: str
    error: str


class OutboxRepository(Repository):
    """Outgoing messages: the due ones, and what became of each."""

    async def outbox_due(
        self,
        now: datetime,
        limit: int = 200,
        skip: Collection[tuple[str, str]] = (),
        known: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> list[QueuedMessage]:
        """Pending messages that may go out at `now`: by priority (bells first), then in the
        order they were written; none of the conversations (platform, destination) in
        `skip` (the worker knows none of theirs may go yet).

        `known`: the messages of rows the caller read before, by row id. A pending row's
        message never changes, so only the others are read (and opened): the worker
        reads its queue again after every call, and opening a backlog of a thousand
        sealed messages each time was most of its work (P7 in docs/performance.md)."""
        known = known or {}
        columns = [getattr(OutboxRow, f.name) for f in fields(QueuedMessage) if f.name != "message"]
        query = (
            select(*columns)
            .where(OutboxRow.status == "pending", OutboxRow.not_before <= now)
            .order_by(OutboxRow.priority, OutboxRow.id)
            .limit(limit)
        )
        if skip:
            query = query.where(
                tuple_(OutboxRow.platform, OutboxRow.destination).not_in(sorted(skip))
            )
        async with self.db.reading() as s:
            rows = [row._asdict() for row in (await s.execute(query)).all()]
            unknown = [row["id"] for row in rows if row["id"] not in known]
            read: dict[int, Mapping[str, Any]] = {}
            if unknown:
                messages = select(OutboxRow.id, OutboxRow.message).where(OutboxRow.id.in_(unknown))
                read = {id: message for id, message in (await s.execute(messages)).all()}
        return [
            QueuedMessage(
                **row, message=known[row["id"]] if row["id"] in known else read[row["id"]]
            )
            for row in rows
            if row["id"] in known or row["id"] in read  # not deleted in between
        ]

    async def outbox_sent_many(
        self,
        sent: Sequence[tuple[int, datetime, str | None]],
        threads: Mapping[str, str] | None = None,
    ) -> None:
        """Mark messages delivered - (id, when, the platform's id for it) each - and give
        runs the platform thread their first message opened, in one transaction. A row
        no longer pending and a run that has a thread already are left as they are."""
        async with self.db.writing() as s:
            if sent:  # an UPDATE by primary key per message, still pending
                await s.execute(
                    update(OutboxRow)
                    .where(OutboxRow.status == "pending")
                    .execution_options(synchronize_session=False),
                    [
                        {"id": i, "status": "sent", "sent_at": at, "platform_ref": ref}
                        for i, at, ref in sent
                    ],
                )
                await _forget_shown_answers(s, [i for i, _, _ in sent])
            if threads:
                await s.execute(
                    update(RunRow)
                    .where(RunRow.thread.is_(None))
                    .execution_options(synchronize_session=False),
                    [{"id": r, "thread": t} for r, t in threads.items()],
                )

    async def outbox_retry(self, id: int, not_before: datetime, error: str) -> bool:
        """Count a failed attempt and hold the message until `not_before`."""
        return await self._outbox_transition(
            id, not_before=not_before, error=short(error), attempts=OutboxRow.attempts + 1
        )

    async def outbox_hold(self, id: int, not_before: datetime, error: str) -> bool:
        """Hold the message until `not_before` without counting an attempt: its turn came
        outside its person's working hours (see bot/runtime/outbox.py)."""
        return await self._outbox_transition(id, not_before=not_before, error=short(error))

    async def outbox_failed(self, id: int, error: str) -> bool:
        """Give up on a message: the last attempt failed and no retries are left (R-OUT-3)."""
        return await self._outbox_transition(
            id, status="failed", error=short(error), attempts=OutboxRow.attempts + 1
        )

    async def outbox_drop(self, id: int, now: datetime, refused: str | None = None) -> bool:
        """Remove a pending delete row (op "delete", queued by `samen forget`) when it is
        done: the platform deleted the message or had it no more (`refused` None), or will
        not delete it, or the attempts ran out (`refused`: the reason code). The row names
        the person's chat, so it goes either way; a refusal is recorded in the access log
        (the platform and the reason code, under the forgotten person's placeholder), so
        that an erasure the platform did not complete shows. False if the row was not a
        pending delete (another worker settled it)."""
        async with self.db.writing() as s:
            row = await s.scalar(
                select(OutboxRow).where(
                    OutboxRow.id == id, OutboxRow.op == "delete", OutboxRow.status == "pending"
                )
            )
            if row is None:
                return False
            platform, subject = row.platform, str(row.message.get("for") or "unknown")
            result = await s.execute(
                delete(OutboxRow)
                .where(OutboxRow.id == id, OutboxRow.status == "pending")
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                return False
            if refused is not None:
                what = f"platform message not deleted on {platform}: {short(refused)}"
                await append_access(s, Access("erase", what, f"person:{subject}", "outbox"), now)
            return True

    async def outbox_wait_for_start(self, id: int, error: str) -> bool:
        """Park a pending message to a person who has not started the bot: it is not
        retried, and waits until `outbox_release` (R-OUT: no retries burnt on it)."""
        return await self._outbox_transition(id, status="waiting", error=short(error))

    async def outbox_release(self, platform: str, destination: str, now: datetime) -> int:
        """The messages parked for `destination` are pending again, due now (in their
        original order: the outbox sends a conversation by id)."""
        async with self.db.writing() as s:
            result = await s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.platform == platform,
                    OutboxRow.destination == destination,
                    OutboxRow.status == "waiting",
                )
                .values(status="pending", not_before=now, error="")
                .execution_options(synchronize_session=False)
            )
            return rowcount(result)

    async def message_ref(self, run_id: str, msg_key: str) -> str | None:
        """The platform's id of the message a run sent under `msg_key` (for edits)."""
        async with self.db.reading() as s:
            return await s.scalar(
                select(OutboxRow.platform_ref)
                .where(
                    OutboxRow.run_id == run_id,
                    OutboxRow.msg_key == msg_key,
                    OutboxRow.op == "send",
                    OutboxRow.status == "sent",
                )
                .order_by(OutboxRow.id.desc())
                .limit(1)
            )

    async def original_destination(self, run_id: str, msg_key: str) -> str | None:
        """Where the message first sent under `msg_key` went (edits go to the same chat)."""
        async with self.db.reading() as s:
            found = await s.scalar(
                select(OutboxRow.destination)
                .where(
                    OutboxRow.run_id == run_id, OutboxRow.msg_key == msg_key, OutboxRow.op == "send"
                )
                .order_by(OutboxRow.id)
                .limit(1)
            )
            return str(found) if found is not None else None

    async def outbox_backlog(self) -> int:
        """Messages still to deliver, due now or later."""
        async with self.db.reading() as s:
            return await count_in(s, OutboxRow, OutboxRow.status == "pending")

    async def _outbox_transition(self, id: int, **values: Any) -> bool:
        # Compare-and-set from pending: a row another worker already settled stays as it is.
        async with self.db.writing() as s:
            result = await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == id, OutboxRow.status == "pending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1


async def insert_messages(db: Database, s: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert outbox rows (`database.full_row`) in `s`'s transaction; one whose
    idempotency key is known is skipped."""
    if rows:
        await s.execute(
            db.insert(OutboxRow).on_conflict_do_nothing(index_elements=["idempotency_key"]),
            [bind_row(OutboxRow, row, insert=True) for row in rows],
        )
        await notify(s, OUTBOX_CHANNEL)  # the sender may be another process


async def _forget_shown_answers(s: AsyncSession, ids: Sequence[int]) -> None:
    """A delivered form keeps its platform id (for edits) but not the answers it showed
    back to the person (`questions[].current`): they are in `answers`, the one place an
    answer is kept, and an anonymous one is then not kept beside its person here. An edit
    is a message of its own, made from the run."""
    forms = (
        await s.execute(
            select(OutboxRow.id, OutboxRow.idempotency_key, OutboxRow.message).where(
                OutboxRow.id.in_(list(ids)), OutboxRow.kind == "form"
            )
        )
    ).all()
    changed = [
        bind_row(
            OutboxRow,
            {"id": i, "message": without_answers(message)},
            identity={"idempotency_key": key},
        )
        for i, key, message in forms
        if without_answers(message) != message
    ]
    if changed:
        await s.execute(update(OutboxRow).execution_options(synchronize_session=False), changed)


def without_answers(message: Any) -> Any:
    """A message without the answers a form shows back (`questions[].current`)."""
    if not isinstance(message, dict) or not isinstance(message.get("questions"), list):
        return message
    questions = [{**q, "current": None} if isinstance(q, dict) else q for q in message["questions"]]
    return {**message, "questions": questions}
