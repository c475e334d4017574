"""Answers: checking what a member gave against its question's type, and testing branch
conditions on the answers a run has stored.

`read_answer` turns a platform's raw value ("4", "ja", ("loyaliteit",), "1-12-2026") into
the canonical value a run stores (4, "yes", ("loyaliteit",), "2026-12-01"), or says in
the team's language what was expected. Conditions are data (R-SEC-6): `holds` compares
stored values; nothing in a flow is ever evaluated as code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from bot.core import hints, i18n
from bot.core.events import AnswerKind
from bot.core.hints import NOT_APPLICABLE_WORDS, SKIP_WORDS, typed_word
from bot.core.model import AnswerType, Condition, Question
from bot.core.render import question_view, with_people
from bot.core.run import Answer, AnswerValue, MemberState

MAX_TEXT = 4000  # characters; longer free text is refused rather than cut

DEFAULT_SCALE = hints.DEFAULT_SCALE  # a scale without bounds in the flow: 1 to 5

# Enum members read once: on Python 3.11 a lookup on an enum class goes through its
# metaclass, and `AnswerKind.value` (which shadows `Enum.value`) through a descriptor.
_GIVEN: Final = AnswerKind.value
_SKIP: Final = AnswerKind.skip
_NOT_APPLICABLE: Final = AnswerKind.not_applicable
_TEXT: Final = AnswerType.text
_CHOICE: Final = AnswerType.choice
_LISTS: Final = (AnswerType.multi, AnswerType.people)

_YES = frozenset({"yes", "y", "ja", "j", "true", "waar", "1"})
_NO = frozenset({"no", "n", "nee", "false", "onwaar", "0"})
_DUTCH_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


@dataclass(frozen=True, slots=True)
class Accepted:
    value: AnswerValue
    kind: AnswerKind


@dataclass(frozen=True, slots=True)
class Refused:
    """What to tell the member: the expectation, already in the team's language."""

    prompt: str


def scale_bounds(question: Question) -> tuple[int, int]:
    low = question.min if question.min is not None else DEFAULT_SCALE[0]
    high = question.max if question.max is not None else DEFAULT_SCALE[1]
    return low, high


def read_answer(
    question: Question,
    raw: str | tuple[str, ...],
    kind: AnswerKind,
    members: Sequence[MemberState],
    language: str,
    address: str = "je",
) -> Accepted | Refused:
    """Validate and canonicalise one answer by its question's type.

    A typed skip word (`-`, `overslaan`, `skip`) skips an optional question, and `nvt`
    answers "not applicable" where the question offers it (else it skips an optional one),
    whichever way the platform passed it on.
    """
    if kind == _GIVEN and isinstance(raw, str):
        word = typed_word(raw)
        if word in SKIP_WORDS:
            kind = _SKIP
        elif word in NOT_APPLICABLE_WORDS and (question.not_applicable or question.optional):
            kind = _NOT_APPLICABLE
    if kind == _NOT_APPLICABLE and not question.not_applicable and question.optional:
        kind = _SKIP  # "nvt" on an optional question without that answer: skipped
    if kind == _SKIP:
        if question.optional:
            return Accepted(None, kind)
        return Refused(i18n.t("prompt.no_skip", language, address))
    if kind == _NOT_APPLICABLE:
        if question.not_applicable:
            return Accepted(None, kind)
        return Refused(i18n.t("prompt.no_na", language, address))
    value = _read_value(question, raw, members, language, address)
    if isinstance(value, Refused):
        return value
    return Accepted(value, _GIVEN)


def hint(question: Question, members: Sequence[MemberState], language: str) -> str:
    """What the form says under `question`: how to answer it."""
    view = question_view("", question, language)
    if question.type == AnswerType.people:
        view = with_people(view, members, language)
    return view.hint


def _read_value(
    q: Question,
    raw: str | tuple[str, ...],
    members: Sequence[MemberState],
    language: str,
    address: str,
) -> AnswerValue | Refused:
    kind = q.type
    refused = Refused(hint(q, members, language))
    if kind in _LISTS:
        items = _items(raw)
        if kind == AnswerType.multi:
            return _read_multi(q, items) or refused
        return _read_people(items, members) or refused
    one = _single(raw)
    if kind == _TEXT:
        written = one.strip()
        if not written:
            empty = i18n.t("prompt.text_empty", language, address)
            return Refused(empty + (" " + i18n.t("hint.skip", language) if q.optional else ""))
        if len(written) > MAX_TEXT:
            return Refused(i18n.t("prompt.text_long", language, address, max=MAX_TEXT))
        return written
    if kind == _CHOICE:
        found = _option(q, one)
        return refused if found is None else found
    if kind == AnswerType.scale:
        low, high = scale_bounds(q)
        number = _int(one)
        if number is None or not low <= number <= high:
            return refused
        return number
    if kind == AnswerType.yesno:
        word = one.strip().lower()
        if word in _YES:
            return "yes"
        if word in _NO:
            return "no"
        return refused
    if kind == AnswerType.date:
        day = _date(one)
        if day is None:
            return refused
        if day is _IMPOSSIBLE:
            written = one.strip()
            return Refused(i18n.t("prompt.date_impossible", language, address, date=written))
        return day.isoformat()
    # number
    amount = _number(one)
    too_low = amount is not None and q.min is not None and amount < q.min
    too_high = amount is not None and q.max is not None and amount > q.max
    if amount is None or too_low or too_high:
        return refused
    return amount


def _single(raw: str | tuple[str, ...]) -> str:
    if isinstance(raw, tuple):
        return raw[0] if len(raw) == 1 else ""
    return raw


# Several choices or people in one typed answer: "1, 3", "1;3", "loyaliteit en overzorg".
_SEPARATORS = re.compile(r"[,;\n]|\s+(?:en|and|&)\s+", re.IGNORECASE)


