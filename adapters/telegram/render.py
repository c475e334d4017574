"""Samen's messages as Telegram messages: pure functions from a `Message` to text and markup.

Nothing here does I/O. `render_message` gives the plain text (sent without `parse_mode`,
so nothing in a flow or a name can be read as markup) and the reply markup of one message:
an inline keyboard for buttons, a `ForceReply` for a form that is answered by replying, or
none. Every button carries callback data of at most 64 bytes that `parse.py` reads back:

    a|<run>|<step>|<question>|<value>   an answer (option id, yes/no, a scale number)
    s|<run>|<step>|<question>           skip an optional question
    n|<run>|<step>|<question>           "not applicable"
    t|<question index>|<option id>|<0|1> toggle one option of a multi question (local)
    d|<run>|<step>|<question>|<index>   "klaar": answer a multi question with the toggles on
    f|<run>|<step>                      "klaar" with the form: the optional questions left
    b|<command>                         a bell control (pause, resume, extend, ...)
    c|<words>                           types `/samen <words>` (which team: a choice)

Run ids are 16 hex characters and step, question and option ids are slugs, so `|` never
occurs inside them. Data longer than 64 bytes is replaced by `k|<token>`, a short hash of
the data, and the pair is written to the token table the caller passes in; `parse.py`
resolves it through the same table. The hash makes the token stable: drawing a form again
gives the same tokens, so the table does not grow with every edit.

Toggles are local to the message: pressing one flips its `0|1` and its box in the
keyboard (the adapter edits the markup; nothing is stored); "klaar" reads the boxes that
are on from the keyboard Telegram sends back with the press.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup

from adapters.base import answer_choices, in_language
from bot.core.commands import BELL_ARGS
from bot.core.effects import Message, QuestionView

SEP: Final = "|"
MAX_CALLBACK_BYTES: Final = 64
MAX_TEXT: Final = 4096  # Telegram's limit for one message (UTF-16 units; we count chars)
MAX_BUTTON_TEXT: Final = 60
ON: Final = "☑"
OFF: Final = "☐"

Markup = InlineKeyboardMarkup | ForceReply | None

# Answer types drawn as buttons; the rest (text, date, number) are answered by a reply.
FREE_TYPES: Final = frozenset({"text", "date", "number"})


# The few words the adapter itself puts on buttons; message texts come rendered already.
_WORDS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "yes": "Ja",
        "no": "Nee",
        "skip": "Overslaan",
        "not_applicable": "N.v.t.",
        "done": "✔ Klaar",
        "closed": "(gesloten)",
        "late": "(later bezorgd)",
        "reply_one": "↩ Antwoord door op dit bericht te reageren (reply).",
        "reply_many": "↩ Antwoord door op dit bericht te reageren (reply), met het nummer "
        "van de vraag ervoor, bijvoorbeeld: {n} ...",
        "finish": "Klaar met wat je wilt beantwoorden? Tik op ✔ Klaar of antwoord 'klaar'.",
        "finished": "✔ Klaar",
        "placeholder": "Je antwoord",
        "answered": "✎ beantwoord",
        "ring": "🔔 Bel",
        "pause": "⏸ Pauze",
        "resume": "▶ Verder",
        "extend": "➕ 5 min",
        "next": "⏭ Volgende",
        "stop": "⏹ Stop",
        "process": "🛎 Procesbel",
    },
    "en": {
        "yes": "Yes",
        "no": "No",
        "skip": "Skip",
        "not_applicable": "N/A",
        "done": "✔ Done",
        "closed": "(closed)",
        "late": "(delivered late)",
        "reply_one": "↩ Answer by replying to this message.",
        "reply_many": "↩ Answer by replying to this message, starting with the number of "
        "the question, for example: {n} ...",
        "finish": "Answered all you want to? Tap ✔ Done or reply 'done'.",
        "finished": "✔ Done",
        "placeholder": "Your answer",
        "answered": "✎ answered",
        "ring": "🔔 Ring",
        "pause": "⏸ Pause",
        "resume": "▶ Resume",
        "extend": "➕ 5 min",
        "next": "⏭ Next",
        "stop": "⏹ Stop",
        "process": "🛎 Process bell",
    },
}


def word(key: str, language: str) -> str:
    """A word of the adapter in `language` (its base, then Dutch)."""
    return in_language(_WORDS, key, language)


# --------------------------------------------------------------------------- callback data


def callback_data(data: str, tokens: MutableMapping[str, str]) -> str:
    """`data` itself when it fits Telegram's 64 bytes, else a stable `k|<token>` whose
    meaning is written to `tokens` (the caller keeps that table)."""
    if len(data.encode()) <= MAX_CALLBACK_BYTES:
        return data
    digest = hashlib.blake2b(data.encode(), digest_size=12).digest()
    token = "k" + SEP + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    tokens[token] = data
    return token


def resolve(data: str, tokens: Mapping[str, str]) -> str | None:
    """Callback data as `render` meant it: a token looked up, anything else as is; None for
    a token the table does not know (the adapter loads known ones from the store first)."""
    if data.startswith("k" + SEP):
        return tokens.get(data)
    return data


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class FreeQuestion:
    """A question answered by replying: its number in the form and where it routes."""

    number: int
    step: str
    question: str
    type: str


@dataclass(frozen=True, slots=True)
class ReplyPrompt:
    """What a reply to a form message answers: the run and its free questions. The adapter
    keeps one per sent message (chat, message id) so `parse.py` can route replies."""

    run: str
    questions: tuple[FreeQuestion, ...]
    numbered: bool = False  # the form numbers its questions: a reply may start with one


def free_questions(message: Message, run: str | None) -> ReplyPrompt | None:
    """The reply routing of an open form with free-text, date or number questions."""
    if message.closed or not run:
        return None
    free = tuple(
        FreeQuestion(n, q.step, q.id, q.type)
        for n, q in enumerate(message.questions, 1)
        if q.type in FREE_TYPES
    )
    return ReplyPrompt(run, free, len(message.questions) > 1) if free else None


def render_message(
    message: Message,
    *,
    run: str | None = None,
    language: str = "nl",
    tokens: MutableMapping[str, str] | None = None,
) -> tuple[str, Markup]:
    """`message` -> (plain text, reply markup). `run` routes answer buttons; long callback
    data is registered in `tokens`."""
    table: MutableMapping[str, str] = tokens if tokens is not None else {}
    lines = [message.text.strip()]
    if message.questions:
        lines += _answer_lines(message, language)
    if message.late:
        lines.append(word("late", language))
    text = _cut("\n".join(line for line in lines if line), MAX_TEXT) or "Samen"
    rows: list[list[InlineKeyboardButton]] = []
    if message.questions and not message.closed:
        rows += _form_rows(message, run or "", language, table)
    if message.finish and not message.closed and message.questions and run:
        route = SEP.join(("f", run, message.questions[0].step))
        rows.append([_button(word("finished", language), route, table)])
    if message.controls and not message.closed:
        rows += _control_rows(message.controls, language)
    for label, args in message.choices:
        rows.append([_button(_cut(label, MAX_BUTTON_TEXT), "c" + SEP + args, table)])
    if rows:
        return text, InlineKeyboardMarkup(rows)
    prompt = free_questions(message, run)
    if prompt is not None:
        # A form of free questions only: Telegram opens the reply box by itself.
        return text, ForceReply(
            selective=True, input_field_placeholder=word("placeholder", language)
        )
    return text, None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _answer_lines(message: Message, language: str) -> list[str]:
    """Below the form's text: the answers so far, then how to answer (or that it closed)."""
    lines: list[str] = []
    numbered = len(message.questions) > 1
    for n, q in enumerate(message.questions, 1):
        shown = current_label(q, language)
        if shown is not None:
            lines.append(f"✓ {n}. {shown}" if numbered else f"✓ {shown}")
    if message.closed:
        lines.append(word("closed", language))
        return lines
    free = [n for n, q in enumerate(message.questions, 1) if q.type in FREE_TYPES]
    if len(free) == 1 and not numbered:
        lines.append(word("reply_one", language))
    elif free:
        lines.append(word("reply_many", language).format(n=free[0]))
    for n in free:  # how to answer each question that is answered by typing
        hint = message.questions[n - 1].hint
        if hint:
            lines.append(f"{n}. {hint}" if numbered else hint)
    if message.finish:
        lines.append(word("finish", language))
    return lines


