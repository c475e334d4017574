"""The adapter state repository: what a chat adapter remembers across restarts.

Callback data longer than a platform allows (by short token), what a reply to a sent
form answers, whether the bot may write to a person privately, the links to start the
bot posted for people, and each run's pinned status message. Ids and words only: none
of it is message text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from bot.store.database import Repository, rowcount
from bot.store.tables import (
    CallbackTokenRow,
    PinnedMessageRow,
    PrivateChatRow,
    ReplyPromptRow,
    StartLinkRow,
)


class AdapterStateRepository(Repository):
    """Callback tokens, reply prompts, private chats, start links, pinned messages."""

    async def save_callback_tokens(
        self, platform: str, tokens: Mapping[str, str], now: datetime
    ) -> None:
        """Remember what short callback tokens stand for (a token's data never changes)."""
        if not tokens:
            return
        async with self.db.writing() as s:
            await s.execute(
                self.db.insert(CallbackTokenRow).on_conflict_do_nothing(
                    index_elements=["platform", "token"]
                ),
                [
                    {"platform": platform, "token": t, "data": d, "created_at": now}
                    for t, d in tokens.items()
                ],
            )

    async def callback_tokens(self, platform: str, tokens: Iterable[str]) -> dict[str, str]:
        """The data of those `tokens` that are known (unknown ones are left out)."""
        wanted = sorted(set(tokens))
        if not wanted:
            return {}
        async with self.db.reading() as s:
            rows = await s.execute(
                select(CallbackTokenRow.token, CallbackTokenRow.data).where(
                    CallbackTokenRow.platform == platform, CallbackTokenRow.token.in_(wanted)
                )
            )
            return {token: data for token, data in rows}

    async def save_reply_prompt(
        self,
        platform: str,
        message: str,
        prompt: tuple[str, list[Any]] | None,
        now: datetime,
    ) -> None:
        """What a reply to `message` answers: (run id, its free questions as JSON); None
        forgets it (the form closed)."""
        async with self.db.writing() as s:
            await s.execute(
                delete(ReplyPromptRow).where(
                    ReplyPromptRow.platform == platform, ReplyPromptRow.message == message
                )
            )
            if prompt is not None:
                run_id, questions = prompt
                s.add(
                    ReplyPromptRow(
                        platform=platform,
                        message=message,
                        run_id=run_id,
                        questions=questions,
                        created_at=now,
                    )
                )

    async def reply_prompt(self, platform: str, message: str) -> tuple[str, list[Any]] | None:
        """(run id, free questions) of a form message, or None."""
        async with self.db.reading() as s:
            row = await s.get(ReplyPromptRow, (platform, message))
            return (row.run_id, list(row.questions)) if row is not None else None

    async def set_private_chat(self, platform: str, user: str, state: str, now: datetime) -> None:
        """Record whether the bot may write to `user` privately: "open" or "blocked"."""
        if state not in ("open", "blocked"):
            raise ValueError("a private chat is 'open' or 'blocked'")
        async with self.db.writing() as s:
            await s.execute(
                self.db.insert(PrivateChatRow)
                .values(platform=platform, user=user, state=state, updated_at=now)
                .on_conflict_do_update(
                    index_elements=["platform", "user"],
                    set_={"state": state, "updated_at": now},
                )
            )

    async def private_chat(self, platform: str, user: str) -> str | None:
        """ "open", "blocked", or None when the bot never tried or heard."""
        async with self.db.reading() as s:
            row = await s.get(PrivateChatRow, (platform, user))
            return row.state if row is not None else None

    async def start_link_for(
        self, platform: str, team_id: str, user: str, now: datetime
    ) -> tuple[str, bool]:
        """The open deep-link token of `user` in a team: (token, True) when it is new and
        should be posted, (token, False) when one is already waiting to be pressed."""
        async with self.db.writing() as s:
            token = await s.scalar(
                select(StartLinkRow.token)
                .where(
                    StartLinkRow.platform == platform,
                    StartLinkRow.team_id == team_id,
                    StartLinkRow.user == user,
                    StartLinkRow.used_at.is_(None),
                )
                .order_by(StartLinkRow.created_at)
                .limit(1)
            )
            if token is not None:
                return token, False
            token = uuid.uuid4().hex
            s.add(
                StartLinkRow(
                    token=token, platform=platform, team_id=team_id, user=user, created_at=now
                )
            )
            return token, True

    async def use_start_links(self, platform: str, user: str, now: datetime) -> int:
        """`user` pressed Start: every open link of theirs is used. Returns how many."""
        async with self.db.writing() as s:
            result = await s.execute(
                update(StartLinkRow)
                .where(
                    StartLinkRow.platform == platform,
                    StartLinkRow.user == user,
                    StartLinkRow.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            return rowcount(result)

    async def start_link(self, token: str) -> StartLinkRow | None:
        async with self.db.reading() as s:
            return await s.get(StartLinkRow, token)

    async def pinned_message(self, platform: str, chat: str, run_id: str) -> str | None:
        """The platform ref of the status message `run_id` keeps pinned in `chat`."""
        async with self.db.reading() as s:
            row = await s.get(PinnedMessageRow, (platform, chat, run_id))
            return row.message_ref if row is not None else None

    async def set_pinned_message(
        self, platform: str, chat: str, run_id: str, message_ref: str, now: datetime
    ) -> None:
        async with self.db.writing() as s:
            await s.execute(
                self.db.insert(PinnedMessageRow)
                .values(
                    platform=platform,
                    chat=chat,
                    run_id=run_id,
                    message_ref=message_ref,
                    created_at=now,
                )
                .on_conflict_do_update(
                    index_elements=["platform", "chat", "run_id"],
                    set_={"message_ref": message_ref},
                )
            )
