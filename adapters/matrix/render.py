"""Samen's messages as Matrix messages: pure functions from a `Message` to event content.

Matrix has no buttons a bot can rely on (Element shows none), so a form is text: each
question numbered, the options of a choice numbered beneath it, and one line on how to
answer: `!a <answer>` (one question) or `!a <number> <answer>` (several), or a reply to
the message. Bell controls are shown as the `!bel ...` words that work. Messages go out as
`m.notice` (the type meant for bots: other bots do not answer it), plain text only, so
nothing in a flow or a name can be read as markup.

`form_prompt` is what the adapter keeps per form message so that `parse.py` can route an
answer back: the run, and per question its number, step, id, type, options and range.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from adapters.base import answer_choices, in_language
from bot.core.commands import BELL_ARGS
from bot.core.effects import Message, QuestionView

MAX_TEXT: Final = 30_000  # well below Synapse's 65 KB event limit
FREE_TYPES: Final = frozenset({"text", "date", "number"})

_WORDS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "yes": "ja",
        "no": "nee",
        "answer_one": "↩ Antwoord met: !a <je antwoord>, of beantwoord dit bericht (reply).",
        "answer_many": "↩ Antwoord met: !a <nummer van de vraag> <je antwoord>, bijvoorbeeld "
        "!a {n} ..., of beantwoord dit bericht (reply) met het nummer ervoor.",
        "skip": "Een '-' slaat een vraag over, 'nvt' betekent niet van toepassing.",
        "answered": "✎ beantwoord",
        "closed": "(gesloten)",
        "late": "(later bezorgd)",
        "bell": "Bel: {words}",
        "process": "Procesbel (voor iedereen): !bel proces",
        "options": "kies",
    },
    "en": {
        "yes": "yes",
        "no": "no",
        "answer_one": "↩ Answer with: !a <your answer>, or reply to this message.",
        "answer_many": "↩ Answer with: !a <question number> <your answer>, for example "
        "!a {n} ..., or reply to this message starting with the number.",
        "skip": "A '-' skips a question, 'n/a' means not applicable.",
        "answered": "✎ answered",
        "closed": "(closed)",
        "late": "(delivered late)",
        "bell": "Bell: {words}",
        "process": "Process bell (for everyone): !bel proces",
        "options": "choose",
    },
}


def word(key: str, language: str) -> str:
    """A word of the adapter in `language` (its base, then Dutch)."""
    return in_language(_WORDS, key, language)


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a sent form, as an answer is routed back to it."""

    number: int
    step: str
    id: str
    type: str
    options: tuple[tuple[str, str], ...] = ()  # (value sent back, label shown)


@dataclass(frozen=True, slots=True)
class FormPrompt:
    """What an answer to a form message answers: the run and its open questions."""

    run: str
    questions: tuple[Question, ...]

    def to_json(self) -> tuple[str, list[Any]]:
        return self.run, [
            [q.number, q.step, q.id, q.type, [list(o) for o in q.options]] for q in self.questions
        ]

    @staticmethod
    def from_json(stored: tuple[str, list[Any]]) -> FormPrompt:
        run, questions = stored
        return FormPrompt(
            run,
            tuple(
                Question(int(n), str(s), str(q), str(t), tuple((str(v), str(lb)) for v, lb in o))
                for n, s, q, t, o in questions
            ),
        )


def choices(q: QuestionView, language: str) -> list[tuple[str, str]]:
    """(value sent back, label shown) for each possible answer of a question."""
    return answer_choices(q, word("yes", language), word("no", language))


def form_prompt(message: Message, run: str | None, language: str) -> FormPrompt | None:
    """The answer routing of an open form (None when closed or not a form)."""
    if message.closed or not run or not message.questions:
        return None
    return FormPrompt(
        run,
        tuple(
            Question(n, q.step, q.id, q.type, tuple(choices(q, language)))
            for n, q in enumerate(message.questions, 1)
        ),
    )


# The catalogue names the commands as slash commands; Matrix bots take them with "!".
_SLASH_COMMAND: Final = re.compile(r"(?<![\w/!])/(samen|bel)\b")


def matrix_commands(text: str) -> str:
    """`/samen ...` and `/bel ...` in a text as they are typed in Matrix: `!samen`, `!bel`."""
    return _SLASH_COMMAND.sub(r"!\1", text)


def render_text(message: Message, language: str = "nl") -> str:
    """`message` as the plain text of one Matrix message."""
    lines = [matrix_commands(message.text.strip())]
    if message.questions:
        lines += _form_lines(message, language)
    if message.controls and not message.closed:
        lines += _control_lines(message.controls, language)
    if message.late:
        lines.append(word("late", language))
    text = "\n".join(line for line in lines if line) or "Samen"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def content(text: str) -> dict[str, Any]:
    """The content of a plain bot message."""
    return {"msgtype": "m.notice", "body": text}


def _form_lines(message: Message, language: str) -> list[str]:
    lines: list[str] = []
    numbered = len(message.questions) > 1
    for n, q in enumerate(message.questions, 1):
        shown = _current(q, language)
        if shown is not None:
            lines.append(f"✓ {n}. {shown}" if numbered else f"✓ {shown}")
        elif q.type not in FREE_TYPES and not message.closed:
            options = enumerate(choices(q, language), 1)
            listed = ", ".join(f"{i}) {label}" for i, (_, label) in options)
            prefix = f"{n}. " if numbered else ""
            lines.append(f"{prefix}{word('options', language)}: {listed}")
    if message.closed:
        lines.append(word("closed", language))
        return lines
    lines.append(
        word("answer_many", language).format(n=1) if numbered else word("answer_one", language)
    )
    if any(q.optional or q.not_applicable for q in message.questions):
        lines.append(word("skip", language))
    return lines


def _current(q: QuestionView, language: str) -> str | None:
    """The answer given so far as labels; free text is never echoed (R-PRV-3)."""
    current = q.current
    if current in (None, "", ()):
        return None
    if q.type in FREE_TYPES:
        return word("answered", language)
    values = current if isinstance(current, tuple) else (str(current),)
    labels = dict(choices(q, language))
    return ", ".join(labels.get(v, v) for v in values)


def _control_lines(controls: Sequence[str], language: str) -> list[str]:
    words = [f"!bel {BELL_ARGS[c]}".strip() for c in controls if c != "process" and c in BELL_ARGS]
    lines = [word("bell", language).format(words=" · ".join(words))] if words else []
    if "process" in controls:
        lines.append(word("process", language))
    return lines
