"""The database schema: every table Samen keeps, as SQLAlchemy 2 declarative models.

Alembic owns the schema in the database (`bot/store/migrations`); these models are what
the code reads and writes. Each migration is written out by hand, and a test checks that
the migrated database equals these models on SQLite and PostgreSQL. All times are stored
in UTC (`UTCDateTime` gives aware datetimes back on SQLite too). No column holds a
client's name: a trajectory carries only a pseudonymous reference (R-PRV-1).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.sealed import SealedJSON, SealedText, bind_on_flush


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Deterministic constraint names on every backend: later migrations can then drop or alter
# a constraint by name (SQLite's batch mode needs names; PostgreSQL would otherwise invent
# its own, different ones).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# Sealed values are bound to their rows (sealed.py): the ORM's own writes are bound here.
bind_on_flush(Base)

# An answer's row: its unique key, known before it is inserted (the id is not).
ANSWER_IDENTITY = ("run_id", "step", "question", "member")


class TeamRow(Base):
    """A channel or group that uses Samen, with its settings."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("platform", "channel"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))  # console | slack | telegram
    channel: Mapped[str] = mapped_column(String(128))  # the platform's channel/group id
    # The group's title or channel name: sealed (R-PRV-2), as it may name a client or a
    # family. Compared and sorted in Python, never in SQL (a sealed value cannot be).
    name: Mapped[str] = mapped_column(SealedText("teams.name", row=("id",)), default="")
    language: Mapped[str] = mapped_column(String(16), default="nl")
    address: Mapped[str] = mapped_column(String(4), default="je")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    work_days: Mapped[str] = mapped_column(String(32), default="1,2,3,4,5")  # ISO weekdays
    work_start: Mapped[str] = mapped_column(String(5), default="08:30")
    work_end: Mapped[str] = mapped_column(String(5), default="17:30")
    created_at: Mapped[datetime]


class MemberRow(Base):
    """A person in a team: their platform id, display name, roles and absence."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("team_id", "user"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    # The platform's user id. Indexed on its own: a person's rows over all their teams are
    # looked up by it (time zones learnt, DMs, forget).
    user: Mapped[str] = mapped_column(String(128), index=True)
    # The display name: sealed (R-PRV-2), so that a copy of the database does not name
    # who answered what.
    name: Mapped[str] = mapped_column(SealedText("members.name", row=("id",)), default="")
    roles: Mapped[list[Any]] = mapped_column(default=list)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    absent_until: Mapped[date | None] = mapped_column(Date, default=None)
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None] = mapped_column(default=None)


class RunRow(Base):
    """One run of a flow. `state` is the engine's Run as JSON; `version` guards writes."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    flow_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, Any]] = mapped_column(SealedJSON("runs.state", row=("id",)))  # R-PRV-2
    thread: Mapped[str | None] = mapped_column(String(128), default=None)  # platform thread
    parent_run: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AnswerRow(Base):
    """One member's answer to one question of a run (the current value; edits replace it)."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("run_id", "step", "question", "member"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(String(100))
    # The keyed pseudonym of the person who answered (`AuditKey.pseudonym`, "p-..."), never
    # their platform id: Samen delivers from members and run state, never from here, so a
    # copy of the database does not link answers to people without the key kept apart.
    member: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="value")
    value: Mapped[str] = mapped_column(
        SealedText("answers.value", row=ANSWER_IDENTITY), default=""
    )  # R-PRV-2
    answered_at: Mapped[datetime]


class EventRow(Base):
    """A registered visit, MDO or meeting that flows hang deadlines and triggers on."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    label: Mapped[str] = mapped_column(String(200), default="")  # never a client's name
    created_by: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime]
    # Member ids separated by spaces; empty: the flows' own participants.
    participants: Mapped[str] = mapped_column(String(2000), default="", server_default="")


