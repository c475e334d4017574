"""Slack payloads as Samen's neutral `Inbound` events: pure functions, no I/O.

Slash commands, block actions from the elements `render.py` drew, modal submissions and
Events API callbacks each become zero or more `Inbound`s. Every `Inbound.key` is stable
for one Slack delivery and differs between deliveries, so the inbox absorbs Slack's
retries (R-ING-1): Events API callbacks use `event_id`; commands and interactions use
`trigger_id`, which Slack mints once per user interaction and repeats on a retry.
Events from the bot itself, or from any bot, give nothing (R-ING-8).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

from adapters.base import Inbound
from adapters.slack.render import MODAL_CALLBACK, SEP

PLATFORM: Final = "slack"


@dataclass(frozen=True, slots=True)
class ModalRequest:
    """A click on a form's "Answer" button: open the modal (no inbox event)."""

    trigger_id: str
    run: str
    step: str
    channel: str
    spec: list[list[Any]]
    language: str = ""  # the team's, from the button ("" on buttons drawn before it was)


def _user(body: Mapping[str, Any]) -> tuple[str, str]:
    """(user id, display name) from an interaction payload's `user` object."""
    user = body.get("user") or {}
    if isinstance(user, Mapping):
        return str(user.get("id", "")), str(user.get("name") or user.get("username") or "")
    return str(user), ""


def _outsider(installed: object, theirs: object) -> dict[str, Any]:
    """`{"outsider": True}` when the person belongs to another organisation than the
    workspace Samen is installed in (a Slack Connect channel); both must be known."""
    return {"outsider": True} if installed and theirs and installed != theirs else {}


def _interaction_outsider(body: Mapping[str, Any]) -> dict[str, Any]:
    """An interaction's person's team (`user.team_id`) against the workspace's (`team.id`)."""
    user, team = body.get("user") or {}, body.get("team") or {}
    if not isinstance(user, Mapping) or not isinstance(team, Mapping):
        return {}
    return _outsider(team.get("id"), user.get("team_id"))


def private_or(channel: str, user: str) -> str:
    """A direct message's channel (D…) as the person's private chat, `dm:<user>`, the key
    the runtime knows private chats by; any other channel as it is."""
    return f"dm:{user}" if channel.startswith("D") else channel


def _channel(body: Mapping[str, Any]) -> str:
    channel = body.get("channel") or {}
    if isinstance(channel, Mapping):
        return str(channel.get("id", ""))
    container = body.get("container") or {}
    return str(channel or container.get("channel_id", ""))


# --------------------------------------------------------------------------- commands

# What slash commands give as `channel_name` where the channel's own name is not told.
PLACEHOLDER_NAMES: Final = frozenset({"directmessage", "privategroup"})

# A slash command with "Escape channels, users, and links" on (the manifest's
# `should_escape: true`) sends a picked person as <@U0123|anna> (or <@U0123>).
_MENTION: Final = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def plain_mentions(text: str) -> str:
    """`<@U0123|anna>` -> `@U0123`: the commands name people by their platform id."""
    return _MENTION.sub(lambda m: "@" + m.group(1), text)


def parse_command(body: Mapping[str, Any]) -> Inbound | None:
    """A slash command (`/samen start intervisie`, `/bel +5`) -> a "command" Inbound."""
    trigger = str(body.get("trigger_id") or "")
    user = str(body.get("user_id") or "")
    if not trigger or not user:
        return None
    channel = str(body.get("channel_id") or "")
    channel_name = str(body.get("channel_name") or "")
    named = {}
    if channel.startswith("D") or channel_name == "directmessage":
        # Typed in a direct message (with Samen or with anyone): the person's private
        # chat, never a team's channel (the runtime finds the team it is about).
        channel = f"dm:{user}"
    elif channel_name and channel_name not in PLACEHOLDER_NAMES:
        named = {"channel_name": channel_name}  # how the team is named to its people
    return Inbound(
        PLATFORM,
        f"cmd:{trigger}",
        "command",
        channel,
        user,
        {
            "command": str(body.get("command", "")).lstrip("/").lower(),
            "args": plain_mentions(str(body.get("text") or "")).strip(),
            **named,
        },
        user_name=str(body.get("user_name") or ""),
    )


