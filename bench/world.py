"""What the runtime benchmarks share: the fakes from tests/, flows and teams to run them on.

Everything here is set-up, not measurement: a team with its members and working hours
around the clock (so that quiet hours never move a nudge while a benchmark runs at
night), flows written as YAML into a temporary flows directory, and a way to mark the
messages a set-up sent as delivered, so that a figure counts only the work it measures.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.store.db import open_engine
from bot.store.repo import Store
from bot.store.tables import OutboxRow, TeamRow
from bot.wiring import Runtime, build_runtime

ROOT = Path(__file__).resolve().parents[1]
# The fakes live with the tests (tests/harness/); a benchmark started as a script of its
# own (a fake in its own process) finds them from the project's root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SLACK_SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
SLACK_TOKEN = "xoxb-bench"

# The PostgreSQL server the PostgreSQL figures use (trust auth on this machine).
PG_URL = os.environ.get("SAMEN_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

TITLE = {"nl": "Meten", "en": "Measuring"}
PERMISSIONS = {"start": ["member"], "see_answers": ["member"], "see_missing": ["member"]}


@asynccontextmanager
async def fake_slack_elsewhere(per_channel_rate: float | None = None) -> AsyncIterator[str]:
    """The fake Slack Web API in a process of its own; yields its URL. The real Slack does
    not run on Samen's event loop: a figure of Samen's own lateness should not include
    the fake's work either (on this 2-core machine the fake then has the other core)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.world",
        "--fake-slack",
        "" if per_channel_rate is None else str(per_channel_rate),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        url = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
        if not url:
            raise RuntimeError("the fake Slack process did not start")
        yield url
    finally:
        child.terminate()
        await asyncio.wait_for(child.wait(), 30)


async def _serve_fake_slack(per_channel_rate: float | None) -> None:
    from tests.harness.fake_slack import FakeSlack

    fake = FakeSlack(per_channel_rate=per_channel_rate)
    print(await fake.start(), flush=True)
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    await done.wait()
    await fake.stop()


@asynccontextmanager
async def postgres_database(purpose: str, keep: bool = False) -> AsyncIterator[str | None]:
    """The URL of a database made for one figure on the server of `PG_URL`, dropped
    afterwards; None (and a line saying why) when there is no PostgreSQL.

    A database of its own rather than a schema in `test`: PostgreSQL's advisory locks,
    which the runtime's leases (timers, inbox, outbox) take, are per database. In a schema
    of a shared database the figure's runtime would compete for them with every other
    Samen or test run on that database, and hold them up in turn."""
    name = f"samen_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    try:
        # The server only (no Store: that would read the shared database's own rows).
        admin = await open_engine(PG_URL)
    except Exception as exc:
        print(f"{purpose}: no PostgreSQL at {PG_URL} ({type(exc).__name__})", flush=True)
        yield None
        return
    try:
        async with admin.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            if keep:
                print(f"{purpose}: database {name} kept", flush=True)
            else:
                async with admin.connect() as conn:
                    auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await auto.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def slack_runtime(settings: Settings, api_url: str, **adapter_options: Any) -> Runtime:
    """The real runtime with the real Slack adapter in HTTP mode on 127.0.0.1, talking to
    the fake Web API at `api_url`."""
    from adapters.slack import SlackAdapter

    adapter = SlackAdapter(
        bot_token=SLACK_TOKEN,
        signing_secret=SLACK_SECRET,
        mode="http",
        host="127.0.0.1",
        port=0,
        api_url=api_url,
        **adapter_options,
    )
    return await build_runtime(settings, adapters=[adapter])


def nudge_flow(reminder: str = "2h") -> dict[str, Any]:
    """One question for every member, a deadline in a day and one reminder before it."""
    return {
        "id": "meten-herinnering",
        "title": TITLE,
        "languages": ["nl", "en"],
        "participants": ["member"],
        "permissions": PERMISSIONS,
        "steps": [
            {
                "id": "vraag",
                "collect": {
                    "deadline": "1d",
                    "reminders": [reminder],
                    "questions": [
                        {
                            "id": "hoe",
                            "type": "text",
                            "text": {"nl": "Hoe gaat het?", "en": "How are you?"},
                        }
                    ],
                },
            },
            {"id": "klaar", "end": {}},
        ],
    }


def meeting_flow(phases: int, minutes: int) -> dict[str, Any]:
    """A meeting of `phases` phases of `minutes` each, no warnings: only the bells."""
    return {
        "id": "meten-overleg",
        "title": TITLE,
        "languages": ["nl", "en"],
        "participants": ["member"],
        "permissions": PERMISSIONS,
        "steps": [
            *[
                {
                    "id": f"fase-{i}",
                    "phase": {
                        "title": {"nl": f"Fase {i}", "en": f"Phase {i}"},
                        "duration": f"{minutes}m",
                        "warnings": [],
                    },
                }
                for i in range(1, phases + 1)
            ],
            {"id": "klaar", "end": {}},
        ],
    }


def write_flows(folder: Path, flows: Iterable[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for flow in flows:
        (folder / f"{flow['id']}.yaml").write_text(
            yaml.safe_dump(flow, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    return folder


async def seed_team(
    store: Store, platform: str, channel: str, members: Iterable[str], now: datetime
) -> TeamRow:
    """A team on `channel` with `members`, working every day around the clock."""
    team = await store.team_for_channel(platform, channel, name="meetteam", now=now)
    team = await store.update_team(
        team.id, work_days="1,2,3,4,5,6,7", work_start="00:00", work_end="23:59"
    )
    for user in members:
        await store.upsert_member(team.id, user, f"Lid {user}", now=now)
    return team


async def mark_outbox_delivered(store: Store, now: datetime) -> int:
    """Set-up messages count as delivered: the figure is about what comes after."""
    async with store.sessionmaker() as s, s.begin():
        result = await s.execute(
            update(OutboxRow)
            .where(OutboxRow.status == "pending")
            .values(status="sent", sent_at=now)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def scalar_now(store: Store, query: Any) -> Any:
    """One value read while the runtime runs, as a reader: through `store.sessionmaker`
    (the writer, on SQLite the write lock from BEGIN) the benchmark's own polling would
    hold up the writes it measures."""
    async with store.engine.connect() as conn:
        return await conn.scalar(query)


async def until(condition: Callable[[], bool], bound: float, step: float = 0.02) -> bool:
    """Wait until `condition()` holds or `bound` seconds pass; whether it holds."""
    end = time.monotonic() + bound
    while not condition():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(step)
    return True


def percentile(values: list[float], p: float) -> float:
    """The `p`-th percentile (nearest rank) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


if __name__ == "__main__" and sys.argv[1:2] == ["--fake-slack"]:
    rate = sys.argv[2] if len(sys.argv) > 2 else ""
    asyncio.run(_serve_fake_slack(float(rate) if rate else None))
