"""Slack faults through a real `samen run --slack-http` (R-ING-1, R-ING-3, R-OUT-3, R-OPS-3).

Four mentions reach Samen out of order, each three times at once (Slack's retries with
`X-Slack-Retry-Num`, arriving while the first copy is still being handled), while the fake
Web API answers Samen's replies slowly (3.5 s), with 500, with 429 + Retry-After or by
resetting the connection. Every request is acknowledged with 200; each mention is stored
once and answered exactly once; the log holds no secret and nothing that was said.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from bot.store.repo import Store
from bot.store.tables import InboxRow
from tests.harness.fake_slack import Failure, FakeSlack
from tests.harness.settle import settle_process
from tests.reliability.world import SamenRun, until

BOT_TOKEN = "xoxb-0000-reliability-fault-suite"
SECRET = "5f0c6a1e2b3d4c5e6f708192a3b4c5d6"
CHANNEL = "C0FAULTS"
USERS = ["U0ANNA", "U0BRAM", "U0COR", "U0DIRK"]
FAULTS = ["slow", "500", "429", "reset"]
SLOW_S = 3.5
TIMEOUT = aiohttp.ClientTimeout(total=20)


class FaultySlack(FakeSlack):
    """The fake Web API, with a fault for each of the next replies to a person in turn."""

    def __init__(self, faults: list[str]) -> None:
        super().__init__()
        self.faults = list(faults)
        self.given: Counter[str] = Counter()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method not in ("chat.postEphemeral", "chat.postMessage") or not self.faults:
            return await super()._handle(request)
        fault = self.faults.pop(0)
        self.given[fault] += 1
        if fault == "slow":
            await asyncio.sleep(SLOW_S)
        elif fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            raise web.HTTPInternalServerError()
        elif fault == "429":
            self._failures.setdefault(method, []).insert(0, Failure(429, "ratelimited", 1))
        else:
            self._failures.setdefault(method, []).insert(0, Failure(500, "internal_error", None))
        return await super()._handle(request)


def sign(body: str, timestamp: int) -> dict[str, str]:
    """Slack's request signature: v0= HMAC-SHA256(secret, "v0:{ts}:{raw body}")."""
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mention(event_id: str, user: str) -> str:
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            "event": {
                "type": "app_mention",
                "user": user,
                "text": "<@UBOT> hulp",
                "ts": f"1700000000.{event_id[-6:]}",
                "channel": CHANNEL,
                "event_ts": f"1700000000.{event_id[-6:]}",
            },
        }
    )


async def post(session: aiohttp.ClientSession, url: str, body: str, retry: int) -> int:
    headers = {"Content-Type": "application/json", **sign(body, int(time.time()))}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with session.post(url, data=body.encode(), headers=headers) as response:
        return response.status


async def test_retried_out_of_order_mentions_with_a_failing_web_api_are_answered_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    faults = list(FAULTS)
    rng.shuffle(faults)
    fake = FaultySlack(faults)
    api = await fake.start()
    port = free_port()
    samen = SamenRun(
        tmp_path,
        "--slack-http",
        "--port",
        str(port),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SAMEN_SLACK_API_URL=api,
    )
    url = f"http://127.0.0.1:{port}/slack/events"
    database = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'samen.db'}"
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:

            async def up() -> bool:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return not samen.alive()

            await until(up, 30, "samen listens")
            assert samen.alive(), samen.output()[-2000:]
            events = [(f"Ev0FAULT{i:06d}", user) for i, user in enumerate(USERS)]
            rng.shuffle(events)  # out of order
            statuses = await asyncio.gather(
                *(
                    post(session, url, mention(event_id, user), retry)
                    for event_id, user in events
                    for retry in range(3)
                )
            )
        assert statuses == [200] * 12

        def answered() -> list[Any]:
            return [
                c
                for c in fake.called("chat.postEphemeral")
                if c.response is not None and c.response.get("ok")
            ]

        await until(lambda: len(answered()) >= 4 or not samen.alive(), 60, "4 answers")
        # Every stored event handled and every reply sent: a wrong fifth answer is out.
        await settle_process(database, fake, alive=samen.alive)
        code_alive = samen.alive()
        log = samen.output()
        samen.kill()
        assert code_alive, log[-2000:]
        assert fake.given == Counter(FAULTS)
        assert Counter(c.args["user"] for c in answered()) == Counter(USERS)  # once each
        store = await Store.open(database)
        try:
            async with store.sessionmaker() as s:
                stored = await s.scalar(select(func.count()).where(InboxRow.platform == "slack"))
        finally:
            await store.close()
        assert stored == 4
        assert BOT_TOKEN not in log and SECRET not in log
        for call in answered():
            assert str(call.args.get("text", ""))[:40] not in log
    finally:
        if samen.alive():
            samen.kill()
        await fake.stop()
