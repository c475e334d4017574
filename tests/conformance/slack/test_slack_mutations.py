"""The fixtures from slack-bolt's tests with one field turned into the wrong type (null, a
number, a string, a list, an object), signed as Slack would: every one is answered 200
(used or quietly ignored) or 400 (a shape Slack does not send), never 500, and neither the
adapter nor the runtime logs a traceback or an error for any of them."""

from __future__ import annotations

import copy
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.harness.slack import FORM, Workspace, slack_world

FIXTURES = Path(__file__).parent / "fixtures"
WRONG: tuple[Any, ...] = (None, 7, "x", [], {}, [7], [{"x": 1}])
MUTATIONS = 200


@pytest.fixture
async def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    async with slack_world(tmp_path, monkeypatch) as world:
        yield world


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a payload (keys and list positions), up to four levels deep."""
    if len(prefix) >= 4:
        return
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        yield (*prefix, key)
        yield from paths(inner, (*prefix, key))


# Samen's own interactions (the shapes its parsers read), besides slack-bolt's fixtures.
RUN = "0123456789abcdef"
OWN: tuple[dict[str, Any], ...] = (
    {
        "sent_as": "payload",
        "body": {
            "type": "block_actions",
            "user": {"id": "U0ANNA", "username": "anna", "team_id": "T0001"},
            "trigger_id": "1.2.own",
            "team": {"id": "T0001"},
            "channel": {"id": "D0ANNA"},
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "D0ANNA"},
            "actions": [
                {
                    "type": "static_select",
                    "action_id": f"a|{RUN}|vooraf|rol|0",
                    "selected_option": {"value": "leiden"},
                    "action_ts": "1.3",
                },
                {"type": "button", "action_id": f"m|{RUN}|vooraf|nl", "value": "[]"},
                {"type": "button", "action_id": "b|ring", "value": "ring"},
            ],
        },
    },
    {
        "sent_as": "payload",
        "body": {
            "type": "view_submission",
            "user": {"id": "U0ANNA", "username": "anna"},
            "trigger_id": "5.5.own",
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": "samen_form",
                "private_metadata": f"{RUN}|vooraf|D0ANNA|nl",
                "state": {
                    "values": {
                        "q|erbij": {"v": {"type": "plain_text_input", "value": "Goed"}},
                        "q|aantal": {"v": {"type": "number_input", "value": "3"}},
                    }
                },
            },
        },
    },
)


def mutated(rng: random.Random) -> tuple[str, str, str]:
    """(label, raw body, content type) of one payload with one field of the wrong type."""
    files = sorted(FIXTURES.glob("*.json"))
    while True:
        if rng.random() < 0.4:
            fixture = rng.choice(OWN)
        else:
            fixture = json.loads(rng.choice(files).read_text())
        if isinstance(fixture["body"], dict):
            break
    body = copy.deepcopy(fixture["body"])
    where = rng.choice(list(paths(body)))
    holder = body
    for key in where[:-1]:
        holder = holder[key]
    wrong = rng.choice(WRONG)
    holder[where[-1]] = copy.deepcopy(wrong)
    label = f"{'.'.join(map(str, where))}={json.dumps(wrong)}"
    if fixture["sent_as"] == "json":
        return label, json.dumps(body), "application/json"
    return label, urlencode({"payload": json.dumps(body)}), FORM


async def test_mistyped_fields_never_crash_anything(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(22)  # the same mutations on every run
    caplog.set_level(logging.INFO)
    answers: dict[int, list[str]] = {}
    for _ in range(MUTATIONS):
        label, body, content_type = mutated(rng)
        status, _ = await slack.post(body, content_type)
        answers.setdefault(status, []).append(label)
    await slack.settle()
    assert set(answers) <= {200, 400}, answers.get(500)
    assert all(r.exc_info is None for r in caplog.records), [
        r.getMessage() for r in caplog.records if r.exc_info
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
