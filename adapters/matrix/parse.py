"""Matrix events as Samen's neutral `Inbound` events: pure functions, no I/O.

An event is the JSON dict of the client-server API (`/sync` timeline events, decrypted
ones in the same shape), not a library object, so tests use the spec's own shapes. What
becomes what:

- `!samen ...`, `!bel ...` -> "command" (Element passes no unknown slash commands, so
  Matrix bots take `!` commands); a message that mentions the bot (`m.mentions`, or its
  user id in the text) -> "mention";
- `!a <answer>` / `!a <number> <answer>` -> "answer" to the latest open form in that room;
  a reply (`m.in_reply_to`) to one of our forms -> "answer" to that form;
- `m.room.member` in a team room: someone's join -> "joined", their leave or ban ->
  "left" (the bot itself is left out: its invitation is handled by the adapter); in a
  direct room the person joining (accepting the bot's invitation) -> "joined" in their
  private chat, which releases the messages that waited for them;
- everything else (talk among people, edits, reactions) -> nothing.

`Inbound.key` is the event id: a sync replayed after a restart gives the same ids, and the
inbox absorbs the copies. A direct room is the person's private chat, `dm:<user id>`;
a team room is its room id. Events from a homeserver not on the allowlist give nothing:
such a person is never enrolled.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from adapters.base import Inbound
from adapters.matrix.render import FormPrompt

PLATFORM: Final = "matrix"
COMMANDS: Final = frozenset({"samen", "bel"})
ANSWER: Final = "a"
SKIP_WORDS: Final = frozenset({"-"})
NOT_APPLICABLE_WORDS: Final = frozenset({"nvt", "n.v.t.", "n.v.t", "n/a", "na"})
YES: Final = frozenset({"ja", "j", "yes", "y"})
NO: Final = frozenset({"nee", "n", "no"})


@dataclass(frozen=True, slots=True)
class Room:
    """What parsing needs to know of the room an event is in."""

    id: str
    direct_with: str | None = None  # the person, when this is a direct room
    name: str = ""


def server_of(user_id: str) -> str:
    """`@anna:zorg.example` -> `zorg.example`."""
    return user_id.partition(":")[2]


def allowed(user_id: str, servers: Collection[str]) -> bool:
    return server_of(user_id) in servers


def channel_of(room: Room, user: str) -> str:
    return f"dm:{user}" if room.direct_with is not None else room.id


def reply_target(event: Mapping[str, Any]) -> str | None:
    """The event id a message replies to (not a thread's fallback), if any."""
    relates = _content(event).get("m.relates_to")
    if not isinstance(relates, Mapping):
        return None
    if relates.get("rel_type") == "m.thread" and relates.get("is_falling_back"):
        return None
    reply = relates.get("m.in_reply_to")
    target = reply.get("event_id") if isinstance(reply, Mapping) else None
    return target if isinstance(target, str) else None


def parse_event(
    event: Mapping[str, Any],
    room: Room,
    *,
    bot: str,
    servers: Collection[str],
    prompts: Mapping[str, FormPrompt | None] | None = None,
    names: Mapping[str, str] | None = None,
) -> Inbound | None:
    """One timeline event -> what Samen does with it (often nothing). `prompts` holds the
    forms the event may answer: by replied-to event id, and under "latest" the room's
    latest open form; `names` the display names the adapter knows."""
    sender = event.get("sender")
    event_id = event.get("event_id")
    if not isinstance(sender, str) or not isinstance(event_id, str) or sender == bot:
        return None
    kind = event.get("type")
    if kind == "m.room.member":
        return _membership(event, event_id, room, bot, servers)
    if not allowed(sender, servers):
        return None
    if kind != "m.room.message":
        return None
    content = _content(event)
    if _content(event).get("m.relates_to", {}).get("rel_type") == "m.replace":
        return None  # an edit: the first version was read already
    body = content.get("body")
    if content.get("msgtype") not in ("m.text", "m.emote") or not isinstance(body, str):
        return None
    name = (names or {}).get(sender, "")
    channel = channel_of(room, sender)
    extra = {"channel_name": room.name} if room.direct_with is None and room.name else {}
    text = _with_user_ids(_strip_reply_fallback(body), content).strip()
    forms = prompts or {}
    if text.startswith("!"):
        head, _, rest = text[1:].partition(" ")
        head, newline, more = head.partition("\n")
        if newline:
            rest = (more + " " + rest).strip()
        command = head.lower()
        if command in COMMANDS:
            payload = {"command": command, "args": rest.strip(), **extra}
            return Inbound(PLATFORM, event_id, "command", channel, sender, payload, name)
        if command == ANSWER:
            return _answer(event_id, channel, sender, name, forms.get("latest"), rest)
        return None
    target = reply_target(event)
    if target is not None and forms.get(target) is not None:
        return _answer(event_id, channel, sender, name, forms[target], text)
    if _mentions(content, text, bot):
        return Inbound(PLATFORM, event_id, "mention", channel, sender, dict(extra), name)
    return None  # talk among people: not ours to read


def _content(event: Mapping[str, Any]) -> Mapping[str, Any]:
    content = event.get("content")
    return content if isinstance(content, Mapping) else {}


def _strip_reply_fallback(body: str) -> str:
    """A reply's body may begin with the quoted original (`> ...` lines, a blank line)."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")


_PILL: Final = re.compile(r'<a href="https://matrix\.to/#/(@[^"/?]+)"[^>]*>([^<]+)</a>')


def _with_user_ids(body: str, content: Mapping[str, Any]) -> str:
    """A mention ("pill") shows a name in the body and links the user id in the HTML:
    the body with each mentioned name replaced by the user id, as commands need it."""
    html = content.get("formatted_body")
    if not isinstance(html, str):
        return body
    for user_id, name in _PILL.findall(html):
        if name and name in body:
            body = body.replace(name, unquote(user_id), 1)
    return body


def _mentions(content: Mapping[str, Any], text: str, bot: str) -> bool:
    mentions = content.get("m.mentions")
    if isinstance(mentions, Mapping):
        users = mentions.get("user_ids")
        if isinstance(users, list) and bot in users:
            return True
    return bot in text


def _membership(
    event: Mapping[str, Any], event_id: str, room: Room, bot: str, servers: Collection[str]
) -> Inbound | None:
    """Someone joined or left a team room (direct rooms are no team)."""
    user = event.get("state_key")
    if not isinstance(user, str) or user == bot:
        return None
    now = _content(event).get("membership")
    unsigned = event.get("unsigned")
    prev = unsigned.get("prev_content") if isinstance(unsigned, Mapping) else None
    before = prev.get("membership") if isinstance(prev, Mapping) else None
    name = str(_content(event).get("displayname") or "")
    if room.direct_with is not None:
        if user != room.direct_with or now != "join" or before == "join":
            return None
        # They accepted the bot's invitation to a direct room: what waited for them goes
        # out now (as Telegram's Start).
        return Inbound(PLATFORM, event_id, "joined", f"dm:{user}", user, {"start": ""}, name)
    extra = {"channel_name": room.name} if room.name else {}
    if now == "join" and before != "join":
        if not allowed(user, servers):
            return None  # an outsider from another homeserver: never enrolled
        return Inbound(PLATFORM, event_id, "joined", room.id, user, extra, name)
    if now in ("leave", "ban") and before == "join":
        return Inbound(PLATFORM, event_id, "left", room.id, user, extra, name)
    return None


def _answer(
    key: str, channel: str, user: str, name: str, prompt: FormPrompt | None, text: str
) -> Inbound | None:
    """`text` answers `prompt`: the whole text its one question; with several, the text
    starts with the question's number (`2 my answer`)."""
    if prompt is None or not prompt.questions:
        return None
    body = text.strip()
    question = prompt.questions[0] if len(prompt.questions) == 1 else None
    if question is None:
        number, _, rest = body.partition(" ")
        number = number.rstrip(".:)")
        question = next((q for q in prompt.questions if str(q.number) == number), None)
        if question is None:
            return None
        body = rest.strip()
    answer_kind = "value"
    value: str | list[str] = body
    if body in SKIP_WORDS:
        answer_kind, value = "skip", ""
    elif body.lower() in NOT_APPLICABLE_WORDS:
        answer_kind, value = "not_applicable", ""
    elif question.type == "multi":
        value = [_option(question.options, part) for part in body.replace(",", " ").split()]
    elif question.options:
        value = _option(question.options, body)
    payload = {
        "run": prompt.run,
        "step": question.step,
        "question": question.id,
        "value": value,
        "answer_kind": answer_kind,
    }
    return Inbound(PLATFORM, key, "answer", channel, user, payload, name)


def _option(options: tuple[tuple[str, str], ...], typed: str) -> str:
    """What a person typed for a choice: its number in the list, its value or its label
    (any case); yes/no words in Dutch and English. Anything else is passed on as typed
    (the flow re-asks)."""
    wanted = typed.strip().lower()
    values = [v for v, _ in options]
    if values == ["yes", "no"]:
        if wanted in YES:
            return "yes"
        if wanted in NO:
            return "no"
    for value, label in options:
        if wanted in (value.lower(), label.lower()):
            return value
    numeric = any(v.isdigit() for v in values)  # a scale: its numbers are its values
    if wanted.isdigit() and not numeric and 1 <= int(wanted) <= len(options):
        return values[int(wanted) - 1]
    return typed.strip()
