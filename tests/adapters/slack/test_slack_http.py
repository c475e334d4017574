"""HTTP mode: genuinely signed requests to /slack/events; ack only after the event is stored.

R-ING-3 (inbox before ack), R-SEC-1 (forged or stale signature: 401, nothing stored, no
outbound call, no body in the logs), R-ING-1 (a retried event keeps its key), R-ING-7.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.base import Inbound
from adapters.slack import SlackAdapter
from tests.harness.fake_slack import FakeSlack
from tests.harness.slack import EXAMPLE_SECRET as SECRET

RUN = "0123456789abcdef"
TIMEOUT = aiohttp.ClientTimeout(total=10)


def sign(body: str, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack sends: v0= HMAC-SHA256(secret, "v0:{ts}:{raw body}")."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


class Recorder:
    """The shell's side: stores (records) each event, slowly enough to see the order."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.events: list[Inbound] = []

    async def __call__(self, inbound: Inbound) -> None:
        await asyncio.sleep(self.delay)
        self.events.append(inbound)


@pytest.fixture
async def served(adapter: SlackAdapter) -> AsyncIterator[tuple[SlackAdapter, Recorder, str]]:
    recorder = Recorder()
    await adapter.start(recorder)
    yield adapter, recorder, f"http://127.0.0.1:{adapter.port}"


async def post(
    base: str,
    body: str,
    content_type: str,
    *,
    timestamp: int | None = None,
    secret: str = SECRET,
    extra: dict[str, str] | None = None,
) -> tuple[int, str]:
    headers = {"Content-Type": content_type, **sign(body, timestamp or int(time.time()), secret)}
    headers |= extra or {}
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(f"{base}/slack/events", data=body.encode(), headers=headers) as response,
    ):
        return response.status, await response.text()


FORM = "application/x-www-form-urlencoded"


def slash(text: str = "start intervisie", trigger: str = "13345224609.7384.abc") -> str:
    return urlencode(
        {
            "token": "x",
            "team_id": "T0001",
            "team_domain": "zorgteam",
            "channel_id": "C1",
            "channel_name": "wijkteam",
            "user_id": "U2",
            "user_name": "anna",
            "command": "/samen",
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/1/2",
            "trigger_id": trigger,
        }
    )


def interaction(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def event(event_id: str = "Ev0PV52K21") -> str:
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A1",
            "event": {
                "type": "app_mention",
                "user": "U2",
                "text": "<@UBOT> hulp",
                "ts": "1700000000.000100",
                "channel": "C1",
                "event_ts": "1700000000.000100",
            },
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
        }
    )


async def test_a_signed_slash_command_is_stored_before_the_200(served: Any) -> None:
    _, recorder, base = served
    status, _ = await post(base, slash(), FORM)
    assert status == 200
    # The recorder appends only after its delay: the ack waited for it.
    (inbound,) = recorder.events
    assert inbound.kind == "command"
    assert inbound.payload == {
        "command": "samen",
        "args": "start intervisie",
        "channel_name": "wijkteam",
    }


async def test_a_forged_signature_gets_401_and_nothing_is_stored_or_sent(
    served: Any, fake: FakeSlack
) -> None:
    _, recorder, base = served
    status, _ = await post(base, slash(), FORM, secret="not-the-secret")
    assert status == 401
    assert recorder.events == []
    assert fake.calls == []  # not even auth.test


@pytest.mark.parametrize("skew", [-301, 301])
async def test_a_stale_timestamp_gets_401(served: Any, skew: int) -> None:
    _, recorder, base = served
    status, _ = await post(base, slash(), FORM, timestamp=int(time.time()) + skew)
    assert status == 401
    assert recorder.events == []


