"""P5: restart with 100,000 pending timers: time from process start to ready, and memory.

The benchmark fills a database with 100,000 pending timers spread over the coming week
(about a hundred of them within the scheduler's ten-minute horizon), then starts a fresh
Python process that builds the real runtime on it (`bot.wiring.build_runtime`, the
migration check, APScheduler) and starts it: the inbox drained, the startup sweep of
past-due timers, the horizon armed, the scheduled flows planned. "Ready" is when
`Runtime.start()` returns; the time is measured from just before the process is spawned
(interpreter and imports included). The process reports its own resident memory then
(VmRSS) and its peak (VmHWM), so the figure is that process's alone.

On SQLite the database is a file in a temporary folder; on PostgreSQL (127.0.0.1:5432,
trust, database `test`) a schema made for the run and dropped afterwards. No chat
platform is connected: what is measured is Samen's own restart, not a platform login.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.world import ROOT
from bot.store.db import open_engine
from bot.store.repo import Store
from bot.store.tables import TimerRow

TIMERS = 100_000
SPREAD = timedelta(days=7)
READY_TARGET = 3.0  # s
RSS_TARGET = 300  # MB
PG_URL = os.environ.get("SAMEN_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _fill(url: str, schema: str | None, n: int) -> None:
    store = await Store.open(url, schema=schema)
    try:
        now = datetime.now(UTC)
        step = SPREAD / n
        chunk = 5000
        async with store.engine.begin() as conn:
            for start in range(0, n, chunk):
                rows = [
                    {
                        "run_id": None,
                        "timer": f"bench:{i}",
                        "kind": "reminder",
                        "due_at": now + timedelta(minutes=1) + step * i,
                        "status": "pending",
                        "idempotency_key": f"bench:{i}",
                        "attempts": 0,
                        "note": "",
                    }
                    for i in range(start, min(n, start + chunk))
                ]
                await conn.execute(insert(TimerRow), rows)
    finally:
        await store.close()


def _restart(url: str, schema: str | None) -> dict[str, float]:
    env = {**os.environ, "SAMEN_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "bench.restart", "--child", tmp, schema or ""],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        wall = time.perf_counter() - began
    if child.returncode != 0:
        raise RuntimeError(f"the restarted process failed: {child.stderr.strip()[-500:]}")
    report: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    # Ready as the parent saw it: spawn to the report, less the child's own shutdown.
    report["ready"] = wall - report["stopping"]
    return report


async def _child(tmp: str, schema: str) -> None:
    """The restarted process: build the runtime, start it, report, stop."""
    from bot.config import Settings
    from bot.wiring import build_runtime

    if schema:
        # The runtime opens its store by URL; the benchmark's schema is chosen here.
        original = Store.open.__func__  # type: ignore[attr-defined]

        async def open_in_schema(cls: type[Store], url: str, **options: Any) -> Store:
            return await original(cls, url, **{**options, "schema": schema})

        Store.open = classmethod(open_in_schema)  # type: ignore[method-assign, assignment]
    settings = Settings(
        data_dir=Path(tmp), flows_dir=ROOT / "flows", teams_file=Path(tmp) / "teams.yaml"
    )
    runtime = await build_runtime(settings, adapters=[])
    await runtime.start()
    ready = time.perf_counter()
    status = _memory()
    armed = len(runtime.scheduler._armed)
    await runtime.stop()
    status["stopping"] = time.perf_counter() - ready
    status["armed"] = armed
    print(json.dumps(status), flush=True)


def _memory() -> dict[str, float]:
    found: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024  # kB -> MB
    return found


async def _on_postgresql() -> tuple[str, str] | None:
    """A fresh schema in the test database, or None when PostgreSQL is not there."""
    schema = f"samen_bench_{uuid.uuid4().hex[:8]}"
    try:
        # The server only (no Store: that would read the shared database's own rows).
        engine = await open_engine(PG_URL)
    except Exception as exc:
        print(f"P5 postgresql: not measured, no database at {PG_URL} ({type(exc).__name__})")
        return None
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await engine.dispose()
    return PG_URL, schema


async def _drop(url: str, schema: str) -> None:
    engine = await open_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


def _line(name: str, report: dict[str, float]) -> str:
    ready, rss, peak = report["ready"], report["VmRSS"], report["VmHWM"]
    verdict = "ok" if ready <= READY_TARGET and peak <= RSS_TARGET else "MISSED"
    return (
        f"P5 restart {name}: {TIMERS:,} pending timers, ready in {ready:.2f} s = "
        f"{ready / READY_TARGET:.2f} x target ({READY_TARGET:.0f} s), RSS {rss:.0f} MB "
        f"(peak {peak:.0f} MB) = {peak / RSS_TARGET:.2f} x target ({RSS_TARGET} MB), "
        f"{report['armed']:.0f} armed [{verdict}]"
    )


async def _sqlite() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/samen.db"
        await _fill(url, None, TIMERS)
        report = await asyncio.to_thread(_restart, url, None)
    return _line("sqlite", report)


async def _postgresql() -> str | None:
    target = await _on_postgresql()
    if target is None:
        return None
    url, schema = target
    try:
        await _fill(url, schema, TIMERS)
        report = await asyncio.to_thread(_restart, url, schema)
    finally:
        await _drop(url, schema)
    return _line("postgresql", report)


async def _main() -> None:
    print(await _sqlite(), flush=True)
    line = await _postgresql()
    if line is not None:
        print(line, flush=True)


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        asyncio.run(_child(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""))
    else:
        main()
