"""Delivery of outbox rows to the platforms: rate limits, 429 back-off, retries, order (R-OUT).

The runtime writes one outbox row per message in the same transaction as the run; this
worker delivers them through the adapters and records the outcome on the row.

How a row becomes a platform call
---------------------------------
- `row.platform` selects the adapter; `row.destination` is already the platform's chat
  key (a channel id, or a user id for a direct message), written by
  bot/runtime/outgoing.py.
- `row.message` is `message_to_json(message, thread=..., group=..., user=...)`: the
  `Message` plus the routing fields the runtime sets when it writes the row:
  `thread` (true when the message belongs in the run's thread; the worker then looks up
  the run's thread (`run_threads`, read once per pass and cached) and passes it as
  `Delivery.thread` — or none if the run has no thread yet), `group` (true for group
  chats, so that per-group limits apply) and `user` (the member an op "reply" is for),
  and `language` (the team's, for the words an adapter adds itself, such as button
  labels), and `topic` (a reply to someone who acted in a forum topic of the group:
  `Delivery.topic`), and `hours` (a nudge's: the working hours, `WorkingHours.to_json`,
  of the person it is for; see "Working hours" below), and `rings` (on a meeting's clock
  messages to its channel: the moments its clock rings next, ISO; see "The meeting's
  clock" below). A run started in a forum topic
  has the thread `topic:<id>` (`TOPIC_THREAD`): all its rows go to that topic, none
  replies to a first message.
- op "edit" needs the platform id of the original message: `message_ref(run_id, msg_key)`.
  While the original is still queued the edit waits; if it has no ref when its turn comes
  the edit is retried like an error and, when the attempts run out, failed with
  "original not delivered".
- op "delete" (queued by `samen forget`, bot/store/privacy.py) removes a delivered message: the
  row carries the message's platform ref in `platform_ref`, the conversation it went to
  in `destination` and no text. It passes the same windows as a send (and the
  platform's own delete window, `Limits.deletes`), and a 429 or a transport error is
  retried like any call. Once done the row removes itself (`outbox_drop`), because it
  names the person's chat: deleted, or gone already, it simply goes; refused by the
  platform (Telegram after 48 hours, Slack `cant_delete_message`) or out of attempts,
  it goes with the refusal recorded in the access log (the reason code only).

Order and fairness (R-OUT-4)
----------------------------
Per conversation (platform, destination) only the oldest pending row (lowest id) of each
run is eligible (the rows of no run, replies, count as one run), and at most one call per
conversation is in flight, so a run's messages to one chat arrive in the order they were
written. A row waiting for a retry stays the head of its run's rows there: the worker
reads pending rows up to `lookahead` into the future, so a retried row is never
overtaken by a newer one. Candidates are taken by priority, then id: bells (priority 0)
go first and are never starved by a backlog of reminders for other chats under the
overall cap, nor by the summary of another flow queued for the meeting's own channel
(with Slack's one message a second per channel, two of those held a bell 2 s in P7).
A conversation whose head must wait for its budget (the chat's window, a 429) is parked
until then: its rows are not read again meanwhile, and an edit elsewhere still waits for
an original among them. Known limit: the worker reads at most `batch` rows per pass
(ordered by priority, then id); with a larger backlog a high-priority row may overtake an
older low-priority row of its run for the same chat that was not read.

The meeting's clock
-------------------
Bells, warnings, phase headers and status messages (priority `CLOCK` or higher) keep a
meeting's time: a bell that comes a second late is a bell nobody trusts. Priority alone
does not get them out at once when the platform's overall budget is spent: a backlog of
forms takes the whole window in the first part of each second, and a bell written then
waits for the next (P7 in docs/performance.md: bells p99 0.56 s from commit to Slack,
with 3,000 messages due). So while a meeting is under way on a platform (a clock message
went out in the last `MEETING_SPELL`), other rows may use all but a tenth of its overall
budget (at least one slot) and all but an eighth of the calls in flight; the rest waits
for the clock. Without a meeting nothing is kept back: a fan-out of nudges gets the whole
budget. Once the other rows' budget is spent, a pass reads only the first `CLOCK_READ`
rows (the clock's come first). A row that waits for its platform's overall budget does
not park its conversation (as a row waiting for its chat's budget does): every
conversation of a large backlog would be parked within a second, and the next reads
would have to skip them all.

The budget of the meeting's own channel is one message a second (Slack, Telegram): a
visit's summary sent into it a moment before a bell holds the bell for a second (P7). So
a clock message carries the moments its meeting rings next (`rings`: the phase's warnings
and bell, written with the step that set them) and, once it is sent, the worker keeps
the channel free for them: from one chat window before each moment until the clock's
next message there (the bell) is sent, or `RING_HOLD` after the moment at most (a bell
that does not come - the chair paused - holds nothing longer). Only the other rows of that
channel wait meanwhile, and only for that moment.

Working hours
-------------
A row with `hours` (the evaluation desk's nudges, bot/trajectories/desk.py) is delivered
only inside them, judged when its turn comes, not when it was written: a nudge written at
16:59:58 behind a queue of a thousand messages may get its turn at 17:00:20. Then it is
not sent: `outbox_hold` moves its `not_before` to the next start of those hours
(`WorkingHours.wait_until`), without counting an attempt (error "outside working
hours"), and the conversation's next row takes its turn in the same pass. While held, a
row stands aside from its conversation's order: later messages to the same chat go
before it - a reply to a command typed at 17:05 does not wait for the morning, nor does
an 08:00 bell wait behind a nudge held until 08:30 (read again from 07:30, within
`lookahead`) - and it takes its place by id again once it is due. A row waiting for a
retry keeps its place, as any row. Letting later rows pass is safe because the rows
that carry hours belong together and are held together: a nudge stands alone, and when
it is the preface of a flow (bot/runtime/runs.py, `start_flow(hours=...)`) the run's
first messages to the same person carry the same hours, so they are held in the same
pass and go in their order in the morning. Known limit: an edit of a held message is not
held with it (the worker does not read a row held beyond `lookahead`); it fails as
"original not delivered" like any edit of an original that did not arrive. A question
is edited when its person answers it (not before it arrived), when its step times out
or when its run stops: only the last two can fall in the night it is held (the
evaluation flow's first question has a timeout of days). Rows without `hours` are never
held.

Limits, 429 and retries (R-OUT-1..3)
------------------------------------
A pure `RateLimiter` (bot/runtime/ratelimit.py) keeps a sliding window per key: ("chat",
platform, chat) with `Limits.per_chat`, ("group", platform, chat) with
`Limits.per_group` for group chats and ("overall", platform) with `Limits.overall`. A
send is recorded when the call starts and moved to when it came back (the platform
counted it in between: `settle`). A 429 blocks only the chat key until `Retry-After` has
passed (Slack's and Telegram's message limits are per chat); the row is retried then,
others keep flowing, and a 429 never fails a message by itself. A timeout or an
exception is retried after `min(60, 2**attempts) * uniform(0.5, 1.5)` seconds and failed
with its reason after `max_attempts` calls. The worker never sleeps on the event loop:
it waits on `Clock.sleep` until the next allowed moment, the next `not_before`, a
finished call or `notify()`, whichever comes first.

One sender per database: `outbox_due` does not claim rows, so the worker sends only while
it holds the outbox lease (bot/store/lease.py); on PostgreSQL another process takes over when
the holder's connection dies. One sender also keeps each platform's limits in one place.
Logs carry row ids, kinds and outcome types only — never message text (R-PRV-8).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.effects import Message, MessageKind, OptionView, QuestionView
from bot.core.hours import WorkingHours
from bot.runtime.clock import Clock
from bot.runtime.delivery import TOPIC_THREAD, Delivery, DeliveryResult, Limits
from bot.runtime.ratelimit import Key, RateLimiter, Window, delete_key, overall_window, windows_for
from bot.store.lease import Lease
from bot.store.repo import QueuedMessage

log = logging.getLogger("samen.outbox")

# Rows of this priority or higher (lower number) are the meeting's clock: bells,
# warnings, phase headers and status (bot/runtime/outgoing.py, PRIORITY).
CLOCK = 1
# How long after a clock message the outbox keeps room for the next: the longest phase of
# the shipped flows (intervision: 25 minutes) and a little.
MEETING_SPELL = timedelta(minutes=30)
# Rows read in a pass when only the meeting's clock may go (they are read first).
CLOCK_READ = 20
# How long after a moment its clock rings the channel is kept free at most.
RING_HOLD = timedelta(seconds=3)
OUTSIDE_HOURS = "outside working hours"  # the error of a row held for its working hours
# A call takes a moment to arrive: a nudge whose turn comes this close to the end of its
# person's working hours waits for the next day (P7 saw one arrive 7 ms after the end).
ARRIVAL_MARGIN = timedelta(seconds=1)

Conversation = tuple[str, str]  # (platform, destination)


# --------------------------------------------------------------------------- messages


def message_to_json(
    message: Message,
    *,
    thread: bool = False,
    group: bool = False,
    user: str | None = None,
    language: str | None = None,
    topic: str | None = None,
    hours: WorkingHours | None = None,
) -> dict[str, Any]:
    """A `Message` as the JSON the outbox row keeps, plus the routing fields (see above)."""
    data: dict[str, Any] = {
        "kind": message.kind.value,
        "text": message.text,
        "questions": [_question_to_json(q) for q in message.questions],
        "controls": list(message.controls),
        "choices": [list(choice) for choice in message.choices],
        "closed": message.closed,
        "late": message.late,
        "finish": message.finish,
        "thread": thread,
        "group": group,
    }
    if user is not None:
        data["user"] = user
    if language is not None:
        data["language"] = language
    if topic is not None:
        data["topic"] = topic
    if hours is not None:
        data["hours"] = hours.to_json()
    return data


def message_from_json(data: Mapping[str, Any]) -> Message:
    """The `Message` back from `message_to_json` (routing fields are ignored)."""
    return Message(
        kind=MessageKind(data["kind"]),
        text=str(data.get("text", "")),
        questions=tuple(_question_from_json(q) for q in data.get("questions", ())),
        controls=tuple(str(c) for c in data.get("controls", ())),
        choices=tuple((str(label), str(args)) for label, args in data.get("choices", ())),
        closed=bool(data.get("closed", False)),
        late=bool(data.get("late", False)),
        finish=bool(data.get("finish", False)),
    )


def _question_to_json(q: QuestionView) -> dict[str, Any]:
    current: str | list[str] | None
    current = list(q.current) if isinstance(q.current, tuple) else q.current
    return {
        "step": q.step,
        "id": q.id,
        "type": q.type,
        "text": q.text,
        "help": q.help,
        "options": [{"id": o.id, "label": o.label} for o in q.options],
        "min": q.min,
        "max": q.max,
        "labels": [[value, label] for value, label in q.labels],
        "optional": q.optional,
        "not_applicable": q.not_applicable,
        "current": current,
        "hint": q.hint,
    }


def _question_from_json(d: Mapping[str, Any]) -> QuestionView:
    raw = d.get("current")
    # JSON has no tuples: a list here was a tuple of choices (multi), a string one value.
    current: str | tuple[str, ...] | None
    current = tuple(str(c) for c in raw) if isinstance(raw, list) else raw
    return QuestionView(
        step=d["step"],
        id=d["id"],
        type=d["type"],
        text=d.get("text", ""),
        help=d.get("help"),
        options=tuple(OptionView(o["id"], o["label"]) for o in d.get("options", ())),
        min=d.get("min"),
        max=d.get("max"),
        labels=tuple((int(v), str(label)) for v, label in d.get("labels", ())),
        optional=bool(d.get("optional", False)),
        not_applicable=bool(d.get("not_applicable", False)),
        current=current,
        hint=str(d.get("hint") or ""),
    )


@dataclass(frozen=True, slots=True)
class _Parked:
    """A conversation none of whose rows may go before `until`, and the originals among
    them (edits elsewhere wait for those)."""

    until: datetime
    originals: frozenset[tuple[str | None, str]]


# --------------------------------------------------------------------------- the worker


class Courier(Protocol):
    """What the outbox needs of an adapter (every `adapters.base.Adapter` is one)."""

    platform: str
    limits: Limits

    async def deliver(self, delivery: Delivery) -> DeliveryResult: ...


class OutboxStore(Protocol):
    """The `bot.store.repo.Store` methods the outbox uses."""

    async def outbox_due(
        self,
        now: datetime,
        limit: int = 200,
        skip: Collection[Conversation] = (),
        known: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> Sequence[QueuedMessage]: ...

    async def outbox_sent_many(
        self, sent: Sequence[tuple[int, datetime, str | None]], threads: Mapping[str, str]
    ) -> object: ...

    async def outbox_retry(self, id: int, not_before: datetime, error: str) -> object: ...

    async def outbox_failed(self, id: int, error: str) -> object: ...

    async def outbox_hold(self, id: int, not_before: datetime, error: str) -> object: ...

    async def outbox_wait_for_start(self, id: int, error: str) -> object: ...

    async def outbox_drop(self, id: int, now: datetime, refused: str | None = None) -> object: ...

    async def message_ref(self, run_id: str, msg_key: str) -> str | None: ...

    async def run_threads(self, run_ids: Iterable[str]) -> Mapping[str, str | None]: ...


@dataclass(slots=True)
class PlatformStats:
    """Counters for `samen status` (R-OPS-2)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    last_429: datetime | None = None


