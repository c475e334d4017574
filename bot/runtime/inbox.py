"""The inbox: every inbound event stored durably first, then drained in order.

Every inbound event - a chat command, an answer, a timer that fell due - is first stored
in the inbox (unique per platform event id, R-ING-1..4) and only then acknowledged. The
inbox is drained in arrival order within each conversation, conversations side by side
(lanes), and each event is dispatched: a timer of a run and an answer to the run (see
`bot/runtime/runs.py`), everything else to what a feature registered with the `Router`
(`/samen` words, `/bel`, timer kinds, mentions). Nothing here talks to a platform.

Logs carry ids and event kinds only (R-PRV-8): never answer text, names or secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.core.commands import UnknownSamenCommand, parse_samen
from bot.core.effects import CLOCK_TIMERS, Destination, Message, MessageKind, Reply, clock_first
from bot.core.events import Answered, AnswerKind, Member, MemberJoined, MemberLeft, TimerFired
from bot.core.timer_names import parse_timer_name
from bot.runtime import private
from bot.runtime.clock import Clock
from bot.runtime.coalesce import Coalescer
from bot.runtime.context import Context
from bot.runtime.outgoing import Outgoing
from bot.runtime.replies import first_word, say
from bot.runtime.router import Router
from bot.runtime.runs import Runs
from bot.store.inbox import TIMER_PLATFORM, Waiting, conversation_of, run_of
from bot.store.lease import ConversationLocks
from bot.store.repo import Store
from bot.store.tables import InboxRow, MemberRow, TeamRow

log = logging.getLogger("samen.inbox")

# The chat commands Samen answers (`/samen ...`, `/bel ...`; a platform may spell them
# otherwise, e.g. `!samen` on Matrix: its adapter stores these words).
SAMEN = "samen"
BELL = "bel"
COMMANDS = (SAMEN, BELL)
# Catch-up decisions from the scheduler that still move a run on (R-SCH-1).
LATE_CATCH_UPS = frozenset({"late", "skip"})
# At most this many clock timers of different runs are committed together (group commit).
# The bells of a working day's meetings fall due some fifty within a second (P7); in
# groups of 25 the last group waited for the others' commits (p99 231 ms against 155 in
# one).
CLOCK_GROUP = 100
# The runs' other timers go in smaller groups, and a clock timer that falls due meanwhile
# is taken after the group in hand: the collections of fifty look-backs closing on the
# same minute took 200-400 ms in one group (a summary and ten closed forms each), and a
# bell due a moment later waited for all of it (P7).
TIMER_GROUP = 10
# Conversations whose events are handled side by side (see `Inbox.drain`).
LANES = 8
# The most unhandled events one drain handles at a time; with other processes sharing
# the inbox, it reads `WINDOW` times as many to find conversations no other one holds.
BATCH = 100
WINDOW = 5
# With other processes handling the inbox, the one that fires the timers and sends takes
# a chat's events only once they have waited this long (see `Inbox._mine_now`).
CHAT_GRACE = timedelta(seconds=2)
OTHERS_EVERY = 5.0  # s between counts of the other processes
# A run's timer waits at most this long for the answers to its run received before it
# fell due (see `Inbox._answers_first`).
ANSWERS_FIRST = timedelta(seconds=30)


class ForeignRun(LookupError):
    """An event names a run of a team its person is not in, from outside that team's
    channel: refused before it changes anything."""


class GoneRun(LookupError):
    """An answer in a private chat names a run that is no more (or never was): it has no
    team to belong to, and a private chat never becomes one."""


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """An inbox row's payload, read once into named fields (the keys the adapters store)."""

    kind: str
    channel: str
    user: str
    user_name: str
    command: str
    args: str
    run: str
    step: str
    question: str
    value: str | tuple[str, ...]
    answer_kind: str
    channel_name: str
    to: str
    timer: str
    run_id: str | None
    catch_up: str

    @classmethod
    def of(cls, row: InboxRow) -> InboxEvent:
        p: Mapping[str, Any] = row.payload
        value = p.get("value", "")
        run_id = p.get("run_id")
        return cls(
            kind=str(p.get("kind") or ""),
            channel=str(p.get("channel") or ""),
            user=str(p.get("user") or ""),
            user_name=str(p.get("user_name") or ""),
            command=str(p.get("command") or ""),
            args=str(p.get("args") or ""),
            run=str(p.get("run") or ""),
            step=str(p.get("step") or ""),
            question=str(p.get("question") or ""),
            value=tuple(str(v) for v in value) if isinstance(value, list) else str(value or ""),
            answer_kind=str(p.get("answer_kind") or "value"),
            channel_name=str(p.get("channel_name") or ""),
            to=str(p.get("to") or ""),
            timer=str(p.get("timer") or ""),
            run_id=None if run_id is None else str(run_id),
            catch_up=str(p.get("catch_up") or ""),
        )

    @property
    def private_chat(self) -> bool:
        return self.channel.startswith("dm:")


