"""The access log (R-PRV-7, NEN 7513 style): append and verify a hash-chained record.

Every read, export or erasure of answers by a person or an admin command is written here:
what, when, whose data, who, on whose behalf — never the content. Each row's hash is the
SHA-256 of the previous row's hash and the row's own fields, so changing, inserting or
deleting a row in the middle breaks every hash after it; `verify` finds the first one.

Appends are serialised (SQLite: the write lock taken at BEGIN; PostgreSQL: a transaction
advisory lock), so two writers never chain onto the same previous hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import AccessLogRow

GENESIS = "0" * 64
ACTIONS = ("read", "export", "erase", "purge")
_PG_LOCK = 0x5A4D454E  # any constant; names this chain's advisory lock


@dataclass(frozen=True)
class Access:
    """One entry to record. `subject` is whose data ("person:<user>", "team:<id>")."""

    action: str
    what: str
    subject: str
    actor: str
    on_behalf_of: str = ""


def row_hash(prev: str, at: datetime, access: Access) -> str:
    fields = {
        "prev": prev,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": access.action,
        "what": access.what,
        "subject": access.subject,
        "actor": access.actor,
        "on_behalf_of": access.on_behalf_of,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


async def append(session: AsyncSession, access: Access, now: datetime) -> None:
    """Add `access` to the chain inside the caller's (write) transaction, so the record
    and what it records commit together."""
    if access.action not in ACTIONS:
        raise ValueError(f"access action must be one of {', '.join(ACTIONS)}")
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    prev = await session.scalar(select(AccessLogRow.hash).order_by(AccessLogRow.id.desc()).limit(1))
    prev = prev or GENESIS
    at = now.astimezone(UTC)
    trimmed = _trimmed(access)
    await session.execute(
        insert(AccessLogRow).values(
            at=at,
            action=trimmed.action,
            what=trimmed.what,
            subject=trimmed.subject,
            actor=trimmed.actor,
            on_behalf_of=trimmed.on_behalf_of,
            prev_hash=prev,
            hash=row_hash(prev, at, trimmed),
        )
    )


def _trimmed(access: Access) -> Access:
    return Access(
        access.action,
        access.what[:200],
        access.subject[:128],
        access.actor[:128],
        access.on_behalf_of[:128],
    )


@dataclass(frozen=True)
class Verdict:
    rows: int
    broken_at: int | None  # the id of the first row whose hash does not hold

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify(session: AsyncSession) -> Verdict:
    """Walk the chain from the start; the first row whose hash or link fails breaks it."""
    prev = GENESIS
    count = 0
    for row in await session.scalars(select(AccessLogRow).order_by(AccessLogRow.id)):
        count += 1
        access = Access(row.action, row.what, row.subject, row.actor, row.on_behalf_of)
        if row.prev_hash != prev or row.hash != row_hash(prev, row.at, access):
            return Verdict(count, row.id)
        prev = row.hash
    return Verdict(count, None)


def disclosures(team_id: str, run_id: str, outbox: Sequence[Mapping[str, Any]]) -> list[Access]:
    """Access entries for the summaries among a step's outgoing messages: answers shown to
    people (the destination's audience: a thread, a channel or one person's chat)."""
    return [
        Access(
            "read",
            f"summary of run {run_id} ({row.get('msg_key', '')})",
            f"team:{team_id}",
            f"audience:{row.get('destination', '')}",
        )
        for row in outbox
        if row.get("kind") == "summary" and row.get("op", "send") != "edit"
    ]
