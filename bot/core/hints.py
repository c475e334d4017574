"""How to answer a question, in one sentence: the form shows it and a refusal repeats it.

A form and the reply to a wrong answer use the same words (`how_to_answer`), so a person
learns a scale's range and its end labels, a choice's numbers and the skip words before
they answer rather than from an error. The words people may type to skip, or to say
"not applicable", are defined here once for the core and every adapter.
"""

from __future__ import annotations

import re
from typing import Final

from bot.core import i18n
from bot.core.effects import QuestionView

# Typed as an answer to an optional question: skip it. Compared case-insensitively,
# without a trailing full stop.
SKIP_WORDS: Final = frozenset({"-", "overslaan", "sla over", "skip", "pass"})
# "Not applicable"; on an optional question without that answer they skip it.
NOT_APPLICABLE_WORDS: Final = frozenset({"nvt", "n.v.t", "n.v.t.", "n/a"})
# Typed instead of an answer: "I have answered what I want to" (optional ones left).
DONE_WORDS: Final = frozenset({"klaar", "done", "ready", "finished"})

DEFAULT_SCALE: Final = (1, 5)  # a scale without bounds in the flow: the care-team scale


def typed_word(raw: str) -> str:
    """A typed answer as the word lists above compare it."""
    return re.sub(r"\s+", " ", raw.strip().casefold()).rstrip(".!") or raw.strip()


def numbered(labels: list[str]) -> str:
    """ "1 = Ja, 2 = Misschien, 3 = Nee" """
    return ", ".join(f"{n} = {label}" for n, label in enumerate(labels, 1))


def how_to_answer(q: QuestionView, language: str) -> str:
    """One sentence (or two) saying what to type for `q`: its range, numbered choices or
    people, and how to skip it when that is allowed."""
    kind = q.type
    if kind == "scale":
        low = q.min if q.min is not None else DEFAULT_SCALE[0]
        high = q.max if q.max is not None else DEFAULT_SCALE[1]
        ends = dict(q.labels)
        lines = [
            i18n.t(
                "hint.scale",
                language,
                low=f"{low} ({ends[low]})" if low in ends else low,
                high=f"{high} ({ends[high]})" if high in ends else high,
            )
        ]
    elif kind in ("choice", "multi", "people"):
        labels = numbered([o.label for o in q.options])
        lines = [i18n.t(f"hint.{kind}", language, options=labels)]
    elif kind == "number":
        if q.min is not None and q.max is not None:
            lines = [i18n.t("hint.number_range", language, min=q.min, max=q.max)]
        elif q.min is not None:
            lines = [i18n.t("hint.number_min", language, min=q.min)]
        elif q.max is not None:
            lines = [i18n.t("hint.number_max", language, max=q.max)]
        else:
            lines = [i18n.t("hint.number", language)]
    else:  # yesno, date, text
        lines = [i18n.t(f"hint.{kind}", language)]
    if q.optional:
        lines.append(i18n.t("hint.skip", language))
    if q.not_applicable:
        lines.append(i18n.t("hint.not_applicable", language))
    return " ".join(lines)