def current_label(q: QuestionView, language: str) -> str | None:
    """How the answer given so far is shown: labels, never free text (R-PRV-3: a form may
    sit in a group; the words themselves stay in the database)."""
    current = q.current
    if current in (None, "", ()):
        return None
    values = current if isinstance(current, tuple) else (str(current),)
    if q.type in FREE_TYPES:
        return word("answered", language)
    labels = dict(_choices(q, language))
    return ", ".join(labels.get(v, v) for v in values)


def _choices(q: QuestionView, language: str) -> list[tuple[str, str]]:
    """(value sent back, label shown) for each possible answer."""
    return answer_choices(q, word("yes", language), word("no", language))


def _button(label: str, data: str, tokens: MutableMapping[str, str]) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        _cut(label, MAX_BUTTON_TEXT), callback_data=callback_data(data, tokens)
    )


def _form_rows(
    message: Message, run: str, language: str, tokens: MutableMapping[str, str]
) -> list[list[InlineKeyboardButton]]:
    rows: list[list[InlineKeyboardButton]] = []
    numbered = len(message.questions) > 1
    for qi, q in enumerate(message.questions):
        prefix = f"{qi + 1}. " if numbered else ""
        route = SEP.join((run, q.step, q.id))
        current = q.current if isinstance(q.current, tuple) else (q.current,)
        if q.type in ("choice", "yesno", "scale"):
            buttons = [
                _button(
                    prefix + ("✓ " if value in current else "") + label,
                    SEP.join(("a", route, value)),
                    tokens,
                )
                for value, label in _choices(q, language)
            ]
            # Yes/no and short scales fit on one line; longer labels get a line each.
            if q.type == "choice":
                rows += [[b] for b in buttons]
            else:
                rows += [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
        elif q.type == "multi":
            for value, label in _choices(q, language):
                on = value in current
                rows.append(
                    [
                        _button(
                            f"{prefix}{ON if on else OFF} {label}",
                            SEP.join(("t", str(qi), value, "1" if on else "0")),
                            tokens,
                        )
                    ]
                )
            rows.append(
                [_button(prefix + word("done", language), SEP.join(("d", route, str(qi))), tokens)]
            )
        else:
            continue  # free questions are answered by a reply; their skip is "-" there
        extra = []
        if q.optional:
            extra.append(_button(prefix + word("skip", language), "s" + SEP + route, tokens))
        if q.not_applicable:
            extra.append(
                _button(prefix + word("not_applicable", language), "n" + SEP + route, tokens)
            )
        if extra:
            rows.append(extra)
    return rows


def _control_rows(controls: Sequence[str], language: str) -> list[list[InlineKeyboardButton]]:
    """Chair controls, three to a row; the process bell (open to everyone) on its own row,
    last, so that it is not pressed by accident instead of a control."""
    ordered = [c for c in controls if c != "process" and c in BELL_ARGS]
    buttons = [
        InlineKeyboardButton(word(c, language), callback_data="b" + SEP + c) for c in ordered
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    if "process" in controls:
        rows.append([InlineKeyboardButton(word("process", language), callback_data="b|process")])
    return rows


# --------------------------------------------------------------------------- toggles


def toggled_keyboard(
    keyboard: Sequence[Sequence[Mapping[str, Any]]],
    pressed: str,
    tokens: MutableMapping[str, str],
) -> InlineKeyboardMarkup | None:
    """The keyboard of a message (as Telegram sent it back with a press) with the toggle
    button whose callback data is `pressed` (as drawn: maybe a token) flipped: its box and
    its `0|1`. None when `pressed` is no toggle on this keyboard."""
    data = resolve(pressed, tokens)
    parts = data.split(SEP) if data else []
    if len(parts) != 4 or parts[0] != "t":
        return None
    on = parts[3] == "1"
    found = False
    rows: list[list[InlineKeyboardButton]] = []
    for row in keyboard:
        new_row = []
        for button in row:
            text = str(button.get("text", ""))
            raw = str(button.get("callback_data", ""))
            if raw == pressed and not found:
                found = True
                text = text.replace(ON if on else OFF, OFF if on else ON, 1)
                raw = callback_data(SEP.join((*parts[:3], "0" if on else "1")), tokens)
            new_row.append(InlineKeyboardButton(text, callback_data=raw))
        rows.append(new_row)
    return InlineKeyboardMarkup(rows) if found else None


def chosen(
    keyboard: Sequence[Sequence[Mapping[str, Any]]], question_index: str, tokens: Mapping[str, str]
) -> list[str]:
    """The option ids switched on for the multi question `question_index` in `keyboard`."""
    picked = []
    for row in keyboard:
        for button in row:
            data = resolve(str(button.get("callback_data", "")), tokens) or ""
            parts = data.split(SEP)
            if parts[:2] == ["t", question_index] and len(parts) == 4 and parts[3] == "1":
                picked.append(parts[2])
    return picked
