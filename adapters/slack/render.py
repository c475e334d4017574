"""Samen's messages as Slack Block Kit: pure functions from a `Message` to blocks and text.

Nothing here does I/O. `render_message` gives the blocks and the notification fallback
text of one message; `render_modal` the modal for the free-text, date and number questions
of a form. Every interactive element carries enough to route a click back to its run
without any lookup (`parse.py` reads them back):

    a|<run>|<step>|<question>|<n>   an answer button (option id in `value`)
    a|<run>|<step>|<question>       an answer select (option ids in the selected options)
    s|<run>|<step>|<question>       skip an optional question
    n|<run>|<step>|<question>       "not applicable"
    m|<run>|<step>|<language>       open the modal (question specs in `value`, JSON)
    f|<run>|<step>                  "klaar": the optional questions left
    b|<command>                     a bell control (the `/bel` words in `value`)

Run ids are 16 hex characters and step, question and option ids are lower-case slugs, so
`|` never occurs inside them. Slack's limits (action_id ≤ 255, button value ≤ 2000,
option value ≤ 150, ≤ 25 elements per actions block, ≤ 50 blocks) are checked here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from adapters.base import answer_choices, in_language
from bot.core.commands import BELL_ARGS
from bot.core.effects import Message, MessageKind, QuestionView

Block = dict[str, Any]

SEP: Final = "|"
MODAL_CALLBACK: Final = "samen_form"
MAX_ACTION_ID: Final = 255
MAX_VALUE: Final = 2000
MAX_OPTION_VALUE: Final = 150
MAX_BUTTON_TEXT: Final = 75
MAX_SECTION_TEXT: Final = 3000
MAX_HEADER_TEXT: Final = 150
MAX_BLOCKS: Final = 50
MAX_BUTTONS: Final = 5  # more options than this become a select (a row of 6+ buttons wraps badly)
MAX_SELECT_OPTIONS: Final = 100
MAX_FALLBACK: Final = 3000


# The few words the adapter itself puts on buttons; message texts come rendered already.
_WORDS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "yes": "Ja",
        "no": "Nee",
        "skip": "Overslaan",
        "not_applicable": "N.v.t.",
        "answer": "Beantwoorden",
        "change": "Wijzigen",
        "choose": "Kies…",
        "choose_people": "Kies collega's…",
        "closed": "Gesloten",
        "late": "(later bezorgd)",
        "submit": "Versturen",
        "cancel": "Annuleren",
        "title": "Samen",
        "ring": "🔔 Bel",
        "pause": "⏸ Pauze",
        "resume": "▶ Verder",
        "extend": "➕ 5 min",
        "next": "⏭ Volgende",
        "stop": "⏹ Stop",
        "process": "🛎 Procesbel (iedereen)",
        "stop_confirm_title": "Bijeenkomst stoppen?",
        "stop_confirm_text": "Dit beëindigt de bijeenkomst voor iedereen.",
        "stop_confirm_yes": "Stoppen",
        "finish": "✔ Klaar (de rest overslaan)",
    },
    "en": {
        "yes": "Yes",
        "no": "No",
        "skip": "Skip",
        "not_applicable": "N/A",
        "answer": "Answer",
        "change": "Change",
        "choose": "Choose…",
        "choose_people": "Choose colleagues…",
        "closed": "Closed",
        "late": "(delivered late)",
        "submit": "Submit",
        "cancel": "Cancel",
        "title": "Samen",
        "ring": "🔔 Ring",
        "pause": "⏸ Pause",
        "resume": "▶ Resume",
        "extend": "➕ 5 min",
        "next": "⏭ Next",
        "stop": "⏹ Stop",
        "process": "🛎 Process bell (everyone)",
        "stop_confirm_title": "Stop the meeting?",
        "stop_confirm_text": "This ends the meeting for everyone.",
        "stop_confirm_yes": "Stop",
        "finish": "✔ Done (skip the rest)",
    },
}

_MODAL_TYPES: Final = frozenset({"text", "date", "number"})


def word(key: str, language: str) -> str:
    """A button word in `language` (its base, then Dutch)."""
    return in_language(_WORDS, key, language)


# --------------------------------------------------------------------------- ids


def answer_action_id(run: str, step: str, question: str, index: int | None = None) -> str:
    """The action_id of an answer element; `index` keeps buttons unique within a block."""
    parts = ["a", run, step, question] + ([str(index)] if index is not None else [])
    return _checked_id(SEP.join(parts))


def _checked_id(action_id: str) -> str:
    if len(action_id) > MAX_ACTION_ID:
        # Ids are slugs chosen by flow authors; a flow this verbose is a flow error, and a
        # truncated id could route a click to the wrong question.
        raise ValueError(f"Slack action_id longer than {MAX_ACTION_ID} characters: ids too long")
    return action_id


def _checked_value(value: str, limit: int = MAX_VALUE) -> str:
    if len(value) > limit:
        raise ValueError(f"Slack value longer than {limit} characters")
    return value


# --------------------------------------------------------------------------- text


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int = MAX_BUTTON_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def _sections(text: str) -> list[Block]:
    """mrkdwn sections of at most 3000 characters, split at line ends where possible."""
    body = escape(text.strip())
    blocks: list[Block] = []
    while body:
        if len(body) <= MAX_SECTION_TEXT:
            chunk, body = body, ""
        else:
            at = body.rfind("\n", 0, MAX_SECTION_TEXT)
            at = at if at > 0 else MAX_SECTION_TEXT
            chunk, body = body[:at], body[at:].lstrip("\n")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return blocks


def fallback_text(message: Message) -> str:
    """The notification text Slack shows where blocks can't be (and screen readers read)."""
    return _cut(message.text.strip(), MAX_FALLBACK) or "Samen"


