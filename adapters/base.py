"""The Adapter contract: how a chat platform plugs into Samen, method by method.

An adapter translates in both directions and nothing more. Inbound, it turns a platform
payload into an `Inbound` (a stable event key for de-duplication plus a neutral payload)
and hands it to the shell, which stores it in the inbox BEFORE the adapter acknowledges
the platform (R-ING-3). Outbound, it turns a `Delivery` (a rendered `Message` for a chat)
into one platform call and reports a `DeliveryResult`; it never sleeps or retries on its
own — the outbox owns rate limits, 429 back-off and retries (R-OUT).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.effects import Message, QuestionView
from bot.runtime.delivery import Delivery, DeliveryResult, Limits

# Limits, Delivery and DeliveryResult are shared with the outbox, which may not import
# `adapters`: they are defined in bot/delivery.py and re-exported here, part of this contract.
__all__ = [
    "Adapter",
    "Delivery",
    "DeliveryResult",
    "Inbound",
    "InboundHandler",
    "Limits",
    "Message",
]


@dataclass(frozen=True, slots=True)
class Inbound:
    """A platform event in neutral form, ready for the inbox.

    `key` is unique per platform event (Slack `event_id`, Telegram `update_id`, a
    console counter) so that duplicates are absorbed. `kind` is one of "command",
    "answer", "bell", "joined", "left", "mention". `payload` holds ids and the values
    the shell needs; never logged.
    """

    platform: str
    key: str
    kind: str
    channel: str
    user: str
    payload: dict[str, Any] = field(default_factory=dict)
    user_name: str = ""


InboundHandler = Callable[[Inbound], Awaitable[None]]


class Adapter(Protocol):
    """A chat platform. Implementations: console, Slack, Telegram."""

    platform: str
    limits: Limits

    async def start(self, handler: InboundHandler) -> None:
        """Begin receiving; call `handler` for each inbound event and acknowledge the
        platform only after it returns (it has stored the event by then)."""
        ...

    async def stop(self) -> None:
        """Stop receiving and release connections. Idempotent."""
        ...

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Make one platform call for `delivery`. Must not sleep, retry or raise for
        platform errors: report them in the result (429 -> retry_after).

        Op "delete" removes the message `delivery.ref` names (Slack `chat.delete`,
        Telegram `deleteMessage`): a message that is gone already counts as deleted
        (`sent`); one the platform will not delete is `failed` with its reason code,
        never retried."""
        ...


def in_language(words: Mapping[str, Mapping[str, str]], key: str, language: str) -> str:
    """An adapter's own word `key` from its table per language: `language`, its base
    (nl-BE: nl), then Dutch."""
    table = words.get(language) or words.get(language.split("-")[0]) or words["nl"]
    return table[key]


def answer_choices(q: QuestionView, yes: str, no: str) -> list[tuple[str, str]]:
    """(value sent back, label shown) for each possible answer of a closed question: yes
    and no under the adapter's own words, a scale's numbers with their labels, or the
    options."""
    if q.type == "yesno":
        return [("yes", yes), ("no", no)]
    if q.type == "scale":
        low = q.min if q.min is not None else 1
        high = q.max if q.max is not None else 5
        labels = dict(q.labels)
        return [
            (str(n), f"{n} · {labels[n]}" if n in labels else str(n)) for n in range(low, high + 1)
        ]
    return [(o.id, o.label) for o in q.options]