# --------------------------------------------------------------------------- block actions

# Two clicks by one person on one element of one message within this many seconds (by
# Slack's `action_ts`) are one click pressed twice: the second gets the first's key.
DOUBLE_CLICK: Final = 1.5


class Clicks:
    """Recent clicks, to fold a double click into one inbox event (R-ING-1).

    Slack sends each click of a double click as its own interaction with its own
    `trigger_id`; "⏭ Volgende" pressed twice would skip a phase. Remembered here, in
    memory, for `DOUBLE_CLICK` seconds: the inbox then absorbs the second like a retry."""

    def __init__(self, window: float = DOUBLE_CLICK, size: int = 1000) -> None:
        self.window = window
        self.size = size
        self._seen: dict[tuple[str, ...], tuple[float, str]] = {}

    def key_for(self, signature: tuple[str, ...], at: float | None, key: str) -> str:
        """The inbox key for a click: an earlier click's when this one repeats it."""
        if at is None:
            return key
        earlier = self._seen.get(signature)
        if earlier is not None and 0 <= at - earlier[0] <= self.window:
            return earlier[1]
        if len(self._seen) >= self.size:
            self._seen.pop(next(iter(self._seen)))  # the oldest: dicts keep insertion order
        self._seen[signature] = (at, key)
        return key


def _action_ts(action: Mapping[str, Any]) -> float | None:
    try:
        return float(action.get("action_ts") or "")
    except ValueError:
        return None


def parse_block_actions(body: Mapping[str, Any], clicks: Clicks | None = None) -> list[Inbound]:
    """Our answer buttons, selects and bell controls -> "answer" / "command" Inbounds.

    Clicks on elements Samen did not draw, and the modal button, give nothing here. With
    `clicks`, a repeated click (a double click) gets the key of the first."""
    trigger = str(body.get("trigger_id") or "")
    user, name = _user(body)
    channel = _channel(body)
    if not trigger or not user:
        return []
    container = body.get("container") or {}
    message_ts = str(container.get("message_ts") or "") if isinstance(container, Mapping) else ""
    found: list[Inbound] = []
    for n, action in enumerate(body.get("actions") or []):
        parts = str(action.get("action_id", "")).split(SEP)
        # One interaction normally carries one action; the index keeps keys unique anyway.
        key = f"act:{trigger}:{n}"
        if clicks is not None:
            signature = (
                user,
                channel,
                message_ts,
                str(action.get("action_id", "")),
                json.dumps(_picked(action), sort_keys=True),
            )
            key = clicks.key_for(signature, _action_ts(action), key)
        if parts[0] in ("b", "c") and len(parts) == 2:
            # A bell control, or a choice that types `/samen <its words>` (in a DM: the
            # person's private chat).
            args = str(action.get("value") or "")
            command = {"command": "bel", "args": "" if args == "ring" else args}
            if parts[0] == "c":
                command = {"command": "samen", "args": args}
            where = private_or(channel, user)
            found.append(Inbound(PLATFORM, key, "command", where, user, command, user_name=name))
            continue
        if parts[0] == "f" and len(parts) == 3:  # "klaar": leave the optional questions
            parts = [*parts, ""]
        elif parts[0] not in ("a", "s", "n") or len(parts) not in (4, 5):
            continue
        _, run, step, question = parts[:4]
        value: str | list[str] = ""
        answer_kind = "value"
        if parts[0] == "f":
            answer_kind = "done"
        elif parts[0] == "s":
            answer_kind = "skip"
        elif parts[0] == "n":
            answer_kind = "not_applicable"
        else:
            picked = _picked(action)
            if picked is None:
                continue
            value = picked
        found.append(
            Inbound(
                PLATFORM,
                key,
                "answer",
                private_or(channel, user),
                user,
                {
                    "run": run,
                    "step": step,
                    "question": question,
                    "value": value,
                    "answer_kind": answer_kind,
                    **_interaction_outsider(body),
                },
                user_name=name,
            )
        )
    return found