# --------------------------------------------------------------------------- messages


def render_message(
    message: Message, *, run: str | None = None, language: str = "nl"
) -> tuple[list[Block], str]:
    """`message` -> (Block Kit blocks, fallback text). `run` routes answer buttons."""
    blocks: list[Block] = []
    if message.kind == MessageKind.phase:
        blocks += _phase_blocks(message)
    else:
        blocks += _sections(message.text)
    if message.questions:
        blocks += _form_blocks(message, run or "", language)
    if message.controls and not message.closed:
        blocks.append(_controls_block(message.controls, language))
    if message.choices:
        blocks.append(_choices_block(message.choices))
    if message.late:
        blocks.append(_context(word("late", language)))
    if len(blocks) > MAX_BLOCKS:
        # Slack rejects the whole message beyond 50 blocks; keep the start and say so.
        blocks = [*blocks[: MAX_BLOCKS - 1], _context("…")]
    return blocks, fallback_text(message)


def _phase_blocks(message: Message) -> list[Block]:
    first, _, rest = message.text.strip().partition("\n")
    blocks: list[Block] = [{"type": "header", "text": _plain(first, MAX_HEADER_TEXT)}]
    return blocks + _sections(rest)


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text)}]}


def _choices_block(choices: Sequence[tuple[str, str]]) -> Block:
    """Buttons that each type a `/samen` command (which team a command is about)."""
    elements = [
        {
            "type": "button",
            "action_id": _checked_id(f"c{SEP}{n}"),
            "text": _plain(label),
            "value": args,
        }
        for n, (label, args) in enumerate(choices)
    ]
    return {"type": "actions", "elements": elements}


def _controls_block(controls: Sequence[str], language: str) -> Block:
    """Chair controls as buttons; the process bell (open to everyone) comes last."""
    ordered = [c for c in controls if c != "process" and c in BELL_ARGS]
    ordered += [c for c in controls if c == "process"]
    elements = []
    for command in ordered:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": _checked_id(f"b{SEP}{command}"),
            "text": _plain(word(command, language)),
            "value": BELL_ARGS[command] or "ring",
        }
        if command == "stop":
            button["style"] = "danger"
            button["confirm"] = {
                "title": _plain(word("stop_confirm_title", language), 100),
                "text": _plain(word("stop_confirm_text", language), 300),
                "confirm": _plain(word("stop_confirm_yes", language), 30),
                "deny": _plain(word("cancel", language), 30),
            }
        elif command == "process":
            button["style"] = "primary"
        elements.append(button)
    return {"type": "actions", "block_id": "bell", "elements": elements}