class Inbox:
    """Stores inbound events and turns them into run steps and handler calls."""

    def __init__(
        self, store: Store, clock: Clock, runs: Runs, outgoing: Outgoing, router: Router
    ) -> None:
        self.store = store
        self.clock = clock
        self.runs = runs
        self.outgoing = outgoing
        self.router = router
        # Events that arrive together are stored together (one transaction per burst).
        self._intake: Coalescer[tuple[str, str, dict[str, Any]], int | None] = Coalescer(
            self._store_events
        )
        self._drain_lock = asyncio.Lock()
        self._lane_slots = asyncio.Semaphore(LANES)  # conversations drained side by side
        self._wake = asyncio.Event()
        self._stopping = False
        # A timer fell due while a batch is in hand: the lanes stop taking their next
        # event, and the drain reads again, timers first (a bell waits for the events in
        # flight, not for a batch of a hundred answers).
        self._timers_waiting = False
        # The database connection broke under an event: it stays new, and this drain ends
        # (the next wake or poll tries again), rather than failing every event after it.
        self._connection_lost = False
        self._seen: set[str] = set()  # teams this process has seen (see `Router.team_seen`)
        self.handled = 0
        # The team and member of the first event of each conversation in the batch being
        # drained, read together for the whole batch (see `_read_teams_ahead`).
        self._teams_ahead: dict[int, tuple[TeamRow | None, MemberRow | None]] = {}
        # Told when someone writes to the bot privately (Telegram: they pressed Start),
        # so messages parked for them go out (bot/teams/start_links.py).
        self.on_private: Callable[[str, str, Mapping[str, Any]], Awaitable[object]] | None = None
        # Which conversations this process handles now (bot/store/lease.py): on
        # PostgreSQL every process handles the inbox, each conversation in one process at
        # a time, so that an event stored by any process is handled once and in order.
        self.conversations = ConversationLocks()
        # Whether this process fires the timers (holds the timer lease): only that one
        # handles the runs' timers, since it is the one woken when they fall due.
        self.fires_timers: Callable[[], bool] = lambda: True
        # Runs whose timers wait for answers received before them (`_answers_first`).
        self._awaited: set[str] = set()
        self._others_asked = float("-inf")
        self._others_seen = False

    # ------------------------------------------------------------------ intake

    async def receive(self, platform: str, key: str, payload: Mapping[str, Any]) -> bool:
        """Store an inbound event durably (R-ING-3); False when it was a duplicate.

        Adapters acknowledge the platform only after this returns."""
        stored = await self._intake((platform, key, dict(payload)))
        self._wake.set()
        if stored is None:
            log.info("inbox duplicate absorbed platform=%s", platform)
        return stored is not None

    async def _store_events(
        self, events: list[tuple[str, str, dict[str, Any]]]
    ) -> list[int | None]:
        return await self.store.inbox_put_many(events, self.clock.now())

    async def timer_due(self, *_: object) -> None:
        """The scheduler put a fired timer into the inbox: handle it before the rest."""
        self._timers_waiting = True
        self._wake.set()

    # ------------------------------------------------------------------ draining

    async def run(self, poll_interval: float = 1.0) -> None:
        """Drain the inbox whenever woken (or every `poll_interval`), until stopped."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_interval)
            self._wake.clear()
            await self.drain()
        await self.conversations.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    @property
    def draining(self) -> bool:
        """A drain is under way (in this process)."""
        return self._drain_lock.locked()

    async def drain(self) -> int:
        """Handle every pending inbox row; return how many.

        Rows are handled in arrival order within each conversation (a channel, a private
        chat; the runs' timers are one, the timers of no run another), and conversations
        side by side, up to `LANES` at a time: one team's slow command does not hold up
        the next team, and the waits of one event for the database overlap with the work
        of another. Runs are still changed under their own lock, one step at a time.

        Timers come first: those pending are read first and handled before the chats'
        lanes start, and a timer that falls due while a batch is in hand makes the lanes
        stop at their next event, so that the drain reads again (a bell is late by the
        events in flight, not by a batch). The meeting's clock goes first, then the runs'
        other timers, then the timers of no run (`run_timers_first`). A run's timer
        waits, though, for answers to its run that were received before it fell due
        (`_answers_first`): they were acknowledged in time and must count.

        On PostgreSQL every process drains: it lists the waiting rows without their
        payloads (`inbox_waiting`), takes the conversations it handles now under an
        advisory lock each (`ConversationLocks`), reads their rows in full (another
        process may have handled some), and gives each back when its lane is done. The
        runs' timers are the timer lease holder's; it leaves the rest to the others while
        they are fresh (`_mine_now`)."""
        done = 0
        async with self._drain_lock:
            self._connection_lost = False
            while True:
                self._timers_waiting = False
                shared = self.conversations.shared
                # Shared: look further than one batch, past the conversations that other
                # processes hold (they are the oldest while those processes are busy),
                # listed without their payloads, read in full once held.
                limit = BATCH * WINDOW if shared else BATCH
                listed: Sequence[Listed] = await (
                    self.store.inbox_waiting(limit=limit)
                    if shared
                    else self.store.inbox_pending(limit=limit)
                )
                if not listed:
                    return done
                listed, urgent = await self._answers_first(listed, every=len(listed) < limit)
                wanted = {
                    conversation(r)
                    for r in listed
                    if conversation(r) in urgent or await self._mine_now(r)
                }
                if not wanted:
                    return done  # all for other processes now; a wake or poll looks again
                held = await self.conversations.take(sorted(wanted))
                if not held:
                    return done  # other processes handle these; a wake or poll looks again
                try:
                    chosen, beyond = one_batch(listed, held)
                    await self.conversations.give_back(beyond)
                    if shared:  # another process may have handled some meanwhile
                        rows = await self.store.inbox_new_among([r.id for r in chosen])
                    else:
                        rows = [r for r in chosen if isinstance(r, InboxRow)]
                    timers, chats = timers_and_chats(conversations(rows))
                    if timers:
                        done += await self._drain_lane(run_timers_first(timers))
                    await self._read_teams_ahead(chats)
                    done += sum(await asyncio.gather(*map(self._drain_lane, chats)))
                finally:
                    await self.conversations.give_back(held)  # those not given back yet
                if self._connection_lost:
                    return done  # the next wake or poll tries again, on a new connection
                if self._stopping:
                    return done  # the rest waits in the inbox for the next start

    async def _answers_first(
        self, rows: Sequence[Listed], every: bool
    ) -> tuple[list[Listed], set[str]]:
        """`rows` without the timers of runs that still have answers waiting which were
        received before the timer fell due, and the conversations of those answers. Such
        an answer was acknowledged in time, so it is taken before the step's deadline (or
        bell) closes the question: its conversation is taken at once, and once it is
        handled the drain reads again (`_awaited`). A timer waits at most
        `ANSWERS_FIRST`; a run's later timers wait with its first. `every`: `rows` are
        all the unhandled rows, so the answers are among them (no read needed)."""
        self._awaited = set()
        timers = [r for r in rows if r.platform == TIMER_PLATFORM and run_of_row(r)]
        if not timers:
            return list(rows), set()
        runs = {run_of_row(r) or "" for r in timers}
        answers: Sequence[Listed] = (
            [r for r in rows if r.platform != TIMER_PLATFORM and run_of_row(r) in runs]
            if every
            else await self.store.inbox_answers_waiting(runs)
        )
        if not answers:
            return list(rows), set()
        first: dict[str, datetime] = {}
        for answer in answers:  # oldest first
            run_id = run_of_row(answer)
            if run_id is not None:
                first.setdefault(run_id, aware(answer.received_at))
        now = self.clock.now()
        waiting: set[int] = set()
        for row in timers:
            run_id = run_of_row(row) or ""
            due = aware(row.received_at)
            if run_id in self._awaited or (
                run_id in first and first[run_id] < due and now - due < ANSWERS_FIRST
            ):
                self._awaited.add(run_id)
                waiting.add(row.id)
        if not waiting:
            return list(rows), set()
        log.info("inbox: %d timers wait for their runs' earlier answers", len(waiting))
        awaited = [a for a in answers if run_of_row(a) in self._awaited]
        urgent = {conversation(a) for a in awaited}
        kept: dict[int, Listed] = {r.id: r for r in rows if r.id not in waiting}
        if not every:  # the answers, and what stands before them, may lie beyond the rows
            up_to = max(a.id for a in awaited)
            kept.update((r.id, r) for r in await self.store.inbox_new_in(urgent, up_to))

        def order(row: Listed) -> tuple[int, int]:
            """Timers, then the conversations timers wait for, then the rest; each in
            order (so that one batch holds those conversations: `one_batch`)."""
            rank = 0 if row.platform == TIMER_PLATFORM else 1 if conversation(row) in urgent else 2
            return rank, row.id

        return sorted(kept.values(), key=order), urgent

    async def _mine_now(self, row: Listed) -> bool:
        """Whether this process takes `row`'s conversation now. The runs' timers are the
        timer lease holder's (the one woken when they fall due). That process also
        sends the outbox, so while other processes handle the inbox it leaves them the
        chats and the timers of no run (`FEATURE_TIMERS`: an evaluation nudge starts a
        flow, the heaviest step there is), and takes their events only once they have
        waited `CHAT_GRACE`: a bell does not wait behind them, and nothing waits for a
        process that is gone."""
        fires = self.fires_timers()
        if conversation(row) == TIMER_PLATFORM:
            return fires
        if not fires or not self.conversations.shared or not await self._others():
            return True
        return self.clock.now() - aware(row.received_at) >= CHAT_GRACE

    async def _others(self) -> bool:
        """Other processes handle the inbox too (asked at most every `OTHERS_EVERY`)."""
        moment = time.monotonic()
        if moment - self._others_asked >= OTHERS_EVERY:
            self._others_asked = moment
            self._others_seen = await self.conversations.others() > 0
        return self._others_seen

    async def _read_teams_ahead(self, lanes: Sequence[Sequence[InboxRow]]) -> None:
        """Read the team and member of each conversation's first event, for the whole
        batch in one statement instead of one read per event (P1 in docs/performance.md).

        Only the first: an event may change its own team or member (a setting, a role, a
        person who joined), so the next event of that conversation reads after it. The
        first one's read stays true until it is handled, since a team's rows are changed
        only by events of its own conversation, and conversations are lanes of their own.
        """
        self._teams_ahead = {}
        keys = {row.id: key for row in (lane[0] for lane in lanes) if (key := team_key(row))}
        if keys:
            found = await self.store.teams_and_members(keys.values())
            self._teams_ahead = {id: found[key] for id, key in keys.items()}

    async def _drain_lane(self, rows: Sequence[InboxRow]) -> int:
        """Handle one conversation's rows in order, once one of the `LANES` is free;
        return how many."""
        at = 0
        chats = conversation(rows[0]) != TIMER_PLATFORM  # the timers of no run too
        async with self._lane_slots:
            while at < len(rows) and not self._stopping and not self._connection_lost:
                # A timer fell due: chats stop at once, the other timers (a collection's
                # deadline, an evaluation nudge, a planned start) after at least one group;
                # the rest is read again, the clock's timers first (see `drain`).
                later = chats or (at > 0 and not is_clock_timer(rows[at]))
                if later and self._timers_waiting:
                    break
                group = run_timers(rows[at:])
                if len(group) > 1:
                    await self._handle_run_timers(group)
                else:
                    group = list(rows[at : at + 1])
                    await self._handle_safely(group[0])
                    if self._connection_lost:
                        break  # that event stays new
                    if chats and run_of_row(group[0]) in self._awaited:
                        self._timers_waiting = True  # its run's timer may go now
                at += len(group)
        # Done with it for this batch: another process may take its next events now.
        await self.conversations.give_back([conversation(rows[0])])
        return at

    async def _handle_safely(self, row: InboxRow) -> None:
        try:
            await self._handle(row)
        except DBAPIError as error:
            if not error.connection_invalidated:
                await self._failed(row, error)
            else:  # not the event's fault: it stays new, and the drain stops for now
                log.warning("inbox row %s: the database connection was lost", row.id)
                self._connection_lost = True
                return
        except Exception as error:  # one bad event must never stop the others
            await self._failed(row, error)
        finally:
            self.outgoing.private.discard(row.id)
            self.outgoing.topics.pop(row.id, None)
        self.handled += 1

    async def _failed(self, row: InboxRow, error: Exception) -> None:
        log.exception("inbox row %s failed: %s", row.id, type(error).__name__)
        await self.store.inbox_done(row.id, self.clock.now(), error=type(error).__name__)

    async def _handle_run_timers(self, rows: Sequence[InboxRow]) -> None:
        timers = []
        for row in rows:
            read = InboxEvent.of(row)
            assert read.run_id is not None
            fired = TimerFired(read.timer, late=read.catch_up in LATE_CATCH_UPS)
            timers.append((row.id, read.run_id, fired))
        if await self.runs.advance_timers(timers):
            self.handled += len(rows)
            return
        for row in rows:
            await self._handle_safely(row)

    # ------------------------------------------------------------------ dispatch

    async def _handle(self, row: InboxRow) -> None:
        read = InboxEvent.of(row)
        now = self.clock.now()
        if row.platform == TIMER_PLATFORM:
            await self._on_timer(row, read)
            return
        if read.private_chat and read.kind != "answer":
            await self._on_private_chat(row, read)
            return
        if read.kind == "migrated":
            # The platform gave the group a new id (Telegram: upgraded to a supergroup).
            moved = await self.store.move_channel(row.platform, read.channel, read.to)
            log.info("inbox row %s: channel moved=%s", row.id, moved)
            await self.store.inbox_done(row.id, now)
            return
        try:
            team, known = await self._team_and_member(row, read)
        except ForeignRun:
            log.warning("inbox row %s: an answer to a run of a team its person is not in", row.id)
            await self.store.inbox_done(row.id, now, error="foreign run")
            return
        except GoneRun:
            log.info("inbox row %s: a private answer to a run that is no more", row.id)
            text = say("bad_answer_target", "nl")
            await self.outgoing.reply_without_team(row.platform, read.user, text, row.id)
            return
        if row.payload.get("outsider"):
            await self._outsider(row, team, read)
            return
        if team.id not in self._seen:
            self._seen.add(team.id)
            for hook in self.router.team_seen:
                await hook(team)
        if read.channel != team.channel:
            self.outgoing.private.add(row.id)
        elif row.payload.get("topic"):  # a forum topic of the team's group (Telegram)
            self.outgoing.topics[row.id] = str(row.payload["topic"])
        log.info("inbox row %s kind=%s", row.id, read.kind)
        if read.kind == "left":
            await self._member_left(row, team, read)
            return
        member = None
        if read.user:
            member = await self.store.upsert_member(
                team.id,
                read.user,
                # Slack's events carry no name: "" keeps the one we know (see upsert_member).
                read.user_name,
                now=now,
                known=known,
            )
        ctx = Context(team, member, row, row.platform)
        handler = self.router.events.get(read.kind)
        if read.kind == "command" and read.command == BELL and self.router.bell is not None:
            await self.router.bell(ctx, read.args)
        elif read.kind == "command" and read.command == SAMEN:
            await self._on_samen(ctx, read.args)
        elif read.kind == "command":
            typed = "/" + first_word(read.command)
            await self.outgoing.reply(ctx, say("unknown_command", team.language, typed=typed))
        elif read.kind == "answer":
            await self._on_answer(ctx, read)
        elif handler is not None and (member is not None or read.kind in self.router.team_events):
            await handler(ctx)
        elif read.kind == "joined" and member is not None:
            # Runs going on hear of them (a collect under way sends them its form).
            joined = Member(member.user, member.name or member.user, frozenset(member.roles))
            await self.runs.tell_team_runs(team, MemberJoined(joined))
            await self.store.inbox_done(row.id, now)
        else:  # anything else: nothing to do beyond the member upsert
            await self.store.inbox_done(row.id, now)

    async def _outsider(self, row: InboxRow, team: TeamRow, read: InboxEvent) -> None:
        """A person of another organisation in a shared channel (Slack Connect): never
        enrolled, sent no team forms or data; told once, only to them, whom Samen serves."""
        log.info("inbox row %s kind=%s: a person of another organisation", row.id, read.kind)
        if not read.user or read.kind == "left":
            await self.store.inbox_done(row.id, self.clock.now())
            return
        told = self.outgoing.row(
            team,
            None,
            "reply",
            "",
            Destination.person(read.user),
            Message(MessageKind.reply, say("outsider", team.language)),
            f"outsider:{team.id}:{read.user}",  # once per person and team
            reply=True,
        )
        await self.store.commit_messages(outbox=[told], inbox_id=row.id, now=self.clock.now())
        self.outgoing.notify()

    async def _member_left(self, row: InboxRow, team: TeamRow, read: InboxEvent) -> None:
        """Someone left the team's channel: they are no member any more, get nothing
        more, and the team's runs stop waiting for them."""
        now = self.clock.now()
        if read.user and await self.store.member_left(team.id, read.user, now):
            told = await self.runs.tell_team_runs(team, MemberLeft(read.user))
            log.info("inbox row %s: a member left; %d runs told", row.id, told)
        await self.store.inbox_done(row.id, now)

    async def _on_private_chat(self, row: InboxRow, read: InboxEvent) -> None:
        """Something the person wrote in their private chat with Samen. It is no team:
        nothing here creates a team or a member. It may open the way for messages that
        waited until they started the bot (Telegram's /start); a `/samen` command is
        handled for the team it is about (bot/runtime/private.py), a plain /start is
        greeted, and the replies stay in the private chat."""
        if self.on_private is not None and read.user:
            await self.on_private(row.platform, read.user, row.payload)
        plain_start = (read.kind == "command" and read.command == "start") or (
            read.kind == "joined" and "start" in row.payload and not row.payload["start"]
        )
        if not read.user or not (plain_start or read.kind == "command"):
            await self.store.inbox_done(row.id, self.clock.now())
            return
        args = read.args if read.command == SAMEN else ""
        resolved = await private.resolve(self.store, self.router, row.platform, read.user, args)
        if resolved is None:
            # A person in no team here yet: what Samen is, and where it starts.
            log.info("inbox row %s: private chat of a person in no team", row.id)
            text = say("private_no_team", "nl")
            await self.outgoing.reply_without_team(row.platform, read.user, text, row.id)
            return
        team = resolved.team or resolved.teams[0]
        member = await self.store.get_member(team.id, read.user)
        ctx = Context(team, member, row, row.platform, teams=resolved.teams)
        self.outgoing.private.add(row.id)
        log.info("inbox row %s kind=%s (private chat)", row.id, read.kind)
        if plain_start:
            names = ", ".join(private.team_label(t) for t in resolved.teams)
            await self.outgoing.reply(ctx, say("private_greeting", ctx.language, teams=names))
        elif read.command == BELL:
            await self.outgoing.reply(ctx, say("private_bell", ctx.language))
        elif read.command != SAMEN:
            typed = "/" + first_word(read.command)
            await self.outgoing.reply(ctx, say("unknown_command", ctx.language, typed=typed))
        elif resolved.team is None:
            # Which team? A button per team types the command again with `in <team>`.
            names = [private.team_label(t) for t in resolved.teams]
            example = f"/samen {first_word(args)} in {names[0]}"
            text = say("private_which_team", ctx.language, teams=", ".join(names), example=example)
            choices = tuple((name, f"{args} in {name}") for name in names)
            asked = Message(MessageKind.reply, text, choices=choices)
            await self.outgoing.replies(team, (Reply(read.user, asked),), row.id)
        else:
            await self._on_samen(ctx, resolved.args)

    async def _team_and_member(
        self, row: InboxRow, read: InboxEvent
    ) -> tuple[TeamRow, MemberRow | None]:
        """The team an inbound event belongs to, and its person's row in it when already
        at hand (None: `upsert_member` looks). An answer given in a direct message or a
        modal belongs to its run's team, not to a "team" made of that private chat."""
        if read.kind == "answer" and read.run:
            run = await self.store.load_run(read.run)
            team = await self.store.get_team(run.team_id) if run is not None else None
            if team is not None and read.channel == team.channel:
                return team, None
            if team is not None:
                # Given elsewhere (their private chat, a modal): only by a member of the
                # run's team. A run id from another chat is forged or stray, and never
                # makes its presser a member.
                member = await self.store.get_member(team.id, read.user)
                if member is None or member.left_at is not None:
                    raise ForeignRun(read.run)
                return team, member
            if read.private_chat:
                raise GoneRun(read.run)
        ahead = self._teams_ahead.pop(row.id, None)
        found, member = ahead or await self.store.team_and_member(
            row.platform, read.channel, read.user
        )
        if found is not None and (not read.channel_name or found.name == read.channel_name):
            return found, member
        team = await self.store.team_for_channel(
            row.platform, read.channel, name=read.channel_name, now=self.clock.now()
        )
        return team, None

    async def _on_timer(self, row: InboxRow, read: InboxEvent) -> None:
        if read.run_id is not None:
            fired = TimerFired(read.timer, late=read.catch_up in LATE_CATCH_UPS)
            if await self.runs.advance(read.run_id, fired, row.id) is None:
                await self.store.inbox_done(row.id, self.clock.now(), error="no run")
            return
        name = parse_timer_name(read.timer)
        handler = self.router.timer_handler(name) if name is not None else None
        if handler is None:
            await self.store.inbox_done(row.id, self.clock.now(), error="no run")
            return
        await handler(row, name)

    async def _on_answer(self, ctx: Context, read: InboxEvent) -> None:
        assert ctx.member is not None
        if isinstance(read.value, str) and read.value:
            key = (ctx.member.user, read.run, read.step, read.question)
            for check in self.router.answer_checks:
                if await check(ctx, key, read.value):
                    return
        event = Answered(
            ctx.member.user, read.step, read.question, read.value, AnswerKind(read.answer_kind)
        )
        if await self.runs.advance(read.run, event, ctx.inbox.id) is None:
            await self.outgoing.reply(ctx, say("bad_answer_target", ctx.team.language))

    async def _on_samen(self, ctx: Context, args: str) -> None:
        try:
            command = parse_samen(args)
        except UnknownSamenCommand as error:
            typed = f"/samen {first_word(error.typed)}".strip()
            await self.outgoing.reply(ctx, say("unknown_command", ctx.language, typed=typed))
            return
        handler = self.router.commands.get(command.action)
        if handler is None:  # a word the core knows whose feature is not wired in
            typed = f"/samen {first_word(args)}".strip()
            await self.outgoing.reply(ctx, say("unknown_command", ctx.language, typed=typed))
            return
        await handler(ctx, command.args)