def _picked(action: Mapping[str, Any]) -> str | list[str] | None:
    """The value of one answer element, by element type."""
    kind = action.get("type")
    if kind == "button":
        return str(action.get("value", ""))
    if kind == "static_select":
        option = action.get("selected_option")
        return str(option["value"]) if option else None
    if kind == "multi_static_select":
        return [str(o["value"]) for o in action.get("selected_options") or []]
    if kind == "multi_users_select":
        return [str(u) for u in action.get("selected_users") or []]
    return None


def parse_modal_request(body: Mapping[str, Any]) -> ModalRequest | None:
    """A click on a form's modal button -> what to open, or None for any other action."""
    trigger = str(body.get("trigger_id") or "")
    for action in body.get("actions") or []:
        parts = str(action.get("action_id", "")).split(SEP)
        if parts[0] != "m" or len(parts) not in (3, 4) or not trigger:
            continue
        try:
            spec = json.loads(str(action.get("value") or "[]"))
        except ValueError:
            return None
        if not isinstance(spec, list) or not all(
            isinstance(item, list) and len(item) == 4 for item in spec
        ):
            return None
        language = parts[3] if len(parts) == 4 else ""
        return ModalRequest(trigger, parts[1], parts[2], _channel(body), spec, language)
    return None


# --------------------------------------------------------------------------- modal submit


def parse_view_submission(body: Mapping[str, Any]) -> list[Inbound]:
    """Our modal submitted -> one "answer" Inbound per question (an empty optional field
    is a skip)."""
    view = body.get("view") or {}
    if view.get("callback_id") != MODAL_CALLBACK:
        return []
    routing = str(view.get("private_metadata") or "").split(SEP)
    trigger = str(body.get("trigger_id") or view.get("id") or "")
    user, name = _user(body)
    if len(routing) not in (3, 4) or not trigger or not user:
        return []
    run, step, channel = routing[:3]
    found = []
    values = (view.get("state") or {}).get("values") or {}
    for block_id, elements in values.items():
        block = str(block_id).split(SEP)
        if len(block) != 2 or block[0] != "q":
            continue
        element = (elements or {}).get("v") or {}
        raw = _input_value(element)
        found.append(
            Inbound(
                PLATFORM,
                f"view:{trigger}:{block[1]}",
                "answer",
                private_or(channel, user),
                user,
                {
                    "run": run,
                    "step": step,
                    "question": block[1],
                    "value": raw or "",
                    "answer_kind": "value" if raw else "skip",
                    **_interaction_outsider(body),
                },
                user_name=name,
            )
        )
    return found


def _input_value(element: Mapping[str, Any]) -> str | None:
    kind = element.get("type")
    raw = element.get("selected_date") if kind == "datepicker" else element.get("value")
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def submission_errors(body: Mapping[str, Any], language: str = "nl") -> dict[str, str]:
    """Errors to answer in the ack (`response_action: errors`, R-ING-7): block id -> text,
    in the language the modal carries (else `language`).

    Only what the form itself can know: a number field that is not a number. The engine
    checks the rest and re-prompts."""
    routing = str((body.get("view") or {}).get("private_metadata") or "").split(SEP)
    language = routing[3] if len(routing) == 4 and routing[3] else language
    errors: dict[str, str] = {}
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    for block_id, elements in values.items():
        element = (elements or {}).get("v") or {}
        raw = _input_value(element)
        if element.get("type") == "number_input" and raw is not None:
            try:
                float(raw.replace(",", "."))
            except ValueError:
                errors[str(block_id)] = (
                    "Vul een getal in." if language.startswith("nl") else "Enter a number."
                )
    return errors