def _items(raw: str | tuple[str, ...]) -> list[str]:
    parts = list(raw) if isinstance(raw, tuple) else _SEPARATORS.split(raw)
    return [p.strip() for p in parts if p.strip()]


def _option(q: Question, given: str) -> str | None:
    """An option id from its id, its number in the form, its label or the start of its
    label (when only one label starts so), case-insensitively."""
    wanted = given.strip().rstrip(".")
    for option in q.options:
        if option.id == wanted:
            return option.id
    if wanted.isdigit() and 1 <= int(wanted) <= len(q.options):
        return q.options[int(wanted) - 1].id
    folded = wanted.casefold()
    if not folded:
        return None
    for option in q.options:
        if option.id.casefold() == folded or folded in _labels(option.text):
            return option.id
    starting = {
        option.id
        for option in q.options
        if option.id.casefold().startswith(folded)
        or any(label.startswith(folded) for label in _labels(option.text))
    }
    return starting.pop() if len(starting) == 1 else None


def _labels(value: object) -> set[str]:
    if isinstance(value, str):
        return {value.casefold()}
    if isinstance(value, dict):
        return {str(v).casefold() for v in value.values()}
    return set()


def _read_multi(q: Question, items: list[str]) -> AnswerValue:
    chosen: set[str] = set()
    for item in items:
        found = _option(q, item)
        if found is None:
            return None
        chosen.add(found)
    if not chosen:
        return None
    # The question's order, so that the same choice always compares equal (double clicks).
    return tuple(o.id for o in q.options if o.id in chosen)


def _read_people(items: list[str], members: Sequence[MemberState]) -> AnswerValue:
    """Member ids from numbers (as the form lists the team), ids, names, @names, or the
    start of one name."""
    present = [m for m in members if not m.left]
    chosen: set[str] = set()
    for item in items:
        match = _person(item, present)
        if match is None:
            return None
        chosen.add(match)
    if not chosen:
        return None
    return tuple(m.id for m in present if m.id in chosen)


def _person(given: str, present: Sequence[MemberState]) -> str | None:
    wanted = given.strip()
    if wanted.isdigit() and 1 <= int(wanted) <= len(present):
        return present[int(wanted) - 1].id
    wanted = wanted.removeprefix("@")
    # Slack writes a mention as <@U123> or <@U123|anna>.
    wanted = wanted.removeprefix("<@").removesuffix(">").partition("|")[0] or wanted
    folded = wanted.casefold()
    if not folded:
        return None
    for m in present:
        if m.id == wanted or m.id.casefold() == folded or m.name.casefold() == folded:
            return m.id
    starting = {m.id for m in present if m.name.casefold().startswith(folded)}
    return starting.pop() if len(starting) == 1 else None


def _int(given: str) -> int | None:
    written = given.strip()
    if re.fullmatch(r"[+-]?\d{1,9}", written):
        return int(written)
    return None


def _number(given: str) -> int | float | None:
    written = given.strip().replace(" ", "")
    if re.fullmatch(r"[+-]?\d{1,12}", written):
        return int(written)
    # A Dutch decimal comma (3,5) as well as a point.
    if re.fullmatch(r"[+-]?\d{1,12}[.,]\d{1,6}", written):
        amount = float(written.replace(",", "."))
        return int(amount) if amount.is_integer() else amount
    return None


def _date(given: str) -> date | None:
    written = given.strip()
    m = _ISO_DATE.match(written)
    if m:
        year, month, day = (int(g) for g in m.groups())
    else:
        m = _DUTCH_DATE.match(written)
        if not m:
            return None
        day, month, year = (int(g) for g in m.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return _IMPOSSIBLE  # written as a date, but no such day (31-02)


_IMPOSSIBLE: Final = date.min  # a marker: a well-formed date that does not exist


# --------------------------------------------------------------------------- conditions


def holds(
    condition: Condition,
    answers: Mapping[str, Answer],
    asked: Sequence[str],
) -> bool:
    """Does `condition` hold for one question's answers (member id → answer)?

    `who: any` holds when one member's answer matches, `who: all` when every answer does
    (and there is at least one). `answered` looks at the members who were asked: with
    `answered: false, who: any` it holds when someone asked has not answered.
    """
    if condition.answered is not None:
        pool = list(asked) or list(answers)
        results = [_has_value(answers.get(m)) == condition.answered for m in pool]
    else:
        results = [_matches(condition, a.value) for a in answers.values() if a.kind == _GIVEN]
    if not results:
        return False
    return all(results) if condition.who == "all" else any(results)


def _has_value(answer: Answer | None) -> bool:
    return answer is not None and answer.kind == _GIVEN


def _matches(c: Condition, value: AnswerValue) -> bool:
    checks: list[bool] = []
    if c.equals is not None:
        checks.append(_equals(value, c.equals))
    if c.in_ is not None:
        checks.append(any(_equals(value, candidate) for candidate in c.in_))
    number = _numeric(value)
    if c.at_least is not None:
        checks.append(number is not None and number >= c.at_least)
    if c.at_most is not None:
        checks.append(number is not None and number <= c.at_most)
    return all(checks) if checks else True


def _equals(value: AnswerValue, expected: str | int | bool) -> bool:
    if isinstance(value, tuple):
        # multi / people: "equals x" means x is among the chosen.
        return any(_equals(v, expected) for v in value)
    if isinstance(expected, bool):
        return value == ("yes" if expected else "no")
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = _number(str(expected))
        return number is not None and number == value
    if value == "yes" or value == "no":
        word = str(expected).strip().lower()
        return (value == "yes" and word in _YES) or (value == "no" and word in _NO)
    return value == str(expected)


def _numeric(value: AnswerValue) -> int | float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None