class TrajectoryRow(Base):
    """A pseudonymous reference to a client's treatment, to hang evaluations on."""

    __tablename__ = "trajectories"
    __table_args__ = (UniqueConstraint("team_id", "client_ref"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    client_ref: Mapped[str] = mapped_column(String(128))  # a pseudonym, never a name
    owner: Mapped[str] = mapped_column(String(128))
    started_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class TimerRow(Base):
    """Every nudge and bell: the source of truth for time (R-SCH-3). APScheduler only
    arms in-memory jobs from pending rows; job arguments are the row id, nothing else."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_timers_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True, default=None
    )
    timer: Mapped[str] = mapped_column(String(200))  # the engine's timer id within the run
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    idempotency_key: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(String(200), default="")  # why skipped/failed; no text


class InboxRow(Base):
    """Inbound events, stored before they are acknowledged (R-ING-3); unique per platform
    event id so that retries and duplicates are absorbed (R-ING-1, -4)."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "event_key"),
        Index("ix_inbox_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("inbox.payload", row=("platform", "event_key"))
    )  # R-PRV-2
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | done | failed
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(String(200), default="")
    # Plain routing, read without opening the payload (None on rows stored before 0011):
    # the conversation the event belongs to, and the run an answer or a run's timer is for.
    conversation: Mapped[str | None] = mapped_column(String(250), default=None)
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)


class OutboxRow(Base):
    """Messages waiting for delivery, in order per destination, rate-limited (R-OUT)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_status_due", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # None: a reply to someone in no team yet, in their private chat.
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    platform: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(200))  # the platform's chat key
    op: Mapped[str] = mapped_column(String(8), default="send")  # send | edit | reply
    msg_key: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=5)  # lower goes first; bells 0
    # Sealed until purged: a queued summary is health data until (and after) it is sent.
    message: Mapped[dict[str, Any]] = mapped_column(
        SealedJSON("outbox.message", row=("idempotency_key",))
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    platform_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    idempotency_key: Mapped[str] = mapped_column(String(300))
    error: Mapped[str] = mapped_column(String(200), default="")


class EvaluationRow(Base):
    """An evaluation moment of a trajectory and what became of it (issue #7).

    Open rows are the plan; done and dropped rows are the history. `history` lists what
    happened to it ({"at", "what", "by"}: ids and words only)."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_team_status_due", "team_id", "status", "due_on"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trajectory_id: Mapped[str] = mapped_column(
        ForeignKey("trajectories.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | dropped
    snoozes: Mapped[int] = mapped_column(Integer, default=0)
    snoozed_until: Mapped[date | None] = mapped_column(Date, default=None)
    snooze_reason: Mapped[str] = mapped_column(  # free text: R-PRV-2
        SealedText("evaluations.snooze_reason", row=("id",)), default=""
    )
    on_mdo_agenda: Mapped[date | None] = mapped_column(Date, default=None)  # asked on
    outcome: Mapped[str] = mapped_column(String(16), default="")  # continue | close | transfer
    continue_until: Mapped[date | None] = mapped_column(Date, default=None)
    course: Mapped[str] = mapped_column(  # R-PRV-2
        SealedText("evaluations.course", row=("id",)), default=""
    )
    next_on: Mapped[date | None] = mapped_column(Date, default=None)
    done_by: Mapped[str | None] = mapped_column(String(128), default=None)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    history: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class TeamCadenceRow(Base):
    """A team's default evaluation policy (bot.core.cadence.Policy as JSON)."""

    __tablename__ = "team_cadences"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


# --------------------------------------------------------------------------- adapter state
# What a chat adapter must remember across restarts (Telegram: issue #5). None of these
# columns holds message text: callback data and reply routing are ids, a private chat's
# state is a word.


class CallbackTokenRow(Base):
    """Callback data longer than a platform allows (Telegram: 64 bytes), by its short token."""

    __tablename__ = "callback_tokens"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ReplyPromptRow(Base):
    """What a reply to a sent form answers: the run and its free questions (ids only)."""

    __tablename__ = "reply_prompts"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    message: Mapped[str] = mapped_column(String(128), primary_key=True)  # "<chat>:<message id>"
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    questions: Mapped[list[Any]]
    created_at: Mapped[datetime]


class PrivateChatRow(Base):
    """Whether the bot may write to a person privately: "open" after they started the bot,
    "blocked" while the platform refuses (Telegram: bots cannot write first)."""

    __tablename__ = "private_chats"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime]


class StartLinkRow(Base):
    """A deep link posted in a team's group for a person who has not started the bot;
    `used_at` is set when they pressed Start."""

    __tablename__ = "start_links"
    __table_args__ = (Index("ix_start_links_person", "platform", "team_id", "user"),)

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class PinnedMessageRow(Base):
    """The one status message a run keeps pinned in a group chat, edited in place."""

    __tablename__ = "pinned_messages"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_ref: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class AccessLogRow(Base):
    """Who read, exported or erased whose answers, when and for whom; never content
    (R-PRV-7). Each row's hash covers its fields and the previous row's hash."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(16))  # read | export | erase | purge
    what: Mapped[str] = mapped_column(String(200))  # e.g. "answers of run <id>", counts
    subject: Mapped[str] = mapped_column(String(128))  # whose data: "person:<id>", "team:<id>"
    actor: Mapped[str] = mapped_column(String(128))  # who: a user id or "admin:<os user>"
    on_behalf_of: Mapped[str] = mapped_column(String(128), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
