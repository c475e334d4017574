"""P7: a working day of a large organisation, compressed to ten minutes, on the real clock.

Two `samen run` processes (Slack over HTTP) share one PostgreSQL, a database made for the
run (`bench.world.postgres_database`). The organisation: 1,000 teams of 10 people in
time zones around the world, each team's working hours in its own zone; for every tenth
team the working day ends inside the ten minutes, for every tenth it starts inside them.
In those ten minutes:

- 200 meetings (two phases of a minute each, a bell at the end of each, then a question
  to everyone), each started by `/samen start dag-overleg` in its team's channel;
- 300 visits planned by `/samen bezoek <date> <time> @a @b cliënt <code>`, each starting
  a look back a minute after the visit with a question to the two who went;
- 2,000 evaluation moments falling due, spread over the day (their timers seeded as the
  evaluation desk writes them); each nudges its trajectory's owner, in working hours only,
  and asks them one question;
- check-ins (two questions to every member) in as many teams as bring the day to
  20,000 answers.
Every command and every answer is a genuinely signed Slack request (slash command,
block_actions click on the form's button) to one of the two processes in turn, as a load
balancer would spread them. People answer each form they receive a few seconds after it
arrived at the fake Slack, which runs in its own process, enforces Slack's 1 message/s per
channel (429 beyond it) and writes down every call with the moment it answered.

Judged, at the end: bell lateness (the fake's moment of a bell's delivery minus the bell
timer's due moment) p99 <= 200 ms; every evaluation nudge delivered inside its team's
working hours, and those that fell due outside them held (still pending in the timers
table, or held in the outbox when their turn to be sent came after hours); 0 lost (a
nudge, bell or acked answer that never arrived, an outbox row failed or still waiting
and not held for working hours), 0 doubled (a message the fake took twice: a post that no outbox row
records, or the same content to the same chat twice); 0 x 429 from the fake; each
process's peak resident memory (VmHWM) <= 300 MB.

`SAMEN_BENCH_P7_SCALE=0.1 SAMEN_BENCH_P7_MINUTES=1` makes a small run for development;
the figure is the full day (scale 1, ten minutes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import os
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, select

from bench.day_world import (
    PEOPLE,
    Nudge,
    SamenRun,
    Team,
    data_key,
    day_flows,
    new_data_key,
    plan_nudges,
    plan_teams,
    samen_environment,
    seed_teams,
    seed_trajectories,
    set_hours,
    start_fake,
    user_of_dm,
)
from bench.world import SLACK_SECRET, percentile, postgres_database, write_flows
from bot.runtime.outbox import OUTSIDE_HOURS
from bot.store.repo import Store
from bot.store.tables import AnswerRow, EventRow, InboxRow, OutboxRow, TimerRow

SCALE = float(os.environ.get("SAMEN_BENCH_P7_SCALE", "1"))
MINUTES = float(os.environ.get("SAMEN_BENCH_P7_MINUTES", "10"))
TEAMS, MEETINGS, VISITS, NUDGES, ANSWERS = 1000, 200, 300, 2000, 20_000
PHASES = 2  # per meeting, a minute each: a bell at the end of each
CHECKIN_QUESTIONS = 2
BELL_TARGET = 0.200  # s
RSS_TARGET = 300  # MB per process
# Slack publishes no workspace-wide number for chat.postMessage (its 1/s per channel is
# what the fake enforces); a large organisation's installation raises Samen's own cap
# (SAMEN_SLACK_WORKSPACE_CAP, default 8/s), or its day would not fit in the day.
WORKSPACE_CAP = 100
LEAD = 10.0  # s from both processes ready to the start of the day
THINK = (2.0, 20.0)  # s a person takes to answer a form, at ten minutes a day
QUIET = 10.0  # s without a call at the fake (and nothing left to do): the day is over
TAIL = 6 * 60.0  # s after the day: a bound, not a measurement
REF = re.compile(r"EV-\d{5}")


@dataclass
class Workload:
    teams: int
    meetings: int
    visits: int
    nudges: int
    checkins: int
    minutes: float

    @classmethod
    def scaled(cls, scale: float, minutes: float) -> Workload:
        teams = max(10, round(TEAMS * scale))
        meetings, visits, nudges = (round(n * scale) for n in (MEETINGS, VISITS, NUDGES))
        # The check-ins bring the day to its answers: one per nudge delivered in working
        # hours (about 19 in 20; the rest wait for the next morning), ten per meeting,
        # two per visit.
        rest = round(ANSWERS * scale) - round(nudges * 0.95) - meetings * PEOPLE - visits * 2
        checkins = min(teams, max(0, math.ceil(rest / (PEOPLE * CHECKIN_QUESTIONS))))
        return cls(teams, meetings, visits, nudges, checkins, minutes)

    @property
    def day(self) -> timedelta:
        return timedelta(minutes=self.minutes)


# --------------------------------------------------------------------------- the requests


def _signed(body: str) -> dict[str, str]:
    """Slack's request signature: v0= HMAC-SHA256(secret, "v0:{ts}:{raw body}")."""
    stamp = str(int(time.time()))
    digest = hmac.new(
        SLACK_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


@dataclass
class Traffic:
    """The people's side: slash commands and clicks, spread over the two processes."""

    urls: list[str]
    session: aiohttp.ClientSession
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    turn: itertools.count[int] = field(default_factory=lambda: itertools.count())
    acks: list[float] = field(default_factory=list)
    refused: int = 0
    answers: int = 0

    async def post(self, body: str) -> bool:
        url = self.urls[next(self.turn) % len(self.urls)]  # as a load balancer would
        began = time.perf_counter()
        try:
            async with self.session.post(url, data=body.encode(), headers=_signed(body)) as r:
                await r.read()
                ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        self.acks.append(time.perf_counter() - began)
        self.refused += not ok
        return ok

    async def command(self, channel: str, user: str, text: str) -> bool:
        return await self.post(
            urlencode(
                {
                    "token": "x",
                    "team_id": "T0001",
                    "team_domain": "zorg",
                    "channel_id": channel,
                    "channel_name": channel.lower(),
                    "user_id": user,
                    "user_name": user.lower(),
                    "command": "/samen",
                    "text": text,
                    "api_app_id": "A1",
                    "is_enterprise_install": "false",
                    "response_url": "https://hooks.slack.com/commands/T0001/1/x",
                    "trigger_id": f"{next(self.ids)}.4242.command",
                }
            )
        )

    async def click(self, user: str, channel: str, ts: str, button: dict[str, Any]) -> None:
        action = {**button, "block_id": "b", "action_ts": f"{time.time():.6f}"}
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
            "api_app_id": "A1",
            "token": "x",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "trigger_id": f"{next(self.ids)}.4242.click",
            "team": {"id": "T0001", "domain": "zorg"},
            "channel": {"id": channel, "name": "x"},
            "message": {"type": "message", "ts": ts},
            "actions": [action],
        }
        if await self.post(urlencode({"payload": json.dumps(payload)})):
            self.answers += 1