class Outbox:
    """The delivery worker: `await run()` until `stop()`; `notify()` after new rows."""

    def __init__(
        self,
        store: OutboxStore,
        adapters: Mapping[str, Courier],
        clock: Clock,
        *,
        max_attempts: int = 5,
        call_timeout: float = 10.0,
        rng: random.Random | None = None,
        batch: int = 200,
        lookahead: timedelta = timedelta(hours=1),
        poll_interval: float = 1.0,
        max_in_flight: int = 32,
        lease: Lease | None = None,
        on_blocked: Callable[[QueuedMessage, Courier], Awaitable[None]] | None = None,
        on_failed: Callable[[QueuedMessage, str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        # One sender per database: several processes sharing PostgreSQL would otherwise
        # each send the same rows and each count only their own calls against the limits.
        self.lease = lease if lease is not None else Lease()
        self._lease_checked = float("-inf")
        # Told about a message parked because its person has not started the bot (see
        # bot/teams/start_links.py: it posts one deep link in the team's group).
        self.on_blocked = on_blocked
        # Told about a message that will not arrive (failed for good, with the reason code):
        # bot/teams/undelivered.py tells the chair once when it was a bell, summary or form.
        self.on_failed = on_failed
        self.adapters = adapters
        self.clock = clock
        self.max_attempts = max_attempts
        self.call_timeout = call_timeout
        self.rng = rng if rng is not None else random.Random()
        self.batch = batch
        self.lookahead = lookahead
        # Without a notify (rows written by another process) the worker still looks
        # this often; with one it looks at once.
        self.poll_interval = poll_interval
        self.max_in_flight = max_in_flight
        self.limiter = RateLimiter()
        self.stats: defaultdict[str, PlatformStats] = defaultdict(PlatformStats)
        self._wake = asyncio.Event()
        self._stopping = False
        self._pump_lock = asyncio.Lock()
        self._in_flight: dict[Conversation, asyncio.Task[None]] = {}
        # Rows whose call ended while a pass was reading: that read may predate their
        # outcome (still pending), and sending them again would duplicate them.
        self._ended: set[int] = set()
        self._last_prune: datetime | None = None
        # Deliveries not yet marked sent in the store: (row id, when, platform ref), and
        # threads runs opened meanwhile. Marked together at the start of the next pass
        # (which reads rows only after that) - one transaction instead of one per call.
        self._sent: list[tuple[int, datetime, str | None]] = []
        self._new_threads: dict[str, str] = {}
        # The platform thread of the runs of rows read (None: none yet), read for all the
        # rows of a pass at once. Only the lease holder sets threads, so the cache is
        # good while this process holds the lease (cleared when it takes it anew).
        self._threads: dict[str, str | None] = {}
        # The platform ids of the messages this process sent, by (run, message key): an
        # edit of one needs no read (it is the sender, so its own sends are the latest).
        self._refs: dict[tuple[str, str], str] = {}
        # Conversations whose head waits for their budget (the chat's 1/s, a 429): none
        # of their rows is read again before then. In a burst the rows waiting a second
        # for their chat were read on every pass, most of the worker's work (P4).
        self._parked: dict[Conversation, _Parked] = {}
        # The messages of the rows the last pass read, by row id (`outbox_due`'s `known`).
        self._messages: dict[int, Mapping[str, Any]] = {}
        # Until when each platform keeps room for the meeting's clock (see "The meeting's
        # clock" above).
        self._meeting_until: dict[str, datetime] = {}
        # The moments a meeting's clock rings next, by its channel, as its last clock
        # message sent there told (`rings`): the channel is kept free for them.
        self._rings: dict[Conversation, list[datetime]] = {}

    # -- control

    def notify(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the calls in flight and leave `run()`."""
        self._stopping = True
        self._wake.set()

    @property
    def sending(self) -> int:
        """How many sends are under way, counting a pass that reads what to send as one."""
        return len(self._in_flight) + self._pump_lock.locked()

    async def run(self) -> None:
        self._stopping = False
        try:
            while not self._stopping:
                # Cleared before the pass, so that a notify during the pass is not lost.
                self._wake.clear()
                try:
                    # Another process sends while it holds the lease; this one looks again
                    # at the next poll and takes over when that process is gone.
                    wake_at = await self.pump() if await self._leased() else None
                except Exception as exc:  # the store is unreachable: try again later
                    log.warning("outbox pass failed: %s", type(exc).__name__)
                    wake_at = None
                if self._stopping:
                    break
                await self._wait(wake_at)
        finally:
            # A call the platform may already have accepted is finished, not cancelled:
            # cancelling it would turn into a duplicate after the restart.
            if self._in_flight:
                await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
            try:
                await self._mark_sent()
            except Exception as exc:  # sent but unmarked: sent again after the restart
                log.warning("outbox: %d sends not marked: %s", len(self._sent), type(exc).__name__)
            await self.lease.release()

    async def _leased(self) -> bool:
        """Whether this process sends: the lease is checked at most once a second (a
        ping on PostgreSQL), not on every pass."""
        moment = time.monotonic()
        if self.lease.held and moment - self._lease_checked < 1.0:
            return True
        self._lease_checked = moment
        held_before = self.lease.held
        held = await self.lease.check()
        if held and not held_before:
            self._threads.clear()  # another process may have set threads meanwhile
            self._refs.clear()  # and sent messages
        return held

    async def flush(self) -> None:
        """Wait for the calls in flight and mark them (for tests and shutdown)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        async with self._pump_lock:
            await self._mark_sent()

    async def _mark_sent(self) -> None:
        """Mark the deliveries made since the last pass as sent, in one transaction."""
        if not self._sent and not self._new_threads:
            return
        sent, threads = list(self._sent), dict(self._new_threads)
        await self.store.outbox_sent_many(sent, threads)
        del self._sent[: len(sent)]
        for run_id in threads:
            self._new_threads.pop(run_id, None)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per platform: sent, retried, failed, last 429 (ISO, or None)."""
        return {
            platform: {
                "sent": s.sent,
                "retried": s.retried,
                "failed": s.failed,
                "last_429": s.last_429.isoformat() if s.last_429 else None,
            }
            for platform, s in self.stats.items()
        }

    # -- one pass

    async def pump(self) -> datetime | None:
        """Start every call that may go now; return when the next one may (None: unknown)."""
        # Two pumps at once (the worker loop and a shutdown flush) would both read a row as
        # pending before either had started its call, and send it twice.
        async with self._pump_lock:
            return await self._pump()

    async def _pump(self) -> datetime | None:
        now = self.clock.now()
        if self._last_prune is None or now - self._last_prune > timedelta(minutes=1):
            self.limiter.prune(now)
            self._rings = {
                c: moments for c, moments in self._rings.items() if moments[-1] + RING_HOLD > now
            }
            self._last_prune = now
        # Calls that end from here on are remembered in `_ended` (their rows may still
        # read as pending); those that ended before are marked sent before reading.
        self._ended.clear()
        await self._mark_sent()
        spent = self._budgets_spent_until(now)
        if spent is not None:
            return spent  # nothing may go before then: no need to read the rows again
        self._parked = {c: p for c, p in self._parked.items() if p.until > now}
        # When only the meeting's clock may go, a few rows will do: its rows are read first.
        others_may_go = self._budgets_spent_until(now, clock=False) is None
        read = await self.store.outbox_due(
            now + self.lookahead,
            limit=self.batch if others_may_go else CLOCK_READ,
            skip=self._parked.keys(),
            known=self._messages,
        )
        # What this pass read is what the next one may not need to open again.
        if others_may_go:
            self._messages = {r.id: r.message for r in read}
        else:
            self._messages.update((r.id, r.message) for r in read)
        # Originals still queued (possibly to another conversation) that edits wait for.
        originals: defaultdict[Conversation, set[tuple[str | None, str]]] = defaultdict(set)
        for r in read:
            if r.op != "edit" and r.msg_key:
                originals[(r.platform, r.destination)].add((r.run_id, r.msg_key))
        queued = {key for keys in originals.values() for key in keys}
        queued.update(key for parked in self._parked.values() for key in parked.originals)
        # Their conversations wait for the next pass (woken by the call's end), which reads
        # their outcome: skipping only the row could send a later one before its retry.
        stale = {(r.platform, r.destination) for r in read if r.id in self._ended}
        rows = [r for r in read if (r.platform, r.destination) not in stale]
        await self._read_threads({r.run_id for r in rows if r.run_id})  # one read, not one per call

        wake = min((parked.until for parked in self._parked.values()), default=None)
        heads: dict[tuple[str, str, str | None], QueuedMessage] = {}
        held: list[tuple[QueuedMessage, datetime]] = []
        for row in sorted(rows, key=lambda r: r.id):
            conversation = (row.platform, row.destination)
            if (*conversation, row.run_id) in heads:
                continue
            hours = _hours_of(row)
            if hours is not None and conversation not in self._in_flight:
                if row.not_before > now:
                    if row.error == OUTSIDE_HOURS:  # held: it stands aside (see above)
                        wake = _earliest(wake, row.not_before)
                        continue
                elif (until := _outside(hours, now)) is not None:  # its turn, after hours
                    held.append((row, until))
                    continue
            heads[(*conversation, row.run_id)] = row
        for row, until in held:
            await self.store.outbox_hold(row.id, until, OUTSIDE_HOURS)
            # Ids only: the moment would tell the person's time zone.
            log.info("outbox row %s (%s): outside working hours, held", row.id, row.kind)

        for row in sorted(heads.values(), key=lambda r: (r.priority, r.id)):
            conversation = (row.platform, row.destination)
            if conversation in self._in_flight or row.id in self._ended:
                continue
            if row.not_before > now:
                wake = _earliest(wake, row.not_before)
                continue
            if row.op == "edit" and (row.run_id, row.msg_key) in queued:
                continue  # the original's delivery wakes the loop when it is done
            clock = row.priority <= CLOCK
            if len(self._in_flight) >= self.max_in_flight - (0 if clock else self._spare_calls):
                if clock:
                    break  # a finishing call wakes the loop
                continue  # a clock row further on may still take one of the spare calls
            courier = self.adapters.get(row.platform)
            if courier is None:
                log.warning("outbox row %s (%s): no adapter", row.id, row.kind)
                await self._give_up(row, f"no adapter for {row.platform}")
                self.stats[row.platform].failed += 1
                continue
            if not clock and (kept := self._kept_for_clock(conversation, courier.limits, now)):
                wake = _earliest(wake, kept)  # or the clock's message, which wakes the loop
                continue
            spare = 0 if clock else self._spare(row.platform, courier.limits, now)
            windows = windows_for(
                row.platform,
                courier.limits,
                row.destination,
                bool(row.message.get("group", False)),
                row.op,
                spare=spare,
            )
            # The platform's budget is spent: no row of it may go, whatever its chat. Not
            # parked: parking every conversation read made the next reads skip thousands.
            budget = overall_window(row.platform, courier.limits, spare)
            overall = self.limiter.allowed_at([budget], now)
            if overall > now:
                wake = _earliest(wake, overall)
                continue
            allowed = self.limiter.allowed_at(windows, now)
            if allowed > now:
                wake = _earliest(wake, allowed)
                self._parked[conversation] = _Parked(allowed, frozenset(originals[conversation]))
                continue
            self.limiter.record(windows, now)
            self._in_flight[conversation] = asyncio.create_task(
                self._deliver(row, courier, windows[0].key, windows, now), name=f"outbox-{row.id}"
            )
        return wake

    def _budgets_spent_until(self, now: datetime, *, clock: bool = True) -> datetime | None:
        """While every platform's overall budget is spent, the moment the first frees;
        with `clock=False`, the budget other rows may use (without the spare).

        In a burst each finished call wakes the worker; without this every wake would
        read a full batch of rows only to find that no call may start (P2 in
        docs/performance.md)."""
        earliest: datetime | None = None
        for platform, courier in self.adapters.items():
            spare = 0 if clock else self._spare(platform, courier.limits, now)
            free = self.limiter.allowed_at([overall_window(platform, courier.limits, spare)], now)
            if free <= now:
                return None
            earliest = _earliest(earliest, free)
        return earliest

    def _kept_for_clock(
        self, conversation: Conversation, limits: Limits, now: datetime
    ) -> datetime | None:
        """Until when `conversation` is kept free for its meeting's clock (None: it is
        not now): from one chat window before a moment it rings to `RING_HOLD` after."""
        window = timedelta(seconds=limits.per_chat[1])
        for moment in self._rings.get(conversation, ()):
            if moment - window <= now < moment + RING_HOLD:
                return moment + RING_HOLD
        return None

    def _clock_sent(self, row: QueuedMessage, now: datetime) -> None:
        """A clock message goes out: the moments it rang are over, and those it tells of
        (`rings`) are its channel's next."""
        conversation = (row.platform, row.destination)
        told = row.message.get("rings")
        moments = (
            [datetime.fromisoformat(m) for m in told]
            if told
            else [m for m in self._rings.get(conversation, ()) if m > now]
        )
        if moments:
            self._rings[conversation] = moments
        else:
            self._rings.pop(conversation, None)

    @property
    def _spare_calls(self) -> int:
        """Calls in flight kept for the meeting's clock (an eighth)."""
        return self.max_in_flight // 8

    def _spare(self, platform: str, limits: Limits, now: datetime) -> int:
        """Slots of the platform's overall budget kept for the meeting's clock: a tenth
        (at least one) while a meeting is under way there, none otherwise."""
        until = self._meeting_until.get(platform)
        if until is None or until <= now:
            return 0
        count = limits.overall[0]
        return min(count - 1, max(1, count // 10))

    async def _wait(self, until: datetime | None) -> None:
        delay = self.poll_interval
        if until is not None:
            delay = min(delay, (until - self.clock.now()).total_seconds())
        if delay <= 0 or self._wake.is_set():
            await asyncio.sleep(0)  # let other tasks run, but do not wait
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()

    # -- one call

    async def _deliver(
        self,
        row: QueuedMessage,
        courier: Courier,
        chat: Key,
        windows: Sequence[Window] = (),
        started: datetime | None = None,
    ) -> None:
        try:
            try:
                delivery = await self._delivery(row)
                if delivery is None:
                    await self._retry_or_fail(row, "original not delivered")
                    return
                try:
                    result = await asyncio.wait_for(courier.deliver(delivery), self.call_timeout)
                finally:
                    if started is not None:  # the platform saw it by now at the latest
                        self.limiter.settle(windows, started, self.clock.now())
            except TimeoutError:
                await self._retry_or_fail(row, "timeout")
            except Exception as exc:
                # The type only: an exception's text may hold a token or a message.
                await self._retry_or_fail(row, type(exc).__name__)
            else:
                await self._record(row, result, chat, courier)
        except Exception as exc:  # the outcome could not be stored; the row stays pending
            log.warning(
                "outbox row %s (%s): outcome not stored: %s", row.id, row.kind, type(exc).__name__
            )
        finally:
            self._ended.add(row.id)
            del self._in_flight[(row.platform, row.destination)]
            self._wake.set()

    async def _delivery(self, row: QueuedMessage) -> Delivery | None:
        data = row.message
        if row.op == "delete":  # no text: the platform ref and where it went
            return Delivery(
                id=row.id,
                op="delete",
                chat=row.destination,
                message=Message(MessageKind.say, ""),
                ref=row.platform_ref,
                group=bool(data.get("group", False)),
                language=str(data.get("language") or "nl"),
            )
        thread = None
        topic = str(data["topic"]) if data.get("topic") else None
        if row.run_id:
            # A run started in a forum topic keeps every message there (TOPIC_THREAD).
            run_thread = await self._thread_of(row.run_id)
            if run_thread is not None and run_thread.startswith(TOPIC_THREAD):
                topic = topic or run_thread[len(TOPIC_THREAD) :]
            elif data.get("thread"):
                thread = run_thread
        ref = None
        if row.op == "edit":
            if row.run_id:
                ref = self._refs.get((row.run_id, row.msg_key))
                ref = ref or await self.store.message_ref(row.run_id, row.msg_key)
            if ref is None:
                return None
        user = data.get("user")
        return Delivery(
            id=row.id,
            op=row.op,
            chat=row.destination,
            message=message_from_json(data),
            thread=thread,
            ref=ref,
            group=bool(data.get("group", False)),
            user=str(user) if user is not None else None,
            run=row.run_id,
            language=str(data.get("language") or "nl"),
            topic=topic,
        )

    async def _record(
        self, row: QueuedMessage, result: DeliveryResult, chat: Key, courier: Courier | None = None
    ) -> None:
        now = self.clock.now()
        stats = self.stats[row.platform]
        if row.op == "delete" and result.retry_after is None:
            await self._record_delete(row, result)
        elif result.ok:
            self._sent.append((row.id, now, result.ref))  # marked by the next pass
            if row.op == "send" and row.run_id and result.ref:
                if len(self._refs) >= _REFS_KEPT:
                    self._refs.clear()  # a cache: read again when needed
                self._refs[(row.run_id, row.msg_key)] = result.ref
            stats.sent += 1
            if row.priority <= CLOCK:  # a meeting is under way on this platform
                self._meeting_until[row.platform] = now + MEETING_SPELL
                self._clock_sent(row, now)
            log.info("outbox row %s (%s): sent", row.id, row.kind)
            if result.thread and row.run_id and await self._thread_of(row.run_id) is None:
                # The run's first thread is kept: later top-level messages do not move it.
                self._threads[row.run_id] = self._new_threads[row.run_id] = result.thread
        elif result.retry_after is not None:
            until = now + timedelta(seconds=max(0.0, result.retry_after))
            self.limiter.block(chat, until)
            if row.op == "delete":  # a delete method's limit is the workspace's (Slack)
                self.limiter.block(delete_key(row.platform), until)
            await self.store.outbox_retry(row.id, until, "429")
            stats.retried += 1
            stats.last_429 = now
            log.info(
                "outbox row %s (%s): 429, retry after %.1fs", row.id, row.kind, result.retry_after
            )
        elif result.blocked_until_start:
            # Parked, not retried: it goes out when the person starts the bot.
            await self.store.outbox_wait_for_start(row.id, "waiting for start")
            log.info(
                "outbox row %s (%s): waiting until the person starts the bot", row.id, row.kind
            )
            if self.on_blocked is not None and courier is not None:
                await self.on_blocked(row, courier)
        elif result.failed is not None:
            await self.store.outbox_failed(row.id, result.failed[:200])
            stats.failed += 1
            log.warning(
                "outbox row %s (%s, %s to %s): failed: %s",
                row.id,
                row.kind,
                row.op,
                destination_kind(row),
                result.failed[:80],
            )
            await self._tell_failed(row, result.failed[:80])
        else:
            await self._retry_or_fail(row, "empty result")

    async def _tell_failed(self, row: QueuedMessage, reason: str) -> None:
        if self.on_failed is None:
            return
        try:
            await self.on_failed(row, reason)
        except Exception as exc:  # telling someone must never stop the deliveries
            log.warning("outbox row %s: failure not reported: %s", row.id, type(exc).__name__)

    async def _thread_of(self, run_id: str) -> str | None:
        if run_id not in self._threads:
            await self._read_threads({run_id})
        return self._threads.get(run_id)

    async def _read_threads(self, run_ids: set[str]) -> None:
        unknown = run_ids - self._threads.keys()
        if not unknown:
            return
        if len(self._threads) + len(unknown) > _THREADS_KEPT:
            self._threads.clear()  # a cache: read again when needed
        found = await self.store.run_threads(unknown)
        self._threads.update({run_id: found.get(run_id) for run_id in unknown})

    async def _record_delete(self, row: QueuedMessage, result: DeliveryResult) -> None:
        """A delete is done either way: the row goes (it names the person's chat)."""
        stats = self.stats[row.platform]
        if result.ok:
            await self.store.outbox_drop(row.id, self.clock.now())
            stats.sent += 1
            log.info("outbox row %s (delete): deleted on the platform", row.id)
            return
        if result.failed is None and not result.blocked_until_start:
            await self._retry_or_fail(row, "empty result")
            return
        await self._give_up(row, result.failed or "not reachable")
        stats.failed += 1

    async def _give_up(self, row: QueuedMessage, reason: str) -> None:
        """No more attempts: a message is marked failed with its reason; a delete row is
        removed and its refusal recorded in the access log (the reason code only)."""
        if row.op == "delete":
            await self.store.outbox_drop(row.id, self.clock.now(), refused=reason[:200])
            log.warning("outbox row %s (delete): not deleted on the platform: %s", row.id, reason)
            return
        await self.store.outbox_failed(row.id, reason[:200])

    async def _retry_or_fail(self, row: QueuedMessage, reason: str) -> None:
        now = self.clock.now()
        stats = self.stats[row.platform]
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            await self._give_up(row, reason)
            stats.failed += 1
            log.warning(
                "outbox row %s (%s, %s to %s): failed after %d attempts: %s",
                row.id,
                row.kind,
                row.op,
                destination_kind(row),
                attempts,
                reason,
            )
            if row.op != "delete":
                await self._tell_failed(row, reason[:80])
            return
        delay = min(60.0, 2.0**attempts) * self.rng.uniform(0.5, 1.5)
        await self.store.outbox_retry(row.id, now + timedelta(seconds=delay), reason[:200])
        stats.retried += 1
        log.info(
            "outbox row %s (%s): retry %d in %.1fs: %s", row.id, row.kind, attempts, delay, reason
        )


_REFS_KEPT = 50_000  # sent messages' ids kept for their edits
_THREADS_KEPT = 10_000  # runs whose thread the outbox remembers


def destination_kind(row: QueuedMessage) -> str:
    """Where a row was going, for a log line that names no one: a private chat, a run's
    thread, or the team's channel (a group)."""
    if row.destination.startswith("dm:"):
        return "a private chat"
    if row.message.get("thread"):
        return "a thread"
    return "a group channel"


def _outside(hours: WorkingHours, now: datetime) -> datetime | None:
    """When a message with `hours` whose turn is `now` may go instead (None: now). It
    must arrive inside them too: in their last `ARRIVAL_MARGIN` it waits for the next."""
    return hours.wait_until(now) or hours.wait_until(now + ARRIVAL_MARGIN)


def _hours_of(row: QueuedMessage) -> WorkingHours | None:
    """The working hours the row must be delivered in (`message["hours"]`), if any."""
    data = row.message.get("hours")
    return WorkingHours.from_json(data) if data is not None else None


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a
