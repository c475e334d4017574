"""The values the outbox and the adapters exchange: limits, one delivery, its result.

They live in `bot` (not in `adapters/base.py`, which re-exports them) because the outbox
builds `Delivery` values and reads `Limits` and `DeliveryResult`, and `bot` may not import
`adapters` outside the composition root (ARCHITECTURE.md, tests/test_architecture.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.effects import Message

# A run's thread that names a place inside its channel rather than a message: a Telegram
# forum topic ("topic:<message_thread_id>"), set when the run was started in one. Every
# message of the run goes there (`Delivery.topic`).
TOPIC_THREAD = "topic:"


@dataclass(frozen=True, slots=True)
class Limits:
    """Delivery limits a platform declares; the outbox never exceeds them (R-OUT-1).

    Rates are messages per `per` seconds. `per_chat` applies to every destination,
    `per_group` additionally to group chats (Telegram: 20 per 60 s), `overall` to the
    whole bot or workspace (Slack: a configurable cap, default 8/s; Telegram: 30/s).
    Deletions (op "delete") pass the same windows, and `deletes` besides when the
    platform limits its delete method on its own (Slack: `chat.delete` is a Tier 3
    method, about 50 a minute per workspace).
    """

    per_chat: tuple[int, float] = (1, 1.0)
    per_group: tuple[int, float] | None = None
    overall: tuple[int, float] = (8, 1.0)
    deletes: tuple[int, float] | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbound operation, as the outbox hands it to an adapter.

    `chat` is the platform's conversation key (a channel id, or a user id for a direct
    message); `thread` the platform's thread reference when the message belongs in a
    run's thread; `ref` the platform id of the message to edit (op "edit") or to delete
    (op "delete": `samen forget` removes what Samen sent a person; its message is empty).
    A delete of a message that is gone already is `sent`; one the platform does not
    allow (too old, no right) is `failed` with the platform's reason code.
    """

    id: int
    op: str  # "send" | "edit" | "reply" | "delete"
    chat: str
    message: Message
    thread: str | None = None
    ref: str | None = None
    group: bool = False  # a group chat (for per-group limits)
    user: str | None = None  # the person a reply is for (ephemeral where supported)
    run: str | None = None  # the run the message belongs to (answer buttons carry it)
    language: str = "nl"  # the team's language, for the words an adapter adds (buttons)
    topic: str | None = None  # the forum topic of the group the message belongs in


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What came of a delivery. Exactly one of: ok, retry_after, failed,
    blocked_until_start."""

    ok: bool = False
    ref: str | None = None  # the platform's id of the new message (for later edits)
    thread: str | None = None  # set when this message opened a thread
    retry_after: float | None = None  # the platform said 429: wait at least this long
    failed: str | None = None  # a permanent failure, with a reason (no message text)
    # A private chat the person never opened (Telegram: bots cannot write first). Not a
    # failure and not retried: the outbox parks the message until they start the bot.
    blocked_until_start: bool = False

    @staticmethod
    def sent(ref: str | None = None, thread: str | None = None) -> DeliveryResult:
        return DeliveryResult(ok=True, ref=ref, thread=thread)
