"""The access log (R-PRV-7, NEN 7513 style): append and verify a tamper-evident record.

Every read, export or erasure of answers by a person or an admin command is written here:
what, when, whose data, who, on whose behalf — never the content. Each row's hash is an
HMAC-SHA-256, under the audit key kept apart from the database (`sealed.AuditKey`), of
the previous row's hash and the row's own fields. Changing, inserting or deleting a row
in the middle breaks every hash after it, and without the key nobody can compute a
chain that holds: `verify` finds the first row that does not. Rows written before the
key existed (`AuditKey.legacy_rows`) were chained with plain SHA-256 and are checked so.

Cutting rows off the end leaves a chain that holds. That is what the anchor is for: the
number of rows and the last hash (`anchor`), printed by `samen audit anchor` for the
operator to keep outside Samen and written to the log at every daily purge. `verify`
with an anchor checks that the log still has that row with that hash.

Appends are serialised (SQLite: the write lock taken at BEGIN; PostgreSQL: a transaction
advisory lock), so two writers never chain onto the same previous hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.sealed import PSEUDONYM_PREFIX, AuditKey, audit_key_of
from bot.store.tables import AccessLogRow

GENESIS = "0" * 64
ACTIONS = ("read", "export", "erase", "purge")
_PG_LOCK = 0x5A4D454E  # any constant; names this chain's advisory lock


@dataclass(frozen=True)
class Access:
    """One entry to record. `subject` is whose data ("person:<user>", "team:<id>"); a
    person's id is stored as their keyed pseudonym (`pseudonymous`)."""

    action: str
    what: str
    subject: str
    actor: str
    on_behalf_of: str = ""


def _canonical(prev: str, at: datetime, access: Access) -> bytes:
    fields = {
        "prev": prev,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": access.action,
        "what": access.what,
        "subject": access.subject,
        "actor": access.actor,
        "on_behalf_of": access.on_behalf_of,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def row_hash(prev: str, at: datetime, access: Access) -> str:
    """The plain SHA-256 link of rows written before the audit key existed."""
    return hashlib.sha256(_canonical(prev, at, access)).hexdigest()


def row_mac(key: bytes, prev: str, at: datetime, access: Access) -> str:
    """A row's link: HMAC-SHA-256 under the audit key."""
    return hmac.new(key, _canonical(prev, at, access), hashlib.sha256).hexdigest()


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
    audit = audit_key_of(session.get_bind().dialect)
    trimmed = _trimmed(access, audit)
    await session.execute(
        insert(AccessLogRow).values(
            at=at,
            action=trimmed.action,
            what=trimmed.what,
            subject=trimmed.subject,
            actor=trimmed.actor,
            on_behalf_of=trimmed.on_behalf_of,
            prev_hash=prev,
            hash=row_mac(audit.key, prev, at, trimmed),
        )
    )


def _trimmed(access: Access, audit: AuditKey) -> Access:
    return Access(
        access.action,
        access.what[:200],
        pseudonymous(access.subject, audit)[:128],
        pseudonymous(access.actor, audit)[:128],
        access.on_behalf_of[:128],
    )


FORGOTTEN = "forgotten-"


def pseudonymous(party: str, audit: AuditKey) -> str:
    """Whose data or who read it, with a person's platform id replaced by their keyed
    pseudonym: "person:<id>" and a person's chat as an audience ("audience:dm:<id>",
    "audience:<Telegram user id>"). Teams, admins and the outbox stay as they are; an
    erased person's placeholder ("forgotten-<pseudonym>") becomes their pseudonym."""
    kind, _, rest = party.partition(":")
    if kind == "person" and rest and not rest.startswith(PSEUDONYM_PREFIX):
        if rest.startswith(FORGOTTEN):
            return f"person:{PSEUDONYM_PREFIX}{rest[len(FORGOTTEN) :]}"
        return f"person:{audit.pseudonym(rest)}"
    if kind == "audience":
        if rest.startswith("dm:") and not rest[3:].startswith(PSEUDONYM_PREFIX):
            return f"audience:dm:{audit.pseudonym(rest[3:])}"
        if rest.isdigit():  # a Telegram private chat's id is its person's user id
            return f"audience:{audit.pseudonym(rest)}"
    return party


@dataclass(frozen=True)
class Anchor:
    """What the operator keeps outside Samen: how many rows, and the last row's hash."""

    rows: int
    head: str

    def __str__(self) -> str:
        return f"{self.rows}:{self.head}"

    @classmethod
    def parse(cls, text_: str) -> Anchor:
        match = re.fullmatch(r"\s*(\d+):([0-9a-f]{64})\s*", text_)
        if match is None:
            raise ValueError(
                "an anchor is <rows>:<hash> as `samen audit anchor` prints it, e.g. 12:" + "0" * 64
            )
        return cls(int(match.group(1)), match.group(2))


@dataclass(frozen=True)
class Verdict:
    rows: int
    broken_at: int | None  # the id of the first row whose hash does not hold
    problem: str = ""  # what is wrong, for the operator (no content)

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.problem


async def anchor(session: AsyncSession) -> Anchor:
    """The current anchor: the row count and the last hash."""
    rows = await session.scalar(select(func.count()).select_from(AccessLogRow)) or 0
    head = await session.scalar(select(AccessLogRow.hash).order_by(AccessLogRow.id.desc()).limit(1))
    return Anchor(int(rows), head or GENESIS)


async def verify(
    session: AsyncSession, audit: AuditKey | None = None, kept: Anchor | None = None
) -> Verdict:
    """Walk the chain from the start: the first row whose link fails breaks it. With an
    anchor kept outside Samen, the log must still hold that many rows, the last of them
    with that hash (a cut tail, or a chain rebuilt from the start, fails here)."""
    audit = audit or audit_key_of(session.get_bind().dialect)
    prev = GENESIS
    count = 0
    at_anchor: str | None = GENESIS if kept is not None and kept.rows == 0 else None
    for row in await session.scalars(select(AccessLogRow).order_by(AccessLogRow.id)):
        count += 1
        access = Access(row.action, row.what, row.subject, row.actor, row.on_behalf_of)
        if count <= audit.legacy_rows:
            expected = row_hash(prev, row.at, access)
        else:
            expected = row_mac(audit.key, prev, row.at, access)
        if row.prev_hash != prev or not hmac.compare_digest(row.hash, expected):
            return Verdict(count, row.id, f"row {row.id} does not match its chain")
        prev = row.hash
        if kept is not None and count == kept.rows:
            at_anchor = row.hash
    if kept is not None:
        if count < kept.rows:
            return Verdict(
                count,
                None,
                f"the log has {count} rows, the anchor {kept.rows}: rows were cut off the end",
            )
        if at_anchor != kept.head:
            return Verdict(
                count, None, f"row {kept.rows} does not have the anchor's hash: the log was rebuilt"
            )
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
