"""Telegram updates as Samen's neutral `Inbound` events: pure functions, no I/O.

An update is the JSON dict the Bot API sends (getUpdates or a webhook), not a
python-telegram-bot object, so the webhook path needs no library round trip and tests
use the API's own shapes. What becomes what:

- `/samen ...`, `/bel ...` (also `/samen@OurBot ...`) -> "command";
- a press on one of our answer buttons -> "answer"; on a bell control -> "command" `bel`;
  on a choice (which team) -> "command" `samen` with the words it carries;
- a press on a multi-select toggle -> a `Toggle` (local to the message, nothing stored);
- a reply to one of our forms -> "answer" for its free-text, date or number question;
- `/start <token>` in a private chat -> "joined" with `{"start": token}` (the deep link);
- `new_chat_members` / `left_chat_member` -> "joined" / "left";
- `my_chat_member` (the bot itself added to or removed from a group) -> "bot_added" /
  "bot_removed", by the person who did it; in a private chat, "kicked" means the person
  blocked the bot (`Parsed.closed_private`);
- `chat_member` (someone's membership of a group changed) -> "joined" / "left";
- `migrate_to_chat_id` (a group upgraded to a supergroup gets a new id) -> "migrated"
  with `{"to": new id}` on the old channel: the team's channel moves.

`Inbound.key` is the `update_id` (R-ING-4): Telegram repeats an update with the same id,
and the inbox absorbs the copy. Anything sent by a bot (ours included) gives nothing
(R-ING-8). Group chats are channels by their chat id; a private chat is `dm:<user id>`,
the same key the runtime uses for direct messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from adapters.base import Inbound
from adapters.telegram.render import SEP, ReplyPrompt, chosen, resolve
from bot.core.commands import BELL_ARGS
from bot.core.hints import DONE_WORDS, NOT_APPLICABLE_WORDS, SKIP_WORDS, typed_word

PLATFORM: Final = "telegram"
COMMANDS: Final = frozenset({"samen", "bel"})
GROUP_TYPES: Final = frozenset({"group", "supergroup"})


@dataclass(frozen=True, slots=True)
class Toggle:
    """A press on a multi-select toggle: the adapter flips it in the message's keyboard."""

    chat_id: int
    message_id: int
    pressed: str  # the callback data as drawn (maybe a token)
    keyboard: list[list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one update gave: events for the inbox, a toggle to draw, a callback to answer."""

    inbounds: tuple[Inbound, ...] = ()
    toggle: Toggle | None = None
    callback_id: str | None = None  # answerCallbackQuery stops the button's spinner
    private_user: str | None = None  # this person has a private chat with the bot
    closed_private: str | None = None  # this person blocked the bot in their private chat


def prompt_key(chat_id: int | str, message_id: int | str) -> str:
    """The key of a form message in the adapter's reply-prompt table."""
    return f"{chat_id}:{message_id}"


def parse_update(
    update: Mapping[str, Any],
    *,
    bot_username: str | None = None,
    tokens: Mapping[str, str] | None = None,
    prompts: Mapping[str, ReplyPrompt] | None = None,
) -> Parsed:
    """One Bot API update -> what Samen does with it (often nothing)."""
    table = tokens if tokens is not None else {}
    update_id = update.get("update_id")
    if not isinstance(update_id, int):
        return Parsed()
    key = str(update_id)
    if isinstance(update.get("callback_query"), Mapping):
        return _callback(key, update["callback_query"], table)
    if isinstance(update.get("my_chat_member"), Mapping):
        return _bot_membership(key, update["my_chat_member"])
    if isinstance(update.get("chat_member"), Mapping):
        return _member_change(key, update["chat_member"])
    message = update.get("message")
    if isinstance(message, Mapping):
        return _message(key, message, bot_username, prompts or {})
    return Parsed()  # edits, channel posts, polls, ...: not used by Samen


ACTIVE: Final = frozenset({"member", "administrator", "creator", "restricted"})
GONE: Final = frozenset({"left", "kicked"})


def _bot_membership(key: str, change: Mapping[str, Any]) -> Parsed:
    """The bot's own membership of a group changed; in a private chat: the person
    blocked the bot ("kicked") or unblocked it."""
    chat = change.get("chat")
    new, old = change.get("new_chat_member"), change.get("old_chat_member")
    if not isinstance(chat, Mapping) or not isinstance(new, Mapping):
        return Parsed()
    if chat.get("type") == "private":
        person = _person(change.get("from"))
        if person is None:
            return Parsed()
        if new.get("status") in GONE:
            return Parsed(closed_private=person[0])
        return Parsed(private_user=person[0])  # unblocked: the chat is open again
    if chat.get("type") not in GROUP_TYPES or not isinstance(old, Mapping):
        return Parsed()
    kind = {"in": "bot_added", "out": "bot_removed"}.get(_moved(old, new) or "")
    if kind is None:
        return Parsed()  # promoted, restricted, ...: nothing for Samen
    person = _person(change.get("from"))
    user, name = person if person is not None else ("", "")
    channel = str(chat.get("id"))
    return Parsed((Inbound(PLATFORM, key, kind, channel, user, _group_name(chat), name),))


def _moved(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """ "in" (a chat member now), "out" (no more), or None (another change)."""
    before, after = old.get("status"), new.get("status")
    if after in ACTIVE and before in GONE:
        return "in"
    if after in GONE and before in ACTIVE:
        return "out"
    return None


def _member_change(key: str, change: Mapping[str, Any]) -> Parsed:
    """A `chat_member` update (the bot is an administrator and asked for them): someone
    joined or left the group, or was removed from it."""
    chat = change.get("chat")
    new, old = change.get("new_chat_member"), change.get("old_chat_member")
    if not isinstance(chat, Mapping) or chat.get("type") not in GROUP_TYPES:
        return Parsed()
    if not isinstance(new, Mapping) or not isinstance(old, Mapping):
        return Parsed()
    person = _person(new.get("user"))
    kind = {"in": "joined", "out": "left"}.get(_moved(old, new) or "")
    if person is None or kind is None:
        return Parsed()
    user, name = person
    channel = str(chat.get("id"))
    return Parsed((Inbound(PLATFORM, key, kind, channel, user, _group_name(chat), name),))


# --------------------------------------------------------------------------- people, chats


def _person(sender: Any) -> tuple[str, str] | None:
    """(user id, first name) of a human sender; None for bots and malformed senders."""
    if not isinstance(sender, Mapping) or sender.get("is_bot") or "id" not in sender:
        return None
    return str(sender["id"]), str(sender.get("first_name") or "")


def _channel(chat: Mapping[str, Any], user: str) -> str | None:
    kind = chat.get("type")
    if kind in GROUP_TYPES:
        return str(chat.get("id"))
    if kind == "private":
        return f"dm:{user}"
    return None  # channels (broadcast) are not teams


def _topic(message: Mapping[str, Any]) -> dict[str, Any]:
    """{"topic": id} for a message in a forum topic of a group (not General), else {}:
    replies, and a run started there, go back into that topic."""
    thread = message.get("message_thread_id")
    if message.get("is_topic_message") and isinstance(thread, int) and thread > 0:
        return {"topic": str(thread)}
    return {}


def _group_name(chat: Mapping[str, Any]) -> dict[str, Any]:
    return (
        {"channel_name": str(chat["title"])}
        if chat.get("type") in GROUP_TYPES and chat.get("title")
        else {}
    )


# --------------------------------------------------------------------------- messages


def _message(
    key: str,
    message: Mapping[str, Any],
    bot_username: str | None,
    prompts: Mapping[str, ReplyPrompt],
) -> Parsed:
    chat = message.get("chat")
    if not isinstance(chat, Mapping):
        return Parsed()
    if "new_chat_members" in message or "left_chat_member" in message:
        return _membership(key, message, chat)
    if "migrate_to_chat_id" in message and chat.get("type") in GROUP_TYPES:
        moved = Inbound(
            PLATFORM,
            key,
            "migrated",
            str(chat.get("id")),
            "",
            {"to": str(message["migrate_to_chat_id"])},
        )
        return Parsed((moved,))
    person = _person(message.get("from"))
    if person is None:
        return Parsed()
    user, name = person
    channel = _channel(chat, user)
    if channel is None:
        return Parsed()
    private = user if chat.get("type") == "private" else None
    text = message.get("text")
    if not isinstance(text, str):
        return Parsed(private_user=private)
    if text.startswith("/"):
        command, args = _command(text, bot_username)
        if command == "start" and private is not None:
            return Parsed(
                (Inbound(PLATFORM, key, "joined", channel, user, {"start": args}, name),),
                private_user=private,
            )
        if command in COMMANDS:
            payload = {"command": command, "args": args, **_group_name(chat), **_topic(message)}
            return Parsed(
                (Inbound(PLATFORM, key, "command", channel, user, payload, name),),
                private_user=private,
            )
        return Parsed(private_user=private)
    replied = message.get("reply_to_message")
    if isinstance(replied, Mapping) and "message_id" in replied:
        prompt = prompts.get(prompt_key(chat.get("id", ""), replied["message_id"]))
        if prompt is not None:
            answer = _reply_answer(prompt, text)
            if answer is not None:
                answer.update(_topic(message))
                return Parsed(
                    (Inbound(PLATFORM, key, "answer", channel, user, answer, name),),
                    private_user=private,
                )
    return Parsed(private_user=private)  # talk among people: not ours to read


def _command(text: str, bot_username: str | None) -> tuple[str | None, str]:
    """`/samen@OurBot start intervisie` -> ("samen", "start intervisie"); a command meant
    for another bot in the group -> (None, "")."""
    head, _, rest = text.strip().partition(" ")
    # A command can also be followed by a newline instead of a space.
    head, newline, more = head.partition("\n")
    if newline:
        rest = (more + " " + rest).strip()
    name, _, addressee = head[1:].partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None, ""
    return name.lower(), rest.strip()


def _reply_answer(prompt: ReplyPrompt, text: str) -> dict[str, Any] | None:
    """A reply to a form: "klaar" finishes the form; otherwise the text answers its one
    free question. A leading number is read as a question number only where the form
    numbers its questions (`2 my answer`); in a form of one question it is the answer's."""
    body = text.strip()
    first = prompt.questions[0]
    if typed_word(body) in DONE_WORDS:
        return _answer([prompt.run, first.step, ""], "", "done")
    question = first if len(prompt.questions) == 1 else None
    if prompt.numbered or question is None:
        number, _, rest = body.partition(" ")
        named = next((q for q in prompt.questions if str(q.number) == number.rstrip(".:")), None)
        if named is not None:
            question, body = named, rest.strip()
    if question is None:
        return None
    answer_kind = "value"
    word = typed_word(body)
    if word in SKIP_WORDS:
        answer_kind, body = "skip", ""
    elif word in NOT_APPLICABLE_WORDS:
        answer_kind, body = "not_applicable", ""
    return _answer([prompt.run, question.step, question.question], body, answer_kind)


def _membership(key: str, message: Mapping[str, Any], chat: Mapping[str, Any]) -> Parsed:
    """People joining or leaving a group; bots (Samen itself among them) are left out."""
    if chat.get("type") not in GROUP_TYPES:
        return Parsed()
    channel = str(chat.get("id"))
    found: list[tuple[str, str, str]] = []
    for member in message.get("new_chat_members") or []:
        person = _person(member)
        if person is not None:
            found.append(("joined", *person))
    person = _person(message.get("left_chat_member"))
    if person is not None:
        found.append(("left", *person))
    extra = _group_name(chat)
    # One update may add several people: each gets its own key, the first the plain id.
    return Parsed(
        tuple(
            Inbound(
                PLATFORM, key if n == 0 else f"{key}:{user}", kind, channel, user, dict(extra), name
            )
            for n, (kind, user, name) in enumerate(found)
        )
    )


# --------------------------------------------------------------------------- button presses


def _callback(key: str, query: Mapping[str, Any], tokens: Mapping[str, str]) -> Parsed:
    callback_id = str(query.get("id") or "") or None
    person = _person(query.get("from"))
    message = query.get("message")
    raw = query.get("data")
    if person is None or not isinstance(message, Mapping) or not isinstance(raw, str):
        return Parsed(callback_id=callback_id)
    user, name = person
    chat = message.get("chat")
    if not isinstance(chat, Mapping):
        return Parsed(callback_id=callback_id)
    channel = _channel(chat, user)
    private = user if chat.get("type") == "private" else None
    data = resolve(raw, tokens)
    if channel is None or data is None:
        # An unknown token: not in the store either (forged, or from a wiped database).
        return Parsed(callback_id=callback_id, private_user=private)
    keyboard = _keyboard(message)
    parts = data.split(SEP)
    payload: dict[str, Any] | None = None
    kind = "answer"
    if parts[0] == "b" and len(parts) == 2 and parts[1] in BELL_ARGS:
        kind, payload = "command", {"command": "bel", "args": BELL_ARGS[parts[1]]}
        payload.update(_group_name(chat))
    elif parts[0] == "c" and len(parts) > 1:
        kind, payload = "command", {"command": "samen", "args": data[2:], **_group_name(chat)}
    elif parts[0] == "a" and len(parts) == 5:
        payload = _answer(parts[1:4], parts[4], "value")
    elif parts[0] in ("s", "n") and len(parts) == 4:
        payload = _answer(parts[1:4], "", "skip" if parts[0] == "s" else "not_applicable")
    elif parts[0] == "f" and len(parts) == 3:
        payload = _answer([parts[1], parts[2], ""], "", "done")
    elif parts[0] == "d" and len(parts) == 5 and keyboard is not None:
        payload = _answer(parts[1:4], chosen(keyboard, parts[4], tokens), "value")
    elif parts[0] == "t" and len(parts) == 4 and keyboard is not None:
        toggle = Toggle(int(chat["id"]), int(message["message_id"]), raw, keyboard)
        return Parsed(toggle=toggle, callback_id=callback_id, private_user=private)
    if payload is None:
        return Parsed(callback_id=callback_id, private_user=private)
    payload.update(_topic(message))
    return Parsed(
        (Inbound(PLATFORM, key, kind, channel, user, payload, name),),
        callback_id=callback_id,
        private_user=private,
    )


def _answer(route: list[str], value: str | list[str], answer_kind: str) -> dict[str, Any]:
    run, step, question = route
    return {
        "run": run,
        "step": step,
        "question": question,
        "value": value,
        "answer_kind": answer_kind,
    }


def _keyboard(message: Mapping[str, Any]) -> list[list[dict[str, Any]]] | None:
    """The inline keyboard Telegram sends back with a press (absent for messages older than
    48 hours, which Telegram returns as inaccessible)."""
    markup = message.get("reply_markup")
    if not isinstance(markup, Mapping):
        return None
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list):
        return None
    return [
        [dict(b) for b in row if isinstance(b, Mapping)] for row in rows if isinstance(row, list)
    ]


# --------------------------------------------------------------------------- request shape


def nesting_depth(raw: bytes) -> int:
    """How deeply the JSON in `raw` nests objects and arrays, read without parsing it (a
    parser recurses: 100,000 levels would exhaust its stack). Brackets inside strings do
    not count; the text need not be valid JSON."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x7D, 0x5D):  # } ]
            depth -= 1
    return deepest
