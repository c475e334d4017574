"""Data subject rights and retention: export a person's or a team's data, erase a person,
purge what is past its retention. Each is recorded in the access log (R-PRV-4..7).

These are admin operations (the `samen export / forget / purge` commands and the daily
retention timer). They read whole tables in a few short transactions; answers are opened
by the store layer like everywhere else. Logs carry counts and ids only.

Anonymous questions (`anonymous: true` in a flow) never reveal who answered: a team
export writes "anonymous" instead of the member, in the answers table and in run state
(sorted by value, so their order gives nobody away). A team export carries no answer
beside a person elsewhere either: inbox events as their routing only (what a handled
event keeps anyway, see `bot.store.inbox.handled_payload`), queued forms without the
answers they show back. A person's own export does include their own anonymous
answers: it is their data.

Answers are stored by the keyed pseudonym of their person (bot/store/pseudonyms.py): a
person's export and erasure find them by it, and a team export shows each one by the
member it is of (the pseudonyms of the team's members, computed with the key).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.model import Flow, Question
from bot.store import access_log
from bot.store.access_log import Access, pseudonymous
from bot.store.inbox import handled_payload
from bot.store.outbox import without_answers
from bot.store.pseudonyms import FORGOTTEN_PREFIX, pseudonyms_of
from bot.store.repo import Store
from bot.store.sealed import PSEUDONYM_PREFIX, AuditKey
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

log = logging.getLogger(__name__)

INBOX_DAYS = 7  # inbox (the dedupe record) and delivered messages
DEFAULT_RETENTION_DAYS = 90
EVALUATION_DAYS = 730  # a closed trajectory and its evaluation texts: two years
ANONYMOUS = "anonymous"
EXPORT_TABLES = (
    "teams",
    "members",
    "runs",
    "answers",
    "events",
    "trajectories",
    "evaluations",
    "team_cadences",
    "timers",
    "inbox",
    "outbox",
    "start_links",
    "reply_prompts",
    "pinned_messages",
    "access_log",
)


def as_dict(row: Base) -> dict[str, Any]:
    """A row as JSON-ready values (datetimes and dates as ISO text)."""
    out: dict[str, Any] = {}
    for attr in inspect(type(row)).column_attrs:
        value = getattr(row, attr.key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        out[attr.key] = value
    return out


# ---------------------------------------------------------------------- export


def anonymous_questions(flows: Mapping[str, Flow]) -> set[tuple[str, str, str]]:
    """(flow id, step id, question id) of every anonymous question."""
    found: set[tuple[str, str, str]] = set()
    for flow in flows.values():
        for step in flow.steps:
            for question in _questions(step):
                if question.anonymous:
                    found.add((flow.id, step.id, question.id))
    return found


def _questions(step: Any) -> list[Question]:
    found: list[Question] = []
    for body_name in ("ask", "collect", "phase", "round"):
        body = getattr(step, body_name, None)
        if body is None:
            continue
        single = getattr(body, "question", None)
        if isinstance(single, Question):
            found.append(single)
        found.extend(q for q in getattr(body, "questions", ()) if isinstance(q, Question))
    return found


async def export_team(
    store: Store,
    team_id: str,
    *,
    actor: str,
    on_behalf_of: str = "",
    flows: Mapping[str, Flow] | None = None,
    now: datetime,
) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about a team, table by table; the export is logged."""
    anonymous = anonymous_questions(flows or {})
    async with store.db.writing() as s:
        team = await s.get(TeamRow, team_id)
        if team is None:
            raise LookupError(f"no team with id {team_id}")
        runs = list(await s.scalars(select(RunRow).where(RunRow.team_id == team_id)))
        run_ids = [r.id for r in runs]
        flow_of = {r.id: r.flow_id for r in runs}
        answers = list(await s.scalars(select(AnswerRow).where(AnswerRow.run_id.in_(run_ids))))
        members = list(await s.scalars(select(MemberRow).where(MemberRow.team_id == team_id)))
        # Answers are stored by pseudonym: shown by the member they are of.
        people = pseudonyms_of((m.user for m in members), store.db.audit)
        evaluations = list(
            await s.scalars(select(EvaluationRow).where(EvaluationRow.team_id == team_id))
        )
        # The team's own timers besides its runs': evaluation moments and scheduled flows.
        shell_timers = {f"evaluation:{e.id}" for e in evaluations}
        out: dict[str, list[dict[str, Any]]] = {
            "teams": [as_dict(team)],
            "members": _dicts(members),
            "runs": [_run_for_team(r, anonymous) for r in runs],
            "answers": [_answer_for_team(a, flow_of, anonymous, people) for a in answers],
            "events": _dicts(await s.scalars(select(EventRow).where(EventRow.team_id == team_id))),
            "trajectories": _dicts(
                await s.scalars(select(TrajectoryRow).where(TrajectoryRow.team_id == team_id))
            ),
            "evaluations": [as_dict(e) for e in evaluations],
            "team_cadences": _dicts(
                await s.scalars(select(TeamCadenceRow).where(TeamCadenceRow.team_id == team_id))
            ),
            "timers": _dicts(await s.scalars(select(TimerRow).where(TimerRow.run_id.in_(run_ids))))
            + [
                as_dict(t)
                for t in await s.scalars(select(TimerRow).where(TimerRow.run_id.is_(None)))
                if _timer_of_team(t.timer, team_id, shell_timers)
            ],
            # Events and messages without what people typed: an event's routing only,
            # a form without the answers it showed back to the person who gave them.
            "inbox": [
                {**as_dict(r), "payload": handled_payload(r.payload)}
                for r in await s.scalars(select(InboxRow))
                if _inbox_of_team(r, team, run_ids)
            ],
            "outbox": [
                {**as_dict(r), "message": without_answers(r.message)}
                for r in await s.scalars(select(OutboxRow).where(OutboxRow.team_id == team_id))
            ],
            # What the Telegram adapter keeps for the team: links to start the bot posted
            # in its group, the routing of replies to its runs' forms, pinned statuses.
            "start_links": _dicts(
                await s.scalars(select(StartLinkRow).where(StartLinkRow.team_id == team_id))
            ),
            "reply_prompts": _dicts(
                await s.scalars(select(ReplyPromptRow).where(ReplyPromptRow.run_id.in_(run_ids)))
            ),
            "pinned_messages": _dicts(
                await s.scalars(
                    select(PinnedMessageRow).where(PinnedMessageRow.run_id.in_(run_ids))
                )
            ),
            "access_log": _dicts(
                await s.scalars(
                    select(AccessLogRow).where(AccessLogRow.subject == f"team:{team_id}")
                )
            ),
        }
        await access_log.append(
            s,
            Access(
                "export",
                _counted("team export", _sizes(out)),
                f"team:{team_id}",
                actor,
                on_behalf_of,
            ),
            now,
        )
    log.info("exported team %s", team_id)
    return out


