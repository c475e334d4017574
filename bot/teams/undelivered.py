"""A bell, a summary or a form that will not arrive: the chair hears of it, once.

The outbox fails a message for good when the platform refuses it (Slack
`channel_not_found`, `not_in_channel`, `is_archived`, `msg_too_long`; Telegram "chat not
found", "not enough rights") or its attempts run out. For most messages the failure in the
log and on the row is enough; a bell nobody heard, a summary nobody read or questions
nobody got change the meeting, so `Undelivered.failed` tells the team's chair (or else its
coordinator) in their private chat; when the private chat is what failed (or they are the
person the questions were for), in the team's channel. Once per run: a channel that is
gone fails every later bell too. The notice names no one and quotes nothing: the kind of
message, the kind of place and the platform's short error code (R-PRV).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.core.effects import Message, MessageKind
from bot.runtime.clock import Clock
from bot.runtime.outbox import message_to_json
from bot.runtime.replies import say
from bot.store.repo import QueuedMessage, Store

log = logging.getLogger("samen.undelivered")

# Message kinds worth telling the chair about, and the sentence for each.
TOLD: dict[str, str] = {
    MessageKind.bell.value: "undelivered.bell",
    MessageKind.process_bell.value: "undelivered.bell",
    MessageKind.summary.value: "undelivered.summary",
    MessageKind.form.value: "undelivered.form",
}
# Who hears of it, in this order of roles.
RECIPIENT_ROLES = ("chair", "coordinator")
PRIORITY = 2  # as a reply: before forms and reminders, after bells


class Undelivered:
    def __init__(
        self, store: Store, clock: Clock, notify_outbox: Callable[[], None] | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.notify_outbox = notify_outbox

    async def failed(self, row: QueuedMessage, reason: str) -> None:
        """The outbox gave up on `row` for `reason` (a short platform code)."""
        key = TOLD.get(row.kind)
        if key is None or row.op != "send":
            return  # an edit that failed leaves the message that did arrive
        team = await self.store.get_team(row.team_id)
        if team is None:
            return
        members = [m for m in await self.store.members(team.id) if m.left_at is None]
        chair = next(
            (m for role in RECIPIENT_ROLES for m in members if role in (m.roles or [])), None
        )
        if chair is None:
            log.info("outbox row %s undelivered: the team has no chair or coordinator", row.id)
            return
        private = row.destination.startswith("dm:")
        if private and row.destination != f"dm:{chair.user}":
            destination = f"dm:{chair.user}"
        elif private:
            destination = team.channel  # their own private chat is what failed
        else:
            destination = f"dm:{chair.user}"
        where = say(
            "undelivered.where.private" if private else "undelivered.where.channel", team.language
        )
        text = say(key, team.language, where=where, reason=reason or "?")
        message = Message(MessageKind.reply, text)
        once = f"undelivered:{row.run_id}" if row.run_id else f"undelivered:row:{row.id}"
        await self.store.commit_messages(
            outbox=[
                {
                    "team_id": team.id,
                    "platform": row.platform,
                    "destination": destination,
                    "op": "send",
                    "kind": message.kind.value,
                    "priority": PRIORITY,
                    "message": message_to_json(
                        message,
                        group=not destination.startswith("dm:"),
                        language=team.language,
                    ),
                    "idempotency_key": once,
                }
            ],
            now=self.clock.now(),
        )
        log.info("outbox row %s undelivered (%s): the chair is told", row.id, row.kind)
        if self.notify_outbox is not None:
            self.notify_outbox()