# --------------------------------------------------------------------------- forms


def _form_blocks(message: Message, run: str, language: str) -> list[Block]:
    blocks: list[Block] = []
    modal: list[QuestionView] = []
    for q in message.questions:
        shown = _question_text(q, language)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": shown}})
        if q.help:
            blocks.append(_context(q.help))
        if message.closed:
            continue
        elements = _answer_elements(q, run, language)
        if q.type in _MODAL_TYPES:
            modal.append(q)
        if elements:
            blocks.append(
                {"type": "actions", "block_id": f"q{SEP}{q.step}{SEP}{q.id}", "elements": elements}
            )
    if message.closed:
        blocks.append(_context(word("closed", language)))
        return blocks
    if modal:
        blocks.append(_modal_button_block(modal, run, language))
    if message.finish and message.questions:
        step = message.questions[0].step
        finish = _button(_checked_id(SEP.join(("f", run, step))), word("finish", language), "klaar")
        blocks.append({"type": "actions", "block_id": f"f{SEP}{step}", "elements": [finish]})
    return blocks


def _question_text(q: QuestionView, language: str) -> str:
    line = f"*{escape(_cut(q.text, MAX_SECTION_TEXT - 200))}*"
    shown = current_label(q, language)
    if shown is not None:
        line += f"\n✓ {shown}"
    return line


def current_label(q: QuestionView, language: str) -> str | None:
    """How the answer given so far is shown: the chosen label, never free text (R-PRV-3:
    a form may sit in a channel; the text itself stays in the database)."""
    current = q.current
    if current in (None, "", ()):
        return None
    labels = {o.id: o.label for o in q.options}
    values = current if isinstance(current, tuple) else (current,)
    if q.type == "people":
        return ", ".join(f"<@{escape(v)}>" for v in values)
    if q.type == "yesno" and values[0] in ("yes", "no"):
        return word(values[0], language)
    if q.type == "text":
        return "✎"  # answered; the words are not echoed
    if q.type == "scale":
        scale_labels = dict(q.labels)
        shown = []
        for v in values:
            label = scale_labels.get(int(v)) if v.lstrip("-").isdigit() else None
            shown.append(f"{v} ({escape(label)})" if label else escape(v))
        return ", ".join(shown)
    return ", ".join(escape(labels.get(v, v)) for v in values)


def _answer_elements(q: QuestionView, run: str, language: str) -> list[dict[str, Any]]:
    current = q.current if isinstance(q.current, tuple) else (q.current,)
    elements: list[dict[str, Any]] = []
    if q.type in ("choice", "yesno", "scale"):
        choices = _choices(q, language)
        if len(choices) <= MAX_BUTTONS or (q.type == "scale" and len(choices) <= 11):
            for n, (value, label) in enumerate(choices):
                button = _button(answer_action_id(run, q.step, q.id, n), label, value)
                if value in current:
                    button["style"] = "primary"  # the answer given so far
                elements.append(button)
        else:
            elements.append(_static_select(q, run, choices, language, multi=False))
    elif q.type == "multi":
        elements.append(_static_select(q, run, _choices(q, language), language, multi=True))
    elif q.type == "people":
        select: dict[str, Any] = {
            "type": "multi_users_select",
            "action_id": answer_action_id(run, q.step, q.id),
            "placeholder": _plain(word("choose_people", language), 150),
        }
        if q.current:
            select["initial_users"] = list(current)
        if q.max:
            select["max_selected_items"] = q.max
        elements.append(select)
    if q.optional:
        elements.append(
            _button(_checked_id(SEP.join(("s", run, q.step, q.id))), word("skip", language), "-")
        )
    if q.not_applicable:
        elements.append(
            _button(
                _checked_id(SEP.join(("n", run, q.step, q.id))),
                word("not_applicable", language),
                "nvt",
            )
        )
    return elements[:25]