# --------------------------------------------------------------------------- events


_EVENT_KINDS: Final = {
    "app_mention": "mention",
    "member_joined_channel": "joined",
    "member_left_channel": "left",
}


def parse_event(body: Mapping[str, Any], bot_user_id: str | None = None) -> Inbound | None:
    """An Events API callback -> a "mention" / "joined" / "left" Inbound, keyed on
    `event_id`; None for events of bots and events we don't use. Samen itself joining a
    channel is "bot_added" by whoever invited it (`inviter`; "" when Slack names nobody).
    A person of another organisation (Slack Connect: their `user_team`, or `team` on
    membership events, is not the installed workspace's `team_id`) is marked outsider."""
    event = body.get("event") or {}
    kind = _EVENT_KINDS.get(str(event.get("type", "")))
    event_id = str(body.get("event_id") or "")
    user = event.get("user")
    if isinstance(user, Mapping):  # some events carry a user object
        user = user.get("id")
    if kind is None or not event_id or not user:
        return None
    if event.get("bot_id") or event.get("subtype") == "bot_message":
        return None
    channel = str(event.get("channel") or "")
    if bot_user_id is not None and user == bot_user_id:
        if kind != "joined":
            return None  # the bot mentioning itself, or leaving
        inviter = str(event.get("inviter") or "")
        return Inbound(PLATFORM, f"ev:{event_id}", "bot_added", channel, inviter)
    theirs = event.get("user_team") or event.get("team")
    payload = _outsider(body.get("team_id"), theirs)
    return Inbound(PLATFORM, f"ev:{event_id}", kind, channel, str(user), payload)


# --------------------------------------------------------------------------- request shape

# Fields of a request body that Bolt and this module read as objects (or ids) and lists.
_OBJECT_FIELDS: Final = ("user", "team", "channel", "container", "view", "enterprise")
_LIST_FIELDS: Final = ("actions", "authorizations")


def request_problem(raw: bytes, content_type: str) -> str | None:
    """What is wrong with a (signed) HTTP request body, in a few words for the log (never
    the body itself); None when Bolt and the parsers can read it.

    Slack sends JSON (Events API) or a form: a slash command's fields, or one `payload`
    field holding the interaction's JSON. Either way the result must be an object whose
    known fields have the types Slack documents."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    if content_type == "application/json" or text.startswith("{"):
        return _json_problem(text)
    fields = parse_qs(text, keep_blank_values=True)
    if "payload" in fields:
        return _json_problem(fields["payload"][0])
    if any(len(values) > 1 for values in fields.values()):
        return "a form field given twice"
    return None


def _json_problem(text: str) -> str | None:
    try:
        body = json.loads(text)
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict):
        return f"JSON {type(body).__name__}, not an object"
    for name in _OBJECT_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, dict | str):
            return f"field {name!r} is a {type(value).__name__}"
    if "event" in body and not isinstance(body["event"], dict):
        return "field 'event' is not an object"
    for name in _LIST_FIELDS:
        value = body.get(name)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, dict) for v in value)
        ):
            return f"field {name!r} is not a list of objects"
    view = body.get("view")
    if isinstance(view, dict) and not isinstance(view.get("state") or {}, dict):
        return "field 'view.state' is not an object"
    return None


def for_bolt(text: str) -> str:
    """The (verified) body as Bolt should read it. Bolt takes any form body containing the
    word "payload" for an interaction and, finding no `payload` field, reads it as empty:
    `/samen help payload` would vanish without a listener. Percent-encoding that word's
    "p" in a form without a `payload` field keeps every value as typed and Bolt on the
    right path. JSON bodies and interactions pass unchanged."""
    if text.startswith("{") or "payload" not in text:
        return text
    if "payload" in parse_qs(text, keep_blank_values=True):
        return text
    return text.replace("payload", "%70ayload")