async def test_a_refused_request_body_never_reaches_the_logs(
    served: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, base = served
    caplog.set_level(logging.DEBUG)
    # Bolt logs refusals at INFO on this logger, with the body: make sure it would log.
    caplog.set_level(logging.DEBUG, logger="slack_bolt.RequestVerification")
    body = slash("GEHEIME_CLIENTTEKST over mevrouw")
    status, _ = await post(base, body, FORM, secret="forged")
    assert status == 401
    # Refused at the front door, before Bolt or any parsing: one line, no body.
    assert "wrongly signed request refused (401)" in caplog.text
    assert "GEHEIME_CLIENTTEKST" not in caplog.text
    assert "forged" not in caplog.text


async def test_the_same_event_delivered_twice_gives_the_same_key_twice(served: Any) -> None:
    _, recorder, base = served
    first = await post(base, event("Ev123"), "application/json")
    retry = await post(
        base,
        event("Ev123"),
        "application/json",
        extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert first[0] == retry[0] == 200
    assert [e.key for e in recorder.events] == ["ev:Ev123", "ev:Ev123"]  # the inbox absorbs
    assert recorder.events[0].kind == "mention"


async def test_an_answer_button_click_is_stored_as_an_answer(served: Any) -> None:
    _, recorder, base = served
    payload = {
        "type": "block_actions",
        "user": {"id": "U2", "username": "anna", "name": "anna", "team_id": "T0001"},
        "api_app_id": "A1",
        "token": "x",
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "D2"},
        "trigger_id": "1234.5678.abc",
        "team": {"id": "T0001", "domain": "zorgteam"},
        "channel": {"id": "D2", "name": "directmessage"},
        "actions": [
            {
                "action_id": f"a|{RUN}|vooraf|klaar|0",
                "block_id": "q|vooraf|klaar",
                "value": "yes",
                "type": "button",
                "action_ts": "1.3",
            }
        ],
    }
    status, _ = await post(base, interaction(payload), FORM)
    assert status == 200
    (inbound,) = recorder.events
    assert inbound.payload["value"] == "yes"
    assert inbound.key == "act:1234.5678.abc:0"


async def test_the_modal_button_opens_the_modal_with_the_trigger(
    served: Any, fake: FakeSlack
) -> None:
    _, recorder, base = served
    spec = json.dumps([["zorgen", "text", "Wat zijn je zorgen?", 0]])
    payload = {
        "type": "block_actions",
        "user": {"id": "U2", "username": "anna", "name": "anna"},
        "trigger_id": "9.9.trig",
        "team": {"id": "T0001"},
        "channel": {"id": "D2"},
        "actions": [
            {"action_id": f"m|{RUN}|vooraf", "value": spec, "type": "button", "action_ts": "1"}
        ],
    }
    status, _ = await post(base, interaction(payload), FORM)
    assert status == 200
    for _ in range(200):  # views.open runs just after the ack; bounded wait
        if fake.called("views.open"):
            break
        await asyncio.sleep(0.01)
    (call,) = fake.called("views.open")
    assert call.args["trigger_id"] == "9.9.trig"
    # A button drawn before buttons carried the language: the adapter's default.
    assert call.args["view"]["private_metadata"] == f"{RUN}|vooraf|D2|nl"
    assert recorder.events == []  # opening a modal is no inbox event


def submission(values: dict[str, Any]) -> str:
    return interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0001"},
            "user": {"id": "U2", "username": "anna", "name": "anna"},
            "api_app_id": "A1",
            "token": "x",
            "trigger_id": "5.5.sub",
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": "samen_form",
                "private_metadata": f"{RUN}|vooraf|D2",
                "state": {"values": values},
            },
        }
    )


async def test_a_modal_submission_is_stored_per_question(served: Any) -> None:
    _, recorder, base = served
    values = {
        "q|zorgen": {"v": {"type": "plain_text_input", "value": "Veel"}},
        "q|uren": {"v": {"type": "number_input", "value": "3"}},
    }
    status, text = await post(base, submission(values), FORM)
    assert status == 200
    assert text == ""  # closes the modal
    assert sorted(e.payload["question"] for e in recorder.events) == ["uren", "zorgen"]


async def test_invalid_modal_input_is_answered_in_the_ack_and_stores_nothing(
    served: Any,
) -> None:
    _, recorder, base = served
    values = {"q|uren": {"v": {"type": "number_input", "value": "veel"}}}
    status, text = await post(base, submission(values), FORM)
    assert status == 200
    answer = json.loads(text)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"q|uren"}
    assert recorder.events == []


async def test_storing_past_the_budget_is_not_acked_so_slack_retries(
    fake: FakeSlack,
) -> None:
    slow = SlackAdapter(
        bot_token="xoxb-t",
        signing_secret=SECRET,
        mode="http",
        host="127.0.0.1",
        port=0,
        api_url=fake.url,
        ack_budget=0.1,
    )
    recorder = Recorder(delay=0.3)
    await slow.start(recorder)
    try:
        status, _ = await post(f"http://127.0.0.1:{slow.port}", slash(), FORM)
        assert status != 200  # no ack: Slack will retry, and the inbox absorbs the copy
        for _ in range(100):
            if recorder.events:
                break
            await asyncio.sleep(0.01)
        assert len(recorder.events) == 1  # the store itself went on
    finally:
        await slow.stop()


async def test_healthz_answers(served: Any) -> None:
    _, _, base = served
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(f"{base}/healthz") as response,
    ):
        assert response.status == 200
        assert (await response.json())["ok"] is True