def _choices(q: QuestionView, language: str) -> list[tuple[str, str]]:
    """(value sent back, label shown) for each possible answer."""
    return answer_choices(q, word("yes", language), word("no", language))


def _button(action_id: str, label: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label),
        "value": _checked_value(value),
    }


def _static_select(
    q: QuestionView,
    run: str,
    choices: Iterable[tuple[str, str]],
    language: str,
    *,
    multi: bool,
) -> dict[str, Any]:
    options = [
        {"text": _plain(label), "value": _checked_value(value, MAX_OPTION_VALUE)}
        for value, label in list(choices)[:MAX_SELECT_OPTIONS]
    ]
    select: dict[str, Any] = {
        "type": "multi_static_select" if multi else "static_select",
        "action_id": answer_action_id(run, q.step, q.id),
        "placeholder": _plain(word("choose", language), 150),
        "options": options,
    }
    chosen = q.current if isinstance(q.current, tuple) else (q.current,)
    initial = [o for o in options if o["value"] in chosen]
    if initial:
        if multi:
            select["initial_options"] = initial
        else:
            select["initial_option"] = initial[0]
    if multi and q.max:
        select["max_selected_items"] = q.max
    return select


# --------------------------------------------------------------------------- modal


def _modal_button_block(questions: Sequence[QuestionView], run: str, language: str) -> Block:
    """One button for all free-text, date and number questions of a form; the button's value
    carries what the modal needs, because the click payload carries nothing else of ours."""
    step = questions[0].step
    answered = all(q.current not in (None, "", ()) for q in questions)
    value = modal_spec(questions)
    button = _button(
        _checked_id(SEP.join(("m", run, step, language))),  # the modal speaks it too
        word("change" if answered else "answer", language),
        value,
    )
    if not answered:
        button["style"] = "primary"
    return {"type": "actions", "block_id": f"m{SEP}{step}", "elements": [button]}


def modal_spec(questions: Sequence[QuestionView]) -> str:
    """`[[question, type, label, optional], ...]` as compact JSON within 2000 characters;
    long labels are shortened until it fits (the message above shows them in full)."""
    for limit in (300, 150, 80, 40, 20):
        spec = [[q.id, q.type, _cut(q.text, limit), int(q.optional)] for q in questions]
        value = json.dumps(spec, separators=(",", ":"), ensure_ascii=False)
        if len(value) <= MAX_VALUE:
            return value
    raise ValueError("too many modal questions for one Slack button")


def render_modal(
    run: str, step: str, channel: str, spec: Sequence[Sequence[Any]], language: str = "nl"
) -> dict[str, Any]:
    """The modal view: one input per question; `private_metadata` routes the submission
    (run, step, the chat to answer in, and the language for errors in the ack)."""
    blocks: list[Block] = []
    for question, kind, label, optional in spec:
        element: dict[str, Any]
        if kind == "date":
            element = {"type": "datepicker", "action_id": "v"}
        elif kind == "number":
            element = {"type": "number_input", "action_id": "v", "is_decimal_allowed": True}
        else:
            element = {"type": "plain_text_input", "action_id": "v", "multiline": True}
        blocks.append(
            {
                "type": "input",
                "block_id": _checked_id(f"q{SEP}{question}"),
                "optional": bool(optional),
                "label": _plain(str(label), 2000),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": _plain(word("title", language), 24),
        "submit": _plain(word("submit", language), 24),
        "close": _plain(word("cancel", language), 24),
        "private_metadata": _checked_value(SEP.join((run, step, channel, language)), 3000),
        "blocks": blocks[:MAX_BLOCKS],
    }
