"""P1: throughput of the full Slack path against a bare slack-bolt app, in the same run.

Two servers are measured one after the other, each in its own process on 127.0.0.1 (so
the load generator and the fake Web API, in this process, do not share its core):

- Samen: the real runtime (`build_runtime`) with the real Slack adapter in HTTP mode.
  A signed Events API request is verified by slack-bolt, stored in the inbox, acked,
  handled by the runtime (engine, store), and its reply written to the outbox, which
  delivers it with slack-sdk to the fake Web API.
- Bare bolt: a slack-bolt `AsyncApp` served the same way (aiohttp), whose `app_mention`
  listener posts one message with slack-sdk. Nothing is stored.

The same load generator drives both: after a warm-up, N `app_mention` events, each in its
own channel (so Slack's 1/s per channel never holds a reply back), 16 requests in flight;
then, a second later, the same N people once more. A figure is events per second from the
first request of a pass to the N-th message the fake Web API accepted in it. Samen's
workspace cap is lifted (the bare app has none): P1 measures how fast Samen works, not
Slack's budget (that is P2).

Samen is measured twice, on PostgreSQL (judged: the store of an installation that
outgrows one process, target >= 0.3 x bare bolt) and on SQLite (one installation, one
process; printed beside it with a floor of 0.2 x). PostgreSQL is a database made for the
run on `bench.world.PG_URL`, dropped afterwards.

The figure judged is the second pass: people who wrote earlier today, as nearly every
event of a working day is. The first pass is each person's first event of the day, for
which Samen also reads their profile (users.info, for their time zone; once a day per
person); it is printed beside it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.world import (
    ROOT,
    SLACK_SECRET,
    SLACK_TOKEN,
    postgres_database,
    seed_team,
    slack_runtime,
    until,
)

EVENTS = 300
WARM = 20
IN_FLIGHT = 16
TARGET = 0.3  # x bare bolt on PostgreSQL, RELIABILITY.md P1 (issue 18)
SQLITE_FLOOR = 0.2  # x bare bolt on SQLite


def _channel(i: int) -> str:
    return f"C{700_000 + i}"


def _person(channel: str) -> str:
    """The member of the team on `channel` (C700005 -> U800005)."""
    return f"U{int(channel[1:]) + 100_000}"


# --------------------------------------------------------------------------- the servers


async def _serve_samen(fake_url: str, data: str, channels: int, database_url: str) -> None:
    from bot.config import Settings
    from bot.wiring import freeze_startup_objects

    settings = Settings(
        data_dir=Path(data),
        database_url=database_url or None,
        flows_dir=ROOT / "flows",
        teams_file=Path(data) / "t",
    )
    runtime = await slack_runtime(settings, fake_url, workspace_cap=100_000)
    (adapter,) = runtime.adapters
    now = datetime.now(UTC)
    for i in range(channels):  # the teams exist: this is not their first contact
        await seed_team(runtime.store, "slack", _channel(i), [_person(_channel(i))], now)
    await runtime.start()
    freeze_startup_objects()  # as `samen run` does
    await _until_terminated(adapter.port)
    await runtime.stop()


async def _serve_bolt(fake_url: str) -> None:
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(
        client=AsyncWebClient(token=SLACK_TOKEN, base_url=fake_url),
        signing_secret=SLACK_SECRET,
    )

    @app.event("app_mention")
    async def answer(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.chat_postMessage(channel=event["channel"], text="Hallo!")

    async def events(request: web.Request) -> web.StreamResponse:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    server = web.Application()
    server.router.add_post("/slack/events", events)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    await _until_terminated(int(runner.addresses[0][1]))
    await runner.cleanup()


async def _until_terminated(port: int) -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    print(port, flush=True)
    await done.wait()


# --------------------------------------------------------------------------- the load


def _body(i: int, channel: str) -> str:
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{i:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            "event": {
                "type": "app_mention",
                "user": _person(channel),
                "text": "<@UBOT> hoi",
                "channel": channel,
                "ts": f"{time.time():.6f}",
                "event_ts": f"{time.time():.6f}",
            },
        }
    )


async def _drive(url: str, fake: Any, channels: list[str], ids: Any, refused: list[int]) -> float:
    """Send one mention per channel, IN_FLIGHT at a time; seconds until every channel
    has its message (one sent after the first request) at the fake."""
    from tests.harness.slack import sign

    wanted = set(channels)
    before = len(fake.calls)

    def answered() -> int:
        return len(
            {
                c.args.get("channel")
                for c in fake.calls[before:]
                if c.method in ("chat.postMessage", "chat.postEphemeral")
                and c.response is not None
                and c.args.get("channel") in wanted
            }
        )

    queue = list(channels)
    began = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def worker() -> None:
            while queue:
                channel = queue.pop()
                body = _body(next(ids), channel)
                for _ in range(5):  # like Slack: an event not acked is sent again
                    headers = {"Content-Type": "application/json", **sign(body, int(time.time()))}
                    async with session.post(url, data=body.encode(), headers=headers) as response:
                        await response.read()
                    if response.status == 200:
                        break
                    refused.append(response.status)
                    await asyncio.sleep(1.0)

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    if not await until(lambda: answered() >= len(channels), bound=60):
        raise RuntimeError(f"only {answered()} of {len(channels)} replies arrived")
    return time.perf_counter() - began


async def _measure(
    kind: str, n: int, refused: list[int], database_url: str = ""
) -> tuple[float, float]:
    """Events per second: (each person's first event today, a later one). Samen on
    `database_url`, or on SQLite in a temporary folder when it is empty."""
    from tests.harness.fake_slack import FakeSlack

    fake = FakeSlack()
    await fake.start()
    try:
        with tempfile.TemporaryDirectory() as data:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.slack_path",
                "--serve",
                kind,
                fake.url,
                data,
                str(n + WARM),
                database_url,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # a refused ack is counted, not logged here
            )
            try:
                assert child.stdout is not None
                line = await asyncio.wait_for(child.stdout.readline(), 60)
                url = f"http://127.0.0.1:{int(line)}/slack/events"
                ids = itertools.count(1)
                await _drive(url, fake, [_channel(n + i) for i in range(WARM)], ids, [])
                channels = [_channel(i) for i in range(n)]
                first = await _drive(url, fake, channels, ids, refused)
                await asyncio.sleep(1.1)  # Slack's 1/s per channel: these had a reply
                later = await _drive(url, fake, channels, ids, refused)
            finally:
                child.terminate()
                await asyncio.wait_for(child.wait(), 30)
    finally:
        await fake.stop()
    return n / first, n / later


async def run(n: int = EVENTS) -> list[str]:
    """The judged PostgreSQL line (when PostgreSQL is there) and the SQLite line, both
    against one measurement of bare bolt."""
    bolt_refused: list[int] = []
    _, bolt = await _measure("bolt", n, bolt_refused)
    lines = []
    async with postgres_database("p1") as url:
        if url is not None:
            refused: list[int] = []
            first, samen = await _measure("samen", n, refused, url)
            lines.append(_line("postgresql", samen, first, bolt, refused, bolt_refused, TARGET))
    refused = []
    first, samen = await _measure("samen", n, refused)
    lines.append(_line("sqlite", samen, first, bolt, refused, bolt_refused, SQLITE_FLOOR))
    return lines


def _line(
    store: str,
    samen: float,
    first: float,
    bolt: float,
    refused: list[int],
    bolt_refused: list[int],
    target: float,
) -> str:
    ratio = samen / bolt
    verdict = "ok" if ratio >= target else "MISSED"
    what = "target" if target == TARGET else "floor"
    return (
        f"P1 slack path {store}: {samen:.0f} events/s through Samen vs {bolt:.0f} events/s "
        f"through bare slack-bolt = {ratio:.2f} x bare ({what} >= {target}); a person's first "
        f"event of the day (and users.info): {first:.0f} events/s = {first / bolt:.2f} x; "
        f"acks refused and sent again: Samen {len(refused)}, bolt {len(bolt_refused)} "
        f"[{verdict}]"
    )


def main() -> None:
    for line in asyncio.run(run()):
        print(line, flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        if sys.argv[2] == "samen":
            url = sys.argv[6] if len(sys.argv) > 6 else ""
            asyncio.run(_serve_samen(sys.argv[3], sys.argv[4], int(sys.argv[5]), url))
        else:
            asyncio.run(_serve_bolt(sys.argv[3]))
    else:
        main()