# --------------------------------------------------------------------------- lanes


# An unhandled inbox row, read in full or listed without its payload.
Listed = InboxRow | Waiting


def conversation(row: Listed) -> str:
    """The conversation an inbox row belongs to (`bot.store.inbox.conversation_of`)."""
    if row.conversation is not None:
        return row.conversation
    assert isinstance(row, InboxRow)  # listed rows always have one
    return conversation_of(row.platform, row.payload)  # stored before 0011


def run_of_row(row: Listed) -> str | None:
    """The run an inbox row is for (`bot.store.inbox.run_of`)."""
    if row.run_id is not None or isinstance(row, Waiting):
        return row.run_id
    return run_of(row.platform, row.payload)


def aware(moment: datetime) -> datetime:
    """A stored moment in UTC (SQLite gives them back without a zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def one_batch(rows: Sequence[Listed], held: set[str]) -> tuple[list[Listed], set[str]]:
    """The rows of the `held` conversations, in order, as far as whole conversations
    make up one `BATCH` (the first always fits); and the held conversations left out."""
    lanes: dict[str, int] = {}
    for row in rows:
        if conversation(row) in held:
            lanes[conversation(row)] = lanes.get(conversation(row), 0) + 1
    chosen: set[str] = set()
    count = 0
    for name, size in lanes.items():
        if chosen and count + size > BATCH:
            continue
        chosen.add(name)
        count += size
    return [r for r in rows if conversation(r) in chosen], held - chosen


def conversations(rows: Sequence[InboxRow]) -> list[list[InboxRow]]:
    """`rows` by conversation (one lane each), each in arrival order."""
    lanes: dict[str, list[InboxRow]] = {}
    for row in rows:
        lanes.setdefault(conversation(row), []).append(row)
    return list(lanes.values())


def timers_and_chats(
    lanes: list[list[InboxRow]],
) -> tuple[list[InboxRow], list[list[InboxRow]]]:
    """The lane of the runs' timers (empty if none) and the other lanes (chats, and the
    timers of no run: `FEATURE_TIMERS`), of `conversations(...)`."""
    timers = [lane for lane in lanes if conversation(lane[0]) == TIMER_PLATFORM]
    chats = [lane for lane in lanes if conversation(lane[0]) != TIMER_PLATFORM]
    return (timers[0] if timers else []), chats


def team_key(row: InboxRow) -> tuple[str, str, str] | None:
    """(platform, channel, user) under which `Inbox._team_and_member` looks up an inbound
    event's team and person; None for the events it does not look up that way (timers,
    private chats, a group's new id, an answer that names its run)."""
    if row.platform == TIMER_PLATFORM:
        return None
    read = InboxEvent.of(row)
    if not read.channel or read.private_chat or read.kind == "migrated":
        return None
    if read.kind == "answer" and read.run:
        return None
    return row.platform, read.channel, read.user


