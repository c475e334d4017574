"""People who have not started the bot yet (Telegram: a bot cannot write first).

When the outbox parks a private message because its person never pressed Start
(`DeliveryResult.blocked_until_start`), `StartLinks.blocked` posts ONE message in the
team's group that names them by first name and holds a deep link
(`https://t.me/<bot>?start=<token>`), in the team's language. Further parked questions
for the same person post nothing new while that link is open. When they press Start
(`/start <token>` in their private chat, or any first private message), the inbox calls
`StartLinks.started`: their links are used and the messages parked for them are pending
again, in their original order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from bot.core.effects import Message, MessageKind
from bot.runtime.clock import Clock
from bot.runtime.delivery import TOPIC_THREAD
from bot.runtime.outbox import message_to_json
from bot.runtime.replies import say
from bot.store.repo import QueuedMessage, Store

log = logging.getLogger("samen.starts")

PRIORITY = 2  # as a reply: before forms and reminders, after bells and meeting status


class StartLinks:
    def __init__(
        self, store: Store, clock: Clock, notify_outbox: Callable[[], None] | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.notify_outbox = notify_outbox

    async def blocked(self, row: QueuedMessage, courier: object) -> None:
        """The outbox parked `row`: make sure the person is asked, once, to press Start."""
        make_link = getattr(courier, "start_link", None)
        if not row.destination.startswith("dm:") or make_link is None:
            return
        user = row.destination[3:]
        team = await self.store.get_team(row.team_id) if row.team_id is not None else None
        if team is None:
            return
        now = self.clock.now()
        token, new = await self.store.start_link_for(row.platform, team.id, user, now)
        if not new:
            return  # the link is already in the group, waiting to be pressed
        member = await self.store.get_member(team.id, user)
        name = _first_name(member.name if member is not None else "") or user
        text = say("start_needed", team.language, name=name, link=make_link(token))
        message = Message(MessageKind.reply, text)
        # A run started in a forum topic: its start link goes into that topic too.
        thread = (
            (await self.store.run_threads([row.run_id])).get(row.run_id) if row.run_id else None
        )
        topic = thread[len(TOPIC_THREAD) :] if thread and thread.startswith(TOPIC_THREAD) else None
        await self.store.commit_messages(
            outbox=[
                {
                    "team_id": team.id,
                    "platform": row.platform,
                    "destination": team.channel,
                    "op": "send",
                    "kind": message.kind.value,
                    "priority": PRIORITY,
                    "message": message_to_json(
                        message, group=True, user=user, language=team.language, topic=topic
                    ),
                    "idempotency_key": f"start-link:{token}",
                }
            ],
            now=now,
        )
        log.info("start link posted for outbox row %s", row.id)
        if self.notify_outbox is not None:
            self.notify_outbox()

    async def started(self, platform: str, user: str, payload: Mapping[str, Any]) -> int:
        """`user` opened their private chat: deliver what waited. Returns how many."""
        now = self.clock.now()
        await self.store.use_start_links(platform, user, now)
        released = await self.store.outbox_release(platform, f"dm:{user}", now)
        if released:
            log.info("%d parked messages released", released)
            if self.notify_outbox is not None:
                self.notify_outbox()
        return released


def _first_name(name: str) -> str:
    return name.strip().split(" ")[0] if name.strip() else ""
