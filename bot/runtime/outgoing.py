"""Outgoing: effects of a step turned into outbox and timer rows, and replies to a person.

Nothing here talks to a platform: rows go to the outbox table in the same transaction as
the step or the handled inbox row, and the outbox worker delivers them. After a commit
`wake` tells the outbox worker there is work and hands the scheduler the due times of new
timers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from bot.core.effects import (
    CLOCK_TIMERS,
    CancelTimer,
    Destination,
    Edit,
    Effect,
    Message,
    MessageKind,
    Reply,
    ScheduleTimer,
    Send,
)
from bot.core.hours import WorkingHours
from bot.core.run import Answer, Run, RunStatus
from bot.core.split import split_text
from bot.runtime.clock import Clock
from bot.runtime.coalesce import Coalescer
from bot.runtime.context import Context
from bot.runtime.outbox import CLOCK, message_to_json
from bot.store.access_log import disclosures
from bot.store.repo import Messages, StepWrite, Store
from bot.store.tables import TeamRow

# Delivery order across chats under a shared cap: bells first, reminders last (R-OUT-4).
PRIORITY = {
    MessageKind.bell: 0,
    MessageKind.process_bell: 0,
    MessageKind.warning: 1,
    MessageKind.phase: 1,
    MessageKind.status: 1,
    MessageKind.reply: 2,
    MessageKind.say: 3,
    MessageKind.form: 3,
    MessageKind.summary: 3,
    MessageKind.closing: 3,
    MessageKind.reminder: 5,
}


class TimerArming(Protocol):
    """The scheduler as seen from here: arm the timers a commit has just written."""

    async def arm_horizon(self, now: datetime | None = None) -> int: ...

    async def arm_new(self, due: Iterable[datetime]) -> int: ...


class Outgoing:
    """Builds outbox rows and commits replies; wakes the outbox and the scheduler."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        notify_outbox: Callable[[], None] | None = None,
        group_platforms: Sequence[str] = (),
        text_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notify_outbox = notify_outbox
        self.scheduler: TimerArming | None = None
        self._group_platforms = set(group_platforms)
        # The longest text one platform message holds; a longer one is sent in parts.
        self._text_limits = dict(text_limits or {})
        # Inbox rows whose person acted in a private chat (a DM, a modal): replies to
        # them go back there rather than into the team channel.
        self.private: set[int] = set()
        # Inbox rows that came from a forum topic of a group (Telegram): inbox id -> the
        # topic. Replies go back into that topic, and a run started there lives there.
        self.topics: dict[int, str] = {}
        # Replies of conversations handled side by side are committed together.
        self._replies: Coalescer[Messages, None] = Coalescer(self._commit_replies)

    # ------------------------------------------------------------------ rows

    def row(
        self,
        team: TeamRow,
        run_id: str | None,
        op: str,
        key: str,
        to: Destination,
        message: Message,
        idempotency: str,
        *,
        reply: bool = False,
        private: bool = False,
        topic: str | None = None,
        hours: WorkingHours | None = None,
    ) -> dict[str, Any]:
        """One outbox row. Person messages go to `dm:<user>`; replies to the team channel,
        addressed to one user (ephemeral where the platform can). With `hours` the row is
        delivered only inside them: the outbox holds it to their next start when its turn
        comes after hours (a nudge)."""
        if reply:
            # To the person where they acted: the team channel, or their private chat
            # when they answered there (a direct message, a modal).
            destination = f"dm:{to.member}" if private else team.channel
            user, thread = to.member, False
        elif to.kind == "person" and op == "send":
            destination, user, thread = f"dm:{to.member}", to.member, False
        elif op == "edit":
            destination, user, thread = "", None, False  # resolved from the original
        else:
            destination, user, thread = team.channel, None, to.kind == "thread"
        group = team.platform in self._group_platforms and not destination.startswith("dm:")
        return {
            "team_id": team.id,
            "run_id": run_id,
            "platform": team.platform,
            "destination": destination,
            "op": op,
            "msg_key": key,
            "kind": message.kind.value,
            "priority": PRIORITY.get(message.kind, 3),
            "message": message_to_json(
                message,
                thread=thread,
                group=group,
                user=user,
                language=team.language,
                topic=topic if group else None,
                hours=hours,
            ),
            "idempotency_key": idempotency,
        }

    @staticmethod
    def within_hours(
        rows: Sequence[dict[str, Any]], destination: str, hours: WorkingHours
    ) -> list[dict[str, Any]]:
        """`rows` with the messages sent to `destination` carrying `hours`: the outbox
        delivers them inside those hours only, in their order (a nudge and what a run
        started by it first says to the person)."""
        return [
            {**row, "message": {**row["message"], "hours": hours.to_json()}}
            if row["destination"] == destination and row["op"] == "send"
            else row
            for row in rows
        ]

    def _parts(self, team: TeamRow, key: str, message: Message) -> list[tuple[str, Message]]:
        """A message longer than its platform allows, as several (each its own row, key
        and idempotency key), never cut. Forms and messages with buttons are not split."""
        limit = self._text_limits.get(team.platform)
        if limit is None or len(message.text) <= limit or message.questions or message.controls:
            return [(key, message)]
        parts = split_text(message.text, limit)
        return [
            (key if n == 1 else f"{key}#{n}", replace(message, text=part))
            for n, part in enumerate(parts, 1)
        ]

    def reply_row(self, ctx: Context, text: str) -> dict[str, Any]:
        """The outbox row of a reply to the person who acted, keyed by their inbox row."""
        assert ctx.member is not None
        return self.row(
            ctx.team,
            None,
            "reply",
            "",
            Destination.person(ctx.member.user),
            Message(MessageKind.reply, text),
            f"inbox:{ctx.inbox.id}:reply:0",
            reply=True,
            private=ctx.inbox.id in self.private,
            topic=self.topics.get(ctx.inbox.id),
        )

    def effects_to_rows(
        self, team: TeamRow, run: Run, effects: Sequence[Effect], inbox_id: int | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        """A step's effects as outbox rows, new timer rows and engine timer ids to cancel."""
        # A rejected event leaves the run's version as it was, so a reply is also keyed by
        # the event that caused it: a second wrong answer gets its own re-prompt.
        cause = f":inbox:{inbox_id}" if inbox_id is not None else ""
        outbox: list[dict[str, Any]] = []
        timers_new: list[dict[str, Any]] = []
        timers_cancel: list[str] = []
        for effect in effects:
            if isinstance(effect, Send):
                for key, message in self._parts(team, effect.key, effect.message):
                    outbox.append(
                        self.row(
                            team, run.id, "send", key, effect.to, message, f"{run.id}:send:{key}"
                        )
                    )
            elif isinstance(effect, Edit):
                outbox.append(
                    self.row(
                        team,
                        run.id,
                        "edit",
                        effect.key,
                        Destination.thread(),
                        effect.message,
                        f"{run.id}:edit:{effect.key}:{run.version}",
                    )
                )
            elif isinstance(effect, Reply):
                outbox.append(
                    self.row(
                        team,
                        run.id,
                        "reply",
                        "",
                        Destination.person(effect.member),
                        effect.message,
                        f"{run.id}:reply:{effect.member}:{run.version}:{len(outbox)}{cause}",
                        reply=True,
                        private=inbox_id in self.private,
                        topic=self.topics.get(inbox_id) if inbox_id is not None else None,
                    )
                )
            elif isinstance(effect, ScheduleTimer):
                timers_new.append(
                    {
                        "timer": effect.timer_id,
                        "kind": effect.kind.value,
                        "due_at": effect.due,
                        "idempotency_key": f"{run.id}:{effect.timer_id}:{effect.due.isoformat()}",
                    }
                )
            elif isinstance(effect, CancelTimer):
                timers_cancel.append(effect.timer_id)
        # The moments the clock rings next in the channel go with the clock's messages of
        # this step to it (a phase header, a bell; not an edit, whose destination is
        # resolved later): the outbox keeps the channel free for them.
        rings = sorted(
            {e.due for e in effects if isinstance(e, ScheduleTimer) and e.kind in CLOCK_TIMERS}
        )
        if rings:
            for row in outbox:
                to_channel = row["op"] == "send" and not row["destination"].startswith("dm:")
                if row["priority"] <= CLOCK and to_channel:
                    row["message"]["rings"] = [moment.isoformat() for moment in rings]
        return outbox, timers_new, timers_cancel

    async def step_write(
        self,
        team: TeamRow,
        run: Run,
        effects: Sequence[Effect],
        expected: int | None,
        inbox_id: int | None,
        before: Run | None = None,
    ) -> StepWrite:
        """What a step writes: the run, its answers, messages, timers, the inbox mark.

        `before`: the run as it was loaded; then only the answers this step gave or
        changed are written (each answer is sealed on its own: writing them all again at
        every step sealed a run's every answer once per step)."""
        now = self.clock.now()
        outbox, timers_new, timers_cancel = self.effects_to_rows(team, run, effects, inbox_id)
        sent_here = {o["msg_key"]: o for o in outbox if o["op"] == "send"}
        for row in outbox:
            if row["op"] == "edit":
                original = sent_here.get(row["msg_key"])
                destination = (
                    original["destination"]
                    if original is not None
                    else await self.store.original_destination(run.id, row["msg_key"])
                )
                row["destination"] = destination or team.channel
                row["message"]["thread"] = bool(original and original["message"]["thread"])
        answers = [
            {
                "step": step,
                "question": question,
                "member": member,
                "kind": answer.kind.value,
                "value": _stored(answer.value),
                "answered_at": answer.answered_at,
            }
            for step, questions in run.answers.items()
            for question, by_member in questions.items()
            for member, answer in by_member.items()
            if before is None or _given_before(before, step, question, member) != answer
        ]
        finished = run.status in (RunStatus.done, RunStatus.stopped)
        return StepWrite(
            run_id=run.id,
            expected_version=expected,
            run={
                "team_id": team.id,
                "flow_id": run.flow_id,
                "status": run.status.value,
                "version": run.version if expected is None else max(run.version, expected + 1),
                "state": run.model_dump(mode="json"),
                "parent_run": run.parent_run,
                "finished_at": now if finished else None,
            },
            answers=answers,
            outbox=outbox,
            timers_new=timers_new,
            timers_cancel=timers_cancel,
            inbox_id=inbox_id,
            now=now,
            access=disclosures(team.id, run.id, outbox),  # R-PRV-7: who saw answers
        )

    # ------------------------------------------------------------------ replies

    async def replies(self, team: TeamRow, effects: Sequence[Effect], inbox_id: int | None) -> None:
        """Commit the `Reply` effects of no run (a refused start) with the inbox mark."""
        rows = [
            self.row(
                team,
                None,
                "reply",
                "",
                Destination.person(e.member),
                e.message,
                f"inbox:{inbox_id}:reply:{n}",
                reply=True,
                private=inbox_id in self.private,
                topic=self.topics.get(inbox_id) if inbox_id is not None else None,
            )
            for n, e in enumerate(effects)
            if isinstance(e, Reply)
        ]
        await self._replies(Messages(outbox=rows, inbox_id=inbox_id))
        self.notify()

    async def reply(self, ctx: Context, text: str) -> None:
        """Answer the member who acted, and mark their inbox row handled, atomically."""
        assert ctx.member is not None
        message = Message(MessageKind.reply, text)
        await self.replies(ctx.team, (Reply(ctx.member.user, message),), ctx.inbox.id)

    async def reply_without_team(
        self, platform: str, user: str, text: str, inbox_id: int, language: str = "nl"
    ) -> None:
        """Answer, in their private chat, someone who is in no team yet (a reply belongs
        to no team then), and mark their inbox row handled, atomically."""
        message = Message(MessageKind.reply, text)
        row = {
            "team_id": None,
            "run_id": None,
            "platform": platform,
            "destination": f"dm:{user}",
            "op": "send",
            "msg_key": "",
            "kind": message.kind.value,
            "priority": PRIORITY[MessageKind.reply],
            "message": message_to_json(message, user=user, language=language),
            "idempotency_key": f"inbox:{inbox_id}:reply:0",
        }
        await self.store.commit_messages(outbox=[row], inbox_id=inbox_id, now=self.clock.now())
        self.notify()

    async def _commit_replies(self, writes: list[Messages]) -> list[None]:
        await self.store.commit_messages_many(writes, now=self.clock.now())
        return [None] * len(writes)

    # ------------------------------------------------------------------ after a commit

    def notify(self) -> None:
        """The outbox has rows to send."""
        if self.notify_outbox is not None:
            self.notify_outbox()

    async def arm(self, due: Iterable[datetime]) -> None:
        """Timers due at `due` were committed: the scheduler arms those it must."""
        if self.scheduler is not None:
            await self.scheduler.arm_new(due)

    async def rearm(self) -> None:
        """Timers were moved or cancelled: the scheduler reads the whole horizon again."""
        if self.scheduler is not None:
            await self.scheduler.arm_horizon()

    async def wake(self, effects: Sequence[Effect]) -> None:
        """After a step's commit: the outbox has rows, the scheduler maybe new timers."""
        self.notify()
        await self.arm(e.due for e in effects if isinstance(e, ScheduleTimer))


def _stored(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _given_before(run: Run, step: str, question: str, member: str) -> Answer | None:
    return run.answers.get(step, {}).get(question, {}).get(member)