@dataclass
class FakeLog:
    """What the fake Slack wrote down, read as it grows; each form seen once."""

    path: Path
    calls: list[dict[str, Any]] = field(default_factory=list)
    _offset: int = 0
    _rest: str = ""
    forms: set[tuple[str, str]] = field(default_factory=set)
    channel_forms: int = 0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            f.seek(self._offset)
            chunk = f.read()
            self._offset = f.tell()
        lines = (self._rest + chunk).split("\n")
        self._rest = lines.pop()
        new = [json.loads(line) for line in lines if line]
        self.calls.extend(new)
        return new

    def new_forms(self, calls: list[dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(person, channel, ts, the first button) of each question not seen before."""
        found = []
        for call in calls:
            if not call.get("ok") or not call.get("buttons"):
                continue
            for button in call["buttons"]:
                question = "|".join(str(button["action_id"]).split("|")[:4])
                if (call["channel"], question) in self.forms:
                    continue
                self.forms.add((call["channel"], question))
                user = user_of_dm(call["channel"])
                if user is None:  # a form in a channel: not part of this day
                    self.channel_forms += 1
                    continue
                found.append((user, call["channel"], call["ts"], button))
        return found


# --------------------------------------------------------------------------- the day


def _commands(
    work: Workload, teams: list[Team], start: datetime
) -> list[tuple[float, str, str, str]]:
    """(seconds after the start, channel, person, text) of every command of the day."""
    day = work.day.total_seconds()
    out: list[tuple[float, str, str, str]] = []

    def spread(n: int, k: int, until: float) -> float:
        # A short development day still spreads its commands over half of it.
        return max(day / 2, until) * k / max(1, n)

    for k in range(work.meetings):
        team = teams[k * len(teams) // max(1, work.meetings)]
        at = spread(work.meetings, k, day - (PHASES + 1.5) * 60)
        out.append((at, team.channel, team.people[0], "start dag-overleg"))
    for k in range(work.checkins):
        team = teams[(k * len(teams) // max(1, work.checkins) + 5) % len(teams)]
        at = spread(work.checkins, k, day - 120)
        out.append((at, team.channel, team.people[3], "start dag-checkin"))
    for k in range(work.visits):
        team = teams[(k * 7) % len(teams)]
        at = spread(work.visits, k, day - 240)
        visit = (start + timedelta(seconds=at + 90)).astimezone(ZoneInfo(team.zone))
        visit = visit.replace(second=0, microsecond=0) + timedelta(minutes=1)
        a, b = team.people[1 + k % 4], team.people[5 + k % 4]
        text = f"bezoek {visit:%Y-%m-%d %H:%M} <@{a}|a> <@{b}|b> cliënt BZ-{k:05d}"
        out.append((at, team.channel, team.people[0], text))
    return sorted(out, key=lambda c: c[0])


@dataclass
class Backlog:
    """The most events waiting for the inbox's handler, and messages for the outbox,
    seen in samples every two seconds."""

    inbox: int = 0
    outbox: int = 0

    async def sample(self, store: Store) -> None:
        async with store.engine.connect() as conn:
            inbox = await conn.scalar(select(func.count()).where(InboxRow.status == "new"))
            outbox = await conn.scalar(
                select(func.count()).where(
                    OutboxRow.status == "pending", OutboxRow.not_before <= datetime.now(UTC)
                )
            )
        self.inbox = max(self.inbox, int(inbox or 0))
        self.outbox = max(self.outbox, int(outbox or 0))


async def _drive(
    work: Workload,
    traffic: Traffic,
    log: FakeLog,
    teams: list[Team],
    start: datetime,
    store: Store,
    backlog: Backlog,
) -> None:
    """Send the day's commands on time and answer every form; return when the day is over
    and nothing moves any more (or at the bound)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time() + (start - datetime.now(UTC)).total_seconds()
    pending: set[asyncio.Task[Any]] = set()
    think = tuple(s * work.minutes / 10 for s in THINK)
    rng = random.Random(18)

    def launch(coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def answer(delay: float, user: str, channel: str, ts: str, button: Any) -> None:
        await asyncio.sleep(delay)
        await traffic.click(user, channel, ts, button)

    async def send_commands() -> None:
        for at, channel, user, text in _commands(work, teams, start):
            await asyncio.sleep(max(0.0, t0 + at - loop.time()))
            launch(traffic.command(channel, user, text))

    commands = asyncio.ensure_future(send_commands())
    end = t0 + work.day.total_seconds()
    last_call = loop.time()
    sampled = loop.time()
    while True:
        await asyncio.sleep(0.2)
        if loop.time() - sampled >= 2.0:
            sampled = loop.time()
            await backlog.sample(store)
        new = log.read()
        if new:
            last_call = loop.time()
        for user, channel, ts, button in log.new_forms(new):
            launch(answer(rng.uniform(*think), user, channel, ts, button))
        now = loop.time()
        if now > end + TAIL:
            break
        if now < end or not commands.done() or pending or now - last_call < QUIET:
            continue
        if not await _still_to_do(store):
            break
    commands.cancel()
    for task in list(pending):
        task.cancel()
    await asyncio.gather(commands, *pending, return_exceptions=True)


async def _still_to_do(store: Store) -> bool:
    """Events not handled, messages waiting (not those held for working hours), or
    bells and visit starts still to come soon (the shipped flows a visit also starts may
    plan theirs days ahead)."""
    soon = datetime.now(UTC) + timedelta(minutes=2)
    async with store.engine.connect() as conn:
        events = await conn.scalar(select(func.count()).where(InboxRow.status == "new"))
        waiting = await conn.scalar(
            select(func.count()).where(
                OutboxRow.status == "pending", OutboxRow.error != OUTSIDE_HOURS
            )
        )
        timers = await conn.scalar(
            select(func.count()).where(
                TimerRow.status == "pending",
                TimerRow.kind.in_(("bell", "start")),
                TimerRow.due_at <= soon,
            )
        )
    return bool(events or waiting or timers)


# --------------------------------------------------------------------------- the verdict


@dataclass
class Outcome:
    bells: list[float] = field(default_factory=list)
    bells_lost: int = 0
    nudges_delivered: int = 0
    nudges_outside: int = 0
    nudges_held: int = 0
    nudges_lost: int = 0
    doubled_posts: int = 0  # posts no outbox row records
    doubled_content: int = 0  # the same content to the same chat again
    outbox_left: int = 0  # failed, or still pending at the end
    inbox_left: int = 0  # events never handled (or failed)
    answers_stored: int = 0
    visits: int = 0
    limited: int = 0
    calls: int = 0
    bell_stages: list[tuple[float, float, float]] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def details(self) -> list[str]:
        """Where the bells' time went and which nudges fell outside, for the report."""
        lines = []
        if self.bell_stages:
            names = ("due -> handed over", "handed over -> step committed", "committed -> fake")
            parts = []
            for i, name in enumerate(names):
                values = [s[i] for s in self.bell_stages]
                parts.append(
                    f"{name} p50 {percentile(values, 50) * 1000:.0f} / "
                    f"p99 {percentile(values, 99) * 1000:.0f} ms"
                )
            lines.append("P7 bells: " + "; ".join(parts))
        lines += [f"P7 nudge outside working hours: {o}" for o in self.outside[:10]]
        return lines


def _stamp(moment: datetime | None) -> float:
    if moment is None:
        return float("nan")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S.%f")[:-3]


async def _outcome(
    store: Store,
    log: FakeLog,
    nudges: list[Nudge],
    teams: list[Team],
    work: Workload,
    due_of: dict[str, datetime],
) -> Outcome:
    out = Outcome()
    log.read()
    posts = [c for c in log.calls if c["method"] == "chat.postMessage" and c["ok"]]
    out.calls = len(log.calls)
    out.limited = sum(1 for c in log.calls if c["status"] == 429)
    delivered_at = {f"{c['channel']}:{c['ts']}": c["t"] for c in posts}
    async with store.engine.connect() as conn:
        bell_timers = (
            await conn.execute(
                select(
                    TimerRow.run_id, TimerRow.due_at, TimerRow.status, TimerRow.handled_at
                ).where(TimerRow.kind == "bell")
            )
        ).all()
        bell_rows = (
            await conn.execute(
                select(
                    OutboxRow.run_id,
                    OutboxRow.platform_ref,
                    OutboxRow.created_at,
                )
                .where(OutboxRow.kind == "bell", OutboxRow.status == "sent")
                .order_by(OutboxRow.id)
            )
        ).all()
        refs = set(
            await conn.scalars(select(OutboxRow.platform_ref).where(OutboxRow.status == "sent"))
        )
        # Held for the working hours of its person (the outbox's turn came after hours):
        # waiting for the morning, not left behind.
        held = (OutboxRow.status == "pending") & (OutboxRow.error == OUTSIDE_HOURS)
        out.outbox_left = int(
            await conn.scalar(select(func.count()).where(OutboxRow.status != "sent").where(~held))
            or 0
        )
        evaluation_timers = (
            await conn.execute(
                select(TimerRow.timer, TimerRow.status).where(TimerRow.kind == "evaluation")
            )
        ).all()
        out.inbox_left = int(
            await conn.scalar(select(func.count()).where(InboxRow.status != "done")) or 0
        )
        out.answers_stored = int(await conn.scalar(select(func.count(AnswerRow.id))) or 0)
        out.visits = int(
            await conn.scalar(select(func.count()).where(EventRow.kind == "visit")) or 0
        )
    async with store.sessionmaker() as s:  # the messages are sealed: read through the store
        held_messages = list(await s.scalars(select(OutboxRow.message).where(held)))
    held_refs = {ref for m in held_messages for ref in REF.findall(json.dumps(m))}
    # Bells: the k-th bell of a meeting is the k-th bell message of its run.
    due: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run_id, due_at, status, handled_at in sorted(bell_timers, key=lambda r: r[1]):
        if status == "sent":
            due[run_id].append((_stamp(due_at), _stamp(handled_at)))
    sent: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for run_id, ref, created_at in bell_rows:
        sent[run_id].append((ref, _stamp(created_at)))
    for run_id, moments in due.items():
        for (moment, handed), (ref, queued) in zip(moments, sent.get(run_id, []), strict=False):
            if ref in delivered_at:
                out.bells.append(delivered_at[ref] - moment)
                # Where a bell's time went: fired and handed over to the inbox; its step
                # committed with the message; the outbox's call answered by the fake.
                stages = (handed - moment, queued - handed, delivered_at[ref] - queued)
                out.bell_stages.append(stages)
    out.bells_lost = work.meetings * PHASES - len(out.bells)
    # Nudges: each delivered once, inside its team's hours; or held for them.
    seen: dict[str, list[float]] = defaultdict(list)
    for c in posts:
        for ref in set(REF.findall(c.get("text", "") + c.get("content", ""))):
            seen[ref].append(c["t"])
    status_of = {
        timer.split(":")[1]: status for timer, status in evaluation_timers if timer.endswith(":due")
    }
    for nudge in nudges:
        times = seen.get(nudge.ref, [])
        if times:
            out.nudges_delivered += 1
            moment = datetime.fromtimestamp(times[0], UTC)
            team = teams[nudge.team]
            if not team.working(moment):
                out.nudges_outside += 1
                out.outside.append(
                    f"{team.kind} {team.start}-{team.end} {team.zone}, due "
                    f"{_local(due_of[nudge.ref], team.zone)}, delivered "
                    f"{_local(moment, team.zone)}"
                )
        elif status_of.get(nudge.evaluation_id) == "pending" or nudge.ref in held_refs:
            out.nudges_held += 1
        else:
            out.nudges_lost += 1
    # Doubles: a post that no outbox row records (a row's second delivery records only
    # one), and the same content posted to the same chat again.
    out.doubled_posts = sum(1 for c in posts if f"{c['channel']}:{c['ts']}" not in refs)
    contents = Counter((c["channel"], c.get("text", ""), c.get("content", "")) for c in posts)
    out.doubled_content = sum(n - 1 for n in contents.values())
    return out


def _line(
    work: Workload,
    out: Outcome,
    traffic: Traffic,
    log: FakeLog,
    rss: list[float],
    leases: list[list[str]],
) -> str:
    p99 = percentile(out.bells, 99)
    lost = (
        out.bells_lost
        + out.nudges_lost
        + out.outbox_left
        + out.inbox_left
        + max(0, traffic.answers - out.answers_stored)
    )
    parts = {
        "bells not rung": out.bells_lost,
        "nudges": out.nudges_lost,
        "outbox rows failed or waiting": out.outbox_left,
        "events not handled": out.inbox_left,
        "answers not stored": max(0, traffic.answers - out.answers_stored),
    }
    lost_parts = ", ".join(f"{n} {what}" for what, n in parts.items() if n)
    lost_parts = f" ({lost_parts})" if lost_parts else ""
    doubled = max(out.doubled_posts, out.doubled_content)
    peak = max(rss, default=0.0)
    ok = (
        p99 <= BELL_TARGET
        and out.bells_lost == 0
        and out.nudges_outside == 0
        and lost == 0
        and doubled == 0
        and out.limited == 0
        and peak <= RSS_TARGET
    )
    full = SCALE == 1 and MINUTES == 10
    scale = "" if full else f" (scale {SCALE:g}, {MINUTES:g} min: a development run)"
    return (
        f"P7 working day{scale}: 2 processes on postgresql, {work.teams:,} teams x {PEOPLE}, "
        f"{work.minutes:g} min, workspace cap {WORKSPACE_CAP}/s, leases "
        f"{' / '.join('+'.join(held) or 'none' for held in leases)}: bells {len(out.bells)} "
        f"of {work.meetings * PHASES} rung ({work.meetings} meetings), lateness p99 "
        f"{p99 * 1000:.0f} ms = "
        f"{p99 / BELL_TARGET:.2f} x target ({BELL_TARGET * 1000:.0f} ms), p50 "
        f"{percentile(out.bells, 50) * 1000:.0f} ms; evaluation nudges {out.nudges_delivered} "
        f"delivered, {out.nudges_outside} outside working hours, {out.nudges_held} held for "
        f"them; {out.visits} of {work.visits} visits planned; {traffic.answers:,} answers acked "
        f"({out.answers_stored:,} stored), {traffic.refused} requests not acked, ack p99 "
        f"{percentile(traffic.acks, 99) * 1000:.0f} ms; {len(log.calls):,} Web API calls; "
        f"lost {lost}{lost_parts}, doubled {doubled}, {out.limited} x 429; RSS peak "
        f"{' / '.join(f'{r:.0f}' for r in rss)} MB = {peak / RSS_TARGET:.2f} x target "
        f"({RSS_TARGET} MB) [{'ok' if ok else 'MISSED'}]"
    )


# --------------------------------------------------------------------------- the run


async def run(scale: float = SCALE, minutes: float = MINUTES) -> str:
    work = Workload.scaled(scale, minutes)
    kept = os.environ.get("SAMEN_BENCH_P7_KEEP")  # development: keep the files and database
    async with postgres_database("p7", keep=bool(kept)) as url:
        if url is None:
            return "P7 working day: not measured, no PostgreSQL"
        if kept:
            Path(kept).mkdir(parents=True, exist_ok=True)
            return await _day(work, url, Path(kept))
        with tempfile.TemporaryDirectory() as tmp:
            return await _day(work, url, Path(tmp))


async def _day(work: Workload, url: str, folder: Path) -> str:
    key = new_data_key()
    flows = write_flows(folder / "flows", day_flows(PHASES))
    with data_key(key):
        store = await Store.open(url, migrate=True)
    processes: list[SamenRun] = []
    fake = None
    try:
        began = time.perf_counter()
        now = datetime.now(UTC)
        teams = plan_teams(work.teams, now, work.day)
        await seed_teams(store, teams, now)
        nudges = await seed_trajectories(store, teams, work.nudges, now)
        print(
            f"P7 set-up: {work} seeded in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        zones = {user: t.zone for t in teams for user in t.people}
        fake, api_url = await start_fake(folder / "fake.jsonl", zones)
        env = samen_environment(folder, url, flows, api_url, key, WORKSPACE_CAP)
        for name in ("samen-a", "samen-b"):  # one after the other: the same data key file
            processes.append(SamenRun(folder, env, name))
            await processes[-1].ready()
        start = datetime.now(UTC) + timedelta(seconds=LEAD)
        planned = plan_teams(work.teams, start, work.day, zones=[t.zone for t in teams])
        for team, hours in zip(teams, planned, strict=True):
            if hours.kind != "open":
                team.start, team.end = hours.start, hours.end
                await set_hours(store, team)
        due_of = await plan_nudges(store, nudges, start + work.day * 0.02, work.day * 0.96)
        log = FakeLog(folder / "fake.jsonl")
        connector = aiohttp.TCPConnector(limit=64)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            traffic = Traffic([p.url for p in processes], session)
            backlog = Backlog()
            cpu = [p.cpu_seconds() for p in processes]
            waited = [p.cpu_waited() for p in processes]
            await _drive(work, traffic, log, teams, start, store, backlog)
        took = (datetime.now(UTC) - start).total_seconds()
        cpu = [p.cpu_seconds() - c for p, c in zip(processes, cpu, strict=True)]
        waited = [p.cpu_waited() - w for p, w in zip(processes, waited, strict=True)]
        rss = [p.peak_rss_mb() for p in processes]
        leases = [p.leases() for p in processes]
        print(
            f"P7 load: the day and its tail took {took:.0f} s; CPU of the processes "
            f"{' / '.join(f'{c:.0f} s ({c / took:.0%} of a core)' for c in cpu)}, waiting "
            f"for a CPU {' / '.join(f'{w:.0f} s' for w in waited)}; most "
            f"events waiting for the inbox {backlog.inbox}, messages due in the outbox "
            f"{backlog.outbox}; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for p in processes:
            await p.stop()
        outcome = await _outcome(store, log, nudges, teams, work, due_of)
        for line in outcome.details():
            print(line, flush=True)
        if log.channel_forms:
            print(f"P7: {log.channel_forms} forms in channels were not answered", flush=True)
        return _line(work, outcome, traffic, log, rss, leases)
    finally:
        for p in processes:
            if p.proc.poll() is None:
                p.proc.kill()
        if fake is not None:
            fake.terminate()
            await fake.wait()
        await store.close()


def main() -> None:
    print(asyncio.run(run()), flush=True)


if __name__ == "__main__":
    main()