def is_run_timer(row: InboxRow) -> bool:
    """A timer of a run (a bell, a reminder, a deadline), as opposed to one of a feature
    (an evaluation nudge, a planned start, a schedule, the retention purge)."""
    return row.platform == TIMER_PLATFORM and row.payload.get("run_id") is not None


def is_clock_timer(row: InboxRow) -> bool:
    """A timer of a meeting's clock: a phase's bell or its warning."""
    return is_run_timer(row) and row.payload.get("kind") in CLOCK_TIMERS


def run_timers_first(rows: Sequence[InboxRow]) -> list[InboxRow]:
    """The timers' lane in the order it is handled: the runs' timers, the clock's first
    (`clock_first`), then the timers of no run (which belong to no run: nothing of a
    run's order changes)."""
    runs = [r for r in rows if is_run_timer(r)]
    ordered = clock_first(runs, lambda r: str(r.payload.get("kind")), run_of_row)
    return ordered + [r for r in rows if not is_run_timer(r)]


def run_timers(rows: Sequence[InboxRow]) -> list[InboxRow]:
    """The leading rows that are timers of runs, each of a different run (so that every
    run still sees its own timers in order), all of the clock or none: up to
    `CLOCK_GROUP` of the clock's timers, `TIMER_GROUP` of the others."""
    group: list[InboxRow] = []
    runs: set[str] = set()
    clock = bool(rows) and is_clock_timer(rows[0])
    size = CLOCK_GROUP if clock else TIMER_GROUP
    for row in rows:
        run_id = row.payload.get("run_id") if row.platform == TIMER_PLATFORM else None
        if run_id is None or str(run_id) in runs or len(group) == size:
            break
        if is_clock_timer(row) != clock:
            break
        runs.add(str(run_id))
        group.append(row)
    return group
