"""What the fault suite shares: a nudge flow, teams and due timers written into a fresh
database, and a real `samen run` process talking to the fake Telegram Bot API.

A *nudge* here is a scheduled flow (`schedule:` timer, kind "schedule") that posts one
message to its team's Telegram group and ends: one due timer row gives exactly one
`sendMessage` at the fake, so the fake's count is the number of deliveries. The teams
work every day at every hour in a zone chosen so that it is midday there now, so quiet
hours never shift a nudge whatever time the suite runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.store.repo import Store
from bot.store.tables import OutboxRow, TimerRow
from tests.harness.process import ROOT, environment, samen

NUDGE_FLOW = """\
id: duwtje
title: {nl: "Duwtje", en: "Nudge"}
languages: [nl, en]
triggers:
  - schedule: "0 9 1 1 *"
steps:
  - id: groet
    say:
      to: channel
      text:
        nl: "Even een duwtje: hoe gaat het met het team?"
        en: "A small nudge: how is the team doing?"
"""
NUDGE_TEXT = "Even een duwtje"
FINAL = {"sent", "skipped", "cancelled", "failed"}


def group(i: int) -> str:
    """The Telegram group of the i-th team (negative ids are groups)."""
    return str(-1_000_000 - i)


def midday_zone(now: datetime) -> str:
    """An IANA zone where it is about midday at `now` (Etc/GMT-N is UTC+N)."""
    offset = 12 - now.astimezone(UTC).hour
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def flows_dir(tmp_path: Path) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "duwtje.yaml").write_text(NUDGE_FLOW, encoding="utf-8")
    return flows


async def plant_nudges(
    url: str, n: int, *, due: datetime | None = None, first: int = 0, schema: str | None = None
) -> list[int]:
    """Make the schema (migrate), `n` Telegram teams (groups `first`...) and one due nudge
    timer each; return the timer row ids."""
    now = datetime.now(UTC)
    due = due or now
    store = await Store.open(url, schema=schema, migrate=True)
    try:
        zone = midday_zone(now)
        timers = []
        for i in range(first, first + n):
            team = await store.team_for_channel("telegram", group(i), name=f"Team {i}", now=now)
            await store.update_team(
                team.id,
                timezone=zone,
                work_days="1,2,3,4,5,6,7",
                work_start="00:00",
                work_end="23:59",
            )
            name = f"schedule:duwtje:{team.id}"
            timers.append(
                {
                    "timer": name,
                    "kind": "schedule",
                    "due_at": due,
                    "idempotency_key": f"{name}:test:{due.isoformat()}",
                }
            )
        await store.commit_messages(timers_new=timers, now=now)
        async with store.sessionmaker() as s:
            keys = [t["idempotency_key"] for t in timers]
            found = await s.scalars(select(TimerRow.id).where(TimerRow.idempotency_key.in_(keys)))
            return list(found)
    finally:
        await store.close()


async def timer_statuses(url: str, ids: list[int], schema: str | None = None) -> Counter[str]:
    store = await Store.open(url, schema=schema)
    try:
        async with store.sessionmaker() as s:
            rows = await s.execute(
                select(TimerRow.status, func.count())
                .where(TimerRow.id.in_(ids))
                .group_by(TimerRow.status)
            )
            return Counter({status: count for status, count in rows.all()})
    finally:
        await store.close()


async def outbox_statuses(url: str, schema: str | None = None) -> Counter[str]:
    store = await Store.open(url, schema=schema)
    try:
        async with store.sessionmaker() as s:
            rows = await s.execute(
                select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
            )
            return Counter({status: count for status, count in rows.all()})
    finally:
        await store.close()


def nudges_per_group(messages: list[dict[str, Any]]) -> Counter[int]:
    """How many nudges each Telegram group got at the fake."""
    return Counter(m["chat"]["id"] for m in messages if NUDGE_TEXT in m.get("text", ""))


class SamenRun:
    """One `samen run` process, its output kept in a file (read after it ends), so nothing
    in the test's event loop blocks on it."""

    def __init__(self, tmp_path: Path, *args: str, **extra: str) -> None:
        self.log = tmp_path / f"samen-{os.urandom(3).hex()}.log"
        env = environment(tmp_path, SAMEN_FLOWS_DIR=str(flows_dir(tmp_path)), **extra)
        self._out = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [samen(), "run", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGINT (like Ctrl-C) and wait for a clean end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(timeout):
            while self.proc.poll() is None:
                await asyncio.sleep(0.05)
        self._out.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


async def until(
    check: Any, timeout: float, what: str, step: float = 0.05, also: Any = None
) -> None:
    """Await until `check()` (sync or async) is true, at most `timeout` seconds; `also()`
    adds to the failure message."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"not within {timeout:g} s: {what}" + (f"\n{also()}" if also else "")
            )
        await asyncio.sleep(step)


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


class TelegramSamen(SamenRun):
    """`samen run` on the fake Telegram Bot API (long polling)."""

    def __init__(self, tmp_path: Path, api_url: str, token: str, **extra: str) -> None:
        super().__init__(
            tmp_path, SAMEN_TELEGRAM_API_URL=api_url, TELEGRAM_BOT_TOKEN=token, **extra
        )