async def export_person(
    store: Store, user: str, *, actor: str, on_behalf_of: str = "", now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about one person (a platform user id), in every team."""
    audit = store.db.audit
    async with store.db.writing() as s:
        runs = [r for r in await s.scalars(select(RunRow)) if _mentions(r.state, user)]
        out: dict[str, list[dict[str, Any]]] = {
            "members": _dicts(await s.scalars(select(MemberRow).where(MemberRow.user == user))),
            "runs": [_run_for_person(r, user) for r in runs],
            "answers": _dicts(await s.scalars(select(AnswerRow).where(_answers_of(store, user)))),
            "events": _dicts(await s.scalars(select(EventRow).where(EventRow.created_by == user))),
            "trajectories": _dicts(
                await s.scalars(select(TrajectoryRow).where(TrajectoryRow.owner == user))
            ),
            "evaluations": _dicts(
                await s.scalars(
                    select(EvaluationRow).where(
                        or_(
                            EvaluationRow.done_by == user,
                            EvaluationRow.trajectory_id.in_(
                                select(TrajectoryRow.id).where(TrajectoryRow.owner == user)
                            ),
                        )
                    )
                )
            ),
            "inbox": [
                as_dict(r) for r in await s.scalars(select(InboxRow)) if _inbox_of_user(r, user)
            ],
            "outbox": [as_dict(r) for r in await s.scalars(select(OutboxRow)) if _to_user(r, user)],
            "private_chats": _dicts(
                await s.scalars(select(PrivateChatRow).where(PrivateChatRow.user == user))
            ),
            "start_links": _dicts(
                await s.scalars(select(StartLinkRow).where(StartLinkRow.user == user))
            ),
            "reply_prompts": _dicts(
                await s.scalars(select(ReplyPromptRow).where(_prompt_of_user(user)))
            ),
            "access_log": _dicts(
                await s.scalars(
                    select(AccessLogRow).where(
                        or_(
                            AccessLogRow.subject == pseudonymous(f"person:{user}", audit),
                            AccessLogRow.actor.in_(
                                [
                                    pseudonymous(f"audience:dm:{user}", audit),
                                    pseudonymous(f"audience:{user}", audit),
                                ]
                            ),
                        )
                    )
                )
            ),
        }
        await access_log.append(
            s,
            Access(
                "export",
                _counted("person export", _sizes(out)),
                f"person:{user}",
                actor,
                on_behalf_of,
            ),
            now,
        )
    log.info("exported a person's data (%d answers)", len(out["answers"]))
    return out


def to_json(export: Mapping[str, list[dict[str, Any]]]) -> str:
    return json.dumps(export, ensure_ascii=False, indent=1, sort_keys=True, default=str)


def to_csv(export: Mapping[str, list[dict[str, Any]]]) -> dict[str, str]:
    """One CSV text per table (file name -> content); nested values as JSON."""
    files: dict[str, str] = {}
    for table, rows in export.items():
        buffer = io.StringIO()
        columns = sorted({key for row in rows for key in row})
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: json.dumps(v, ensure_ascii=False, sort_keys=True)
                    if isinstance(v, dict | list)
                    else v
                    for k, v in row.items()
                }
            )
        files[f"{table}.csv"] = buffer.getvalue()
    return files


# ---------------------------------------------------------------------- erasure


@dataclass
class Erasure:
    """What `forget` removed (counts only), and how many of the messages Samen delivered
    to the person it queued for deletion on the platform (the running outbox deletes
    them; see `forget`)."""

    counts: dict[str, int] = field(default_factory=dict)
    deletions_queued: int = 0

    def add(self, key: str, count: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + count


def forgotten_id(audit: AuditKey, user: str) -> str:
    """What an erased person's id is replaced by: keyed, so that one who knows the id
    cannot find its placeholder (nor check a guess) without the key kept apart."""
    return FORGOTTEN_PREFIX + audit.pseudonym(user).removeprefix(PSEUDONYM_PREFIX)


async def forget(
    store: Store, user: str, *, actor: str, on_behalf_of: str = "", now: datetime
) -> Erasure:
    """Erase a person: their member rows, answers, inbox events, the messages to them,
    their place in every run (runs that were only theirs are deleted with their timers;
    in shared runs their answers go and their id is replaced by a placeholder, marked
    left, so no reminder reaches them). One transaction; recorded in the access log.

    Messages Samen delivered to them (sent, with a platform ref) are deleted on the
    platform too: for each, one outbox row with op "delete" is queued in the same
    transaction. It holds the message's platform ref, the conversation it went to (so
    that the delete keeps that chat's rate limits; for a direct message that is the
    person's chat) and no text; the running outbox makes the call and then removes the
    row, also when the platform refuses (recorded in the access log, see
    `Store.outbox_drop`). Until then those rows name the person's chat: with Samen
    stopped, they wait for its next start."""
    result = Erasure()
    placeholder = forgotten_id(store.db.audit, user)
    async with store.db.writing() as s:
        # The names they were known by, to find them in stored messages (summaries).
        names = {
            n for n in await s.scalars(select(MemberRow.name).where(MemberRow.user == user)) if n
        }
        # Before the runs: a run that was only theirs takes its messages along. Deletes
        # queued by an earlier erasure stay queued.
        to_them = [
            r for r in await s.scalars(select(OutboxRow)) if r.op != "delete" and _to_user(r, user)
        ]
        deletes = _deletes_for(to_them, placeholder, now)
        if to_them:
            result.add(
                "outbox",
                await _delete(
                    s, delete(OutboxRow).where(OutboxRow.id.in_([r.id for r in to_them]))
                ),
            )
            for gone in to_them:  # SQLite may give a new row the id of a deleted one
                s.expunge(gone)
        known = set(
            await s.scalars(
                select(OutboxRow.idempotency_key).where(
                    OutboxRow.idempotency_key.in_([d.idempotency_key for d in deletes])
                )
            )
        )
        for row in deletes:
            if row.idempotency_key not in known:  # queued before by an earlier erasure
                s.add(row)
                result.deletions_queued += 1
        for run in list(await s.scalars(select(RunRow))):
            if not _mentions(run.state, user):
                continue
            people = {m.get("id") for m in run.state.get("members", [])}
            if people <= {user}:
                result.add("timers", await _cancel_and_drop_run(s, run.id))
                result.add("runs", 1)
                continue
            run.state = _scrub_state(run.state, user, placeholder)
            run.version += 1
            run.updated_at = now
            result.add("runs_scrubbed", 1)
        for run in list(await s.scalars(select(RunRow))):  # a token of theirs, e.g. a timer
            scrubbed = _scrub_tokens(run.state, user, placeholder)
            if scrubbed != run.state:
                run.state = scrubbed
                run.version += 1
                run.updated_at = now
        result.add("answers", await _delete(s, delete(AnswerRow).where(_answers_of(store, user))))
        # Stored messages that name them (a summary, an overview): their lines go, their
        # name and id are replaced; what went out already is on the platform (docs).
        for row in list(await s.scalars(select(OutboxRow).where(OutboxRow.op != "delete"))):
            message = _message_without(row.message, user, names, placeholder)
            if message != row.message:
                row.message = message
                result.add("messages_rewritten", 1)
        # Their timers: pending ones cancelled, their id out of the names.
        for timer in list(await s.scalars(select(TimerRow))):
            if _token(user).search(timer.timer) or _token(user).search(timer.idempotency_key):
                if timer.status == "pending":
                    timer.status = "cancelled"
                    result.add("timers", 1)
                timer.timer = _token(user).sub(placeholder, timer.timer)
                timer.idempotency_key = _token(user).sub(placeholder, timer.idempotency_key)
        # Events they take part in, and other people's events that mention them.
        for event in list(await s.scalars(select(EventRow))):
            people = event.participants.split()
            if user in people:
                event.participants = " ".join(p for p in people if p != user)
                result.add("events_scrubbed", 1)
        for row in list(await s.scalars(select(InboxRow))):
            payload = _scrub_tokens(row.payload, user, placeholder, names)
            if payload != row.payload:
                row.payload = payload
                result.add("inbox_scrubbed", 1)
        result.add("members", await _delete(s, delete(MemberRow).where(MemberRow.user == user)))
        inbox_ids = [r.id for r in await s.scalars(select(InboxRow)) if _inbox_of_user(r, user)]
        if inbox_ids:
            result.add(
                "inbox", await _delete(s, delete(InboxRow).where(InboxRow.id.in_(inbox_ids)))
            )
        # What a chat adapter remembers of them (Telegram): their private chat, the links
        # to start the bot posted for them, the reply routing of forms in their private chat.
        result.add(
            "private_chats",
            await _delete(s, delete(PrivateChatRow).where(PrivateChatRow.user == user)),
        )
        result.add(
            "start_links", await _delete(s, delete(StartLinkRow).where(StartLinkRow.user == user))
        )
        result.add(
            "reply_prompts",
            await _delete(s, delete(ReplyPromptRow).where(_prompt_of_user(user))),
        )
        await s.execute(update(EventRow).where(EventRow.created_by == user).values(created_by=None))
        await s.execute(
            update(TrajectoryRow).where(TrajectoryRow.owner == user).values(owner=placeholder)
        )
        for evaluation in await s.scalars(select(EvaluationRow)):
            if evaluation.done_by == user or _mentions(evaluation.history, user):
                if evaluation.done_by == user:
                    evaluation.done_by = placeholder
                evaluation.history = _replace(evaluation.history, user, placeholder)
                result.add("evaluations_scrubbed", 1)
        await access_log.append(
            s,
            Access(
                "erase",
                _counted("forget", result.counts)
                + f"; platform deletions queued={result.deletions_queued}",
                f"person:{placeholder}",
                actor,
                on_behalf_of,
            ),
            now,
        )
    await _let_go_of_deleted_pages(store)
    log.info(
        "%s; %d platform deletions queued",
        _counted("forgot a person", result.counts),
        result.deletions_queued,
    )
    return result


async def _let_go_of_deleted_pages(store: Store) -> None:
    """SQLite: copy the WAL into the database and empty it, so that the deleted rows'
    old pages are not left in the WAL file (deleted content in the database itself is
    overwritten: `PRAGMA secure_delete`, set on every connection)."""
    if store.dialect != "sqlite":
        return
    async with store.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await conn.rollback()


def _token(user: str) -> re.Pattern[str]:
    """The person's id as a whole token in a text ("remind:anna:1", "@anna", "dm:anna")."""
    return re.compile(rf"(?<![\w-]){re.escape(user)}(?![\w-])")


def _scrub_tokens(value: Any, user: str, placeholder: str, names: Iterable[str] = ()) -> Any:
    """`value` with the person's id replaced wherever it is a token (keys and texts too),
    and their display names blanked."""
    pattern = _token(user)
    blanks = [re.compile(rf"(?<!\w){re.escape(n)}(?!\w)") for n in names if n]

    def scrub(v: Any) -> Any:
        if isinstance(v, dict):
            return {scrub(k): scrub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [scrub(x) for x in v]
        if isinstance(v, str):
            v = pattern.sub(placeholder, v)
            for blank in blanks:
                v = blank.sub("…", v)
        return v

    return scrub(value)


def _message_without(message: Any, user: str, names: Iterable[str], placeholder: str) -> Any:
    """A stored message without the person: a line that starts with their name (their
    answer in a summary, "• Anna: ...") goes; their name and id elsewhere are replaced."""
    if not isinstance(message, dict):
        return message
    text_ = message.get("text")
    if isinstance(text_, str):
        kept = [
            line
            for line in text_.split("\n")
            if not any(line.lstrip("• ").startswith(f"{n}:") for n in names if n)
        ]
        message = {**message, "text": "\n".join(kept)}
    return _scrub_tokens(message, user, placeholder, names)


DELETE_PRIORITY = 8  # after every message that is still to go out (bells are 0)


def _deletes_for(rows: list[OutboxRow], placeholder: str, now: datetime) -> list[OutboxRow]:
    """One delete row per message delivered to the person (an edited message has one
    ref for the original and its edits): its platform ref, where it went, no text."""
    out: dict[tuple[str, str], OutboxRow] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.status != "sent" or not row.platform_ref:
            continue
        if (row.platform, row.platform_ref) in out:
            continue
        message = row.message if isinstance(row.message, dict) else {}
        digest = hashlib.sha256(f"{row.platform}:{row.platform_ref}".encode()).hexdigest()
        out[(row.platform, row.platform_ref)] = OutboxRow(
            team_id=row.team_id,
            run_id=None,
            platform=row.platform,
            destination=row.destination,
            op="delete",
            msg_key="",
            kind="delete",
            priority=DELETE_PRIORITY,
            # No text; `for` is the placeholder the access log knows the erasure by.
            message={
                "group": bool(message.get("group", False)),
                "language": str(message.get("language") or "nl"),
                "for": placeholder,
            },
            status="pending",
            attempts=0,
            not_before=now,
            created_at=now,
            platform_ref=row.platform_ref,
            idempotency_key=f"delete:{digest[:40]}",
            error="",
        )
    return list(out.values())


async def _cancel_and_drop_run(s: AsyncSession, run_id: str) -> int:
    cancelled = await _delete(
        s,
        update(TimerRow)
        .where(TimerRow.run_id == run_id, TimerRow.status == "pending")
        .values(status="cancelled"),
    )
    await s.execute(delete(AnswerRow).where(AnswerRow.run_id == run_id))
    await s.execute(delete(TimerRow).where(TimerRow.run_id == run_id))
    await s.execute(delete(OutboxRow).where(OutboxRow.run_id == run_id))
    await s.execute(delete(RunRow).where(RunRow.id == run_id))
    return cancelled


def _scrub_state(state: dict[str, Any], user: str, placeholder: str) -> dict[str, Any]:
    """The run state without the person's answers and name, their id replaced."""
    state = json.loads(json.dumps(state))
    for questions in state.get("answers", {}).values():
        for by_member in questions.values():
            by_member.pop(user, None)
    for member in state.get("members", []):
        if member.get("id") == user:
            member.update(name="", left=True)
    replaced: dict[str, Any] = _replace(state, user, placeholder)
    return replaced


def _timer_of_team(name: str, team_id: str, evaluation_timers: set[str]) -> bool:
    """A run-less timer of the team: `evaluation:<id>:...` or `schedule:<flow>:<team>`."""
    if name.startswith("schedule:"):
        return name.rsplit(":", 1)[-1] == team_id
    return ":".join(name.split(":", 2)[:2]) in evaluation_timers


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {(new if k == old else k): _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return new if value == old else value


# ---------------------------------------------------------------------- retention


@dataclass
class Purge:
    counts: dict[str, int] = field(default_factory=dict)


async def purge(
    store: Store, flows: Mapping[str, Flow], *, now: datetime, actor: str = "retention"
) -> Purge:
    """Delete what is past its retention (R-PRV-4): answers older than their flow's
    `retention_days` (90 for a flow that is gone), ended runs that ended that long ago
    (with their timers and messages), registered events 90 days after they took place,
    and after 7 days handled inbox events (the dedupe record), delivered messages of runs
    that ended or belong to none, and start links pressed that long ago; reply prompts
    (which form a reply in a private chat answers) go with their run. Closed trajectories
    go two years after they closed, with their evaluation texts; in open ones, the texts
    of moments done two years ago are blanked. Runs still going lose the answers past
    their retention from their state and delivered messages. Counts only are logged and
    recorded in the access log, with the access log's anchor."""
    result = Purge()
    async with store.db.writing() as s:
        runs = (
            await s.execute(select(RunRow.id, RunRow.flow_id, RunRow.status, RunRow.finished_at))
        ).all()
        by_days: dict[int, list[str]] = {}
        ended_old: list[str] = []
        for run_id, flow_id, status, finished_at in runs:
            flow = flows.get(flow_id)
            days = flow.retention_days if flow is not None else DEFAULT_RETENTION_DAYS
            by_days.setdefault(days, []).append(run_id)
            old = finished_at is not None and finished_at < now - timedelta(days=days)
            if status != "active" and old:
                ended_old.append(run_id)
        answers = 0
        for days, ids in by_days.items():
            answers += await _delete(
                s,
                delete(AnswerRow).where(
                    AnswerRow.run_id.in_(ids), AnswerRow.answered_at < now - timedelta(days=days)
                ),
            )
        result.counts["answers"] = answers
        if ended_old:
            await s.execute(delete(TimerRow).where(TimerRow.run_id.in_(ended_old)))
            await s.execute(delete(OutboxRow).where(OutboxRow.run_id.in_(ended_old)))
            await s.execute(delete(AnswerRow).where(AnswerRow.run_id.in_(ended_old)))
            result.counts["runs"] = await _delete(s, delete(RunRow).where(RunRow.id.in_(ended_old)))
        else:
            result.counts["runs"] = 0
        result.counts["events"] = await _delete(  # visits and meetings long past
            s, delete(EventRow).where(EventRow.at < now - timedelta(days=DEFAULT_RETENTION_DAYS))
        )
        week_ago = now - timedelta(days=INBOX_DAYS)
        result.counts["inbox"] = await _delete(
            s, delete(InboxRow).where(InboxRow.received_at < week_ago, InboxRow.status != "new")
        )
        active = select(RunRow.id).where(RunRow.status == "active")
        result.counts["outbox"] = await _delete(
            s,
            delete(OutboxRow).where(
                OutboxRow.created_at < week_ago,
                OutboxRow.status != "pending",
                or_(OutboxRow.run_id.is_(None), OutboxRow.run_id.not_in(active)),
            ),
        )
        result.counts["timers"] = await _delete(
            s,
            delete(TimerRow).where(
                TimerRow.status != "pending",
                TimerRow.handled_at < week_ago,
                or_(TimerRow.run_id.is_(None), TimerRow.run_id.not_in(active)),
            ),
        )
        # What a reply to a sent form answers, kept by the person's chat and message: of
        # no use once its run is gone (purged now or before).
        result.counts["reply_prompts"] = await _delete(
            s, delete(ReplyPromptRow).where(ReplyPromptRow.run_id.not_in(select(RunRow.id)))
        )
        # A start link pressed more than a week ago is only a record of who pressed it.
        result.counts["start_links"] = await _delete(
            s, delete(StartLinkRow).where(StartLinkRow.used_at < week_ago)
        )
        # Closed trajectories and what was written about them (the course, snooze
        # reasons): two years after the last evaluation closed them.
        result.counts["trajectories"] = await _purge_closed_trajectories(s, now)
        result.counts["evaluation_texts"] = await _blank_old_evaluation_texts(s, now)
        # Running runs keep their own copies of answers (the run state, forms and
        # summaries in the outbox): those past the flow's retention go too.
        result.counts["answers_in_runs"] = await _purge_running_runs(s, flows, now)
        what = _counted("retention purge", result.counts)
        await access_log.append(s, Access("purge", what, "all", actor), now)
        # The anchor in the log, daily: kept outside the database, it shows a cut tail.
        kept = await access_log.anchor(s)
    log.info("%s", what)
    log.info("access log anchor %s", kept)
    return result


async def _purge_closed_trajectories(s: AsyncSession, now: datetime) -> int:
    """Delete trajectories closed (not open) more than `EVALUATION_DAYS` ago, with their
    evaluation moments (course, snooze reasons) and the moments' timers. A trajectory's
    closing is its last evaluation's, or its creation when it has none."""
    closed = list(await s.scalars(select(TrajectoryRow).where(TrajectoryRow.status != "open")))
    if not closed:
        return 0
    last_done = dict(
        (
            await s.execute(
                select(EvaluationRow.trajectory_id, func.max(EvaluationRow.done_at)).group_by(
                    EvaluationRow.trajectory_id
                )
            )
        ).all()
    )
    cutoff = now - timedelta(days=EVALUATION_DAYS)
    old = [t.id for t in closed if (last_done.get(t.id) or t.created_at) < cutoff]
    if not old:
        return 0
    return await _delete_trajectories(s, old)


async def _blank_old_evaluation_texts(s: AsyncSession, now: datetime) -> int:
    """In trajectories still open: the course and snooze reason of evaluation moments
    done (or dropped) more than `EVALUATION_DAYS` ago are blanked."""
    cutoff = now - timedelta(days=EVALUATION_DAYS)
    blanked = 0
    for moment in await s.scalars(
        select(EvaluationRow).where(EvaluationRow.status != "open", EvaluationRow.done_at < cutoff)
    ):
        if moment.course or moment.snooze_reason:
            moment.course, moment.snooze_reason = "", ""
            blanked += 1
    return blanked


async def _delete_trajectories(s: AsyncSession, old: list[str]) -> int:
    moments = list(
        await s.scalars(select(EvaluationRow.id).where(EvaluationRow.trajectory_id.in_(old)))
    )
    for moment in moments:
        await s.execute(
            delete(TimerRow)
            .where(TimerRow.run_id.is_(None), TimerRow.timer.startswith(f"evaluation:{moment}:"))
            .execution_options(synchronize_session=False)
        )
    await s.execute(
        delete(EvaluationRow)
        .where(EvaluationRow.trajectory_id.in_(old))
        .execution_options(synchronize_session=False)
    )
    return await _delete(s, delete(TrajectoryRow).where(TrajectoryRow.id.in_(old)))


async def _purge_running_runs(s: AsyncSession, flows: Mapping[str, Flow], now: datetime) -> int:
    """In runs still going: answers in the run state older than the flow's retention are
    dropped, and delivered forms and summaries of that age lose the answers they showed
    (their platform ids stay, for later edits). How many answers left run states."""
    dropped = 0
    for run in list(await s.scalars(select(RunRow).where(RunRow.status == "active"))):
        flow = flows.get(run.flow_id)
        cutoff = now - timedelta(
            days=flow.retention_days if flow is not None else DEFAULT_RETENTION_DAYS
        )
        state, gone = _state_without_answers_before(run.state, cutoff)
        if gone:
            run.state = state
            run.version += 1
            run.updated_at = now
            dropped += gone
        for row in list(
            await s.scalars(
                select(OutboxRow).where(
                    OutboxRow.run_id == run.id,
                    OutboxRow.status != "pending",
                    OutboxRow.created_at < cutoff,
                )
            )
        ):
            message = without_answers(row.message)
            if isinstance(message, dict) and message.get("kind") == "summary":
                message = {**message, "text": ""}
            if message != row.message:
                row.message = message
    return dropped


def _state_without_answers_before(
    state: dict[str, Any], cutoff: datetime
) -> tuple[dict[str, Any], int]:
    """The run state without answers given before `cutoff`; how many went."""
    gone = 0
    answers: dict[str, Any] = {}
    for step, questions in (state.get("answers") or {}).items():
        answers[step] = {}
        for question, by_member in questions.items():
            kept = {}
            for member, answer in by_member.items():
                at = answer.get("answered_at") if isinstance(answer, dict) else None
                when = _parsed(at)
                if when is not None and when < cutoff:
                    gone += 1
                else:
                    kept[member] = answer
            answers[step][question] = kept
    if not gone:
        return state, 0
    return {**state, "answers": answers}, gone


def _parsed(moment: Any) -> datetime | None:
    if not isinstance(moment, str):
        return None
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------- helpers


def _dicts(rows: Any) -> list[dict[str, Any]]:
    return [as_dict(r) for r in rows]


def _counted(what: str, counts: Mapping[str, int]) -> str:
    """What an export, erasure or purge did, as logged and recorded in the access log:
    "forget: answers=3, members=1" (counts only, never content)."""
    return f"{what}: " + ", ".join(f"{key}={n}" for key, n in sorted(counts.items()))


def _sizes(out: Mapping[str, list[Any]]) -> dict[str, int]:
    return {key: len(rows) for key, rows in out.items()}


async def _delete(s: AsyncSession, statement: Any) -> int:
    result = await s.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _mentions(value: Any, user: str) -> bool:
    if isinstance(value, dict):
        return any(k == user or _mentions(v, user) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions(v, user) for v in value)
    return isinstance(value, str) and value == user


def _inbox_of_user(row: InboxRow, user: str) -> bool:
    return isinstance(row.payload, dict) and bool(row.payload.get("user") == user)


def _inbox_of_team(row: InboxRow, team: TeamRow, run_ids: list[str]) -> bool:
    payload = row.payload if isinstance(row.payload, dict) else {}
    if row.platform == "timer":
        return payload.get("run_id") in run_ids
    if payload.get("run") in run_ids:
        return True
    return row.platform == team.platform and payload.get("channel") == team.channel


def _prompt_of_user(user: str) -> Any:
    """The reply routing of forms in the person's private chat: a prompt is keyed by
    "<chat>:<message id>", and a private chat's id is its person's user id (Telegram).
    A form in a group names nobody (its run and question ids only)."""
    return ReplyPromptRow.message.startswith(f"{user}:", autoescape=True)


def _to_user(row: OutboxRow, user: str) -> bool:
    """A message to the person: to their private chat, or addressed to them in the team's
    channel (a reply to what they did, the link to start the bot)."""
    if row.destination in (user, f"dm:{user}"):
        return True
    return isinstance(row.message, dict) and row.message.get("user") == user


def _run_for_team(run: RunRow, anonymous: set[tuple[str, str, str]]) -> dict[str, Any]:
    out = as_dict(run)
    state = json.loads(json.dumps(run.state))
    for step, questions in state.get("answers", {}).items():
        for question, by_member in list(questions.items()):
            if (run.flow_id, step.split("~")[0], question) in anonymous:
                # Sorted and without their moment, which would match a person's event.
                unnamed = [
                    {**a, "answered_at": None} if isinstance(a, dict) else a
                    for a in by_member.values()
                ]
                values = sorted(unnamed, key=lambda a: json.dumps(a, sort_keys=True))
                questions[question] = {f"{ANONYMOUS}-{i + 1}": a for i, a in enumerate(values)}
    out["state"] = state
    return out


def _answer_for_team(
    answer: AnswerRow,
    flow_of: Mapping[str, str],
    anonymous: set[tuple[str, str, str]],
    people: Mapping[str, str],
) -> dict[str, Any]:
    """An answer as a team export shows it: by the member it is of (`people`: pseudonym
    -> platform id; one no longer in the team as stored), or "anonymous"."""
    out = as_dict(answer)
    if (flow_of.get(answer.run_id), answer.step.split("~")[0], answer.question) in anonymous:
        out.update(member=ANONYMOUS, answered_at=None)
    else:
        out["member"] = people.get(answer.member, answer.member)
    return out


def _answers_of(store: Store, user: str) -> Any:
    """A person's answers: stored by their pseudonym (and by their platform id, should a
    row from before pseudonyms be left; `Store.open` converts those)."""
    return AnswerRow.member.in_([store.pseudonym(user), user])


def _run_for_person(run: RunRow, user: str) -> dict[str, Any]:
    """Their part of a run: ids, and their own answers; others' answers are left out."""
    answers = {
        step: {q: {user: by[user]} for q, by in questions.items() if user in by}
        for step, questions in run.state.get("answers", {}).items()
    }
    return {
        "id": run.id,
        "team_id": run.team_id,
        "flow_id": run.flow_id,
        "status": run.status,
        "created_at": run.created_at.isoformat(),
        "answers": {k: v for k, v in answers.items() if v},
    }


def utc_now() -> datetime:
    return datetime.now(UTC)
