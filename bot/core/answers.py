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

from bot.core import i18n
from bot.core.events import AnswerKind
from bot.core.model import AnswerType, Condition, Question
from bot.core.render import text
from bot.core.run import Answer, AnswerValue, MemberState

MAX_TEXT = 4000  # characters; longer free text is refused rather than cut

# Scales without bounds in the flow run from 1 to 5, the common care-team scale.
DEFAULT_SCALE = (1, 5)

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
    """Validate and canonicalise one answer by its question's type."""
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


def _read_value(
    q: Question,
    raw: str | tuple[str, ...],
    members: Sequence[MemberState],
    language: str,
    address: str,
) -> AnswerValue | Refused:
    kind = q.type
    if kind in _LISTS:
        items = _items(raw)
        if kind == AnswerType.multi:
            return _read_multi(q, items, language, address)
        return _read_people(items, members, language, address)
    one = _single(raw)
    if kind == _TEXT:
        written = one.strip()
        if not written:
            return Refused(i18n.t("prompt.text_empty", language, address))
        if len(written) > MAX_TEXT:
            return Refused(i18n.t("prompt.text_long", language, address, max=MAX_TEXT))
        return written
    if kind == _CHOICE:
        found = _option(q, one)
        if found is None:
            return Refused(
                i18n.t("prompt.choice", language, address, options=_option_list(q, language))
            )
        return found
    if kind == AnswerType.scale:
        low, high = scale_bounds(q)
        number = _int(one)
        if number is None or not low <= number <= high:
            return Refused(i18n.t("prompt.scale", language, address, min=low, max=high))
        return number
    if kind == AnswerType.yesno:
        word = one.strip().lower()
        if word in _YES:
            return "yes"
        if word in _NO:
            return "no"
        return Refused(i18n.t("prompt.yesno", language, address))
    if kind == AnswerType.date:
        day = _date(one)
        if day is None:
            return Refused(i18n.t("prompt.date", language, address))
        return day.isoformat()
    # number
    amount = _number(one)
    too_low = amount is not None and q.min is not None and amount < q.min
    too_high = amount is not None and q.max is not None and amount > q.max
    if amount is None or too_low or too_high:
        return Refused(_number_prompt(q, language, address))
    return amount


def _single(raw: str | tuple[str, ...]) -> str:
    if isinstance(raw, tuple):
        return raw[0] if len(raw) == 1 else ""
    return raw


def _items(raw: str | tuple[str, ...]) -> list[str]:
    parts = list(raw) if isinstance(raw, tuple) else re.split(r"[,;\n]", raw)
    return [p.strip() for p in parts if p.strip()]


def _option(q: Question, given: str) -> str | None:
    """An option id, accepting the id itself or any of its labels, case-insensitively."""
    wanted = given.strip()
    for option in q.options:
        if option.id == wanted:
            return option.id
    folded = wanted.casefold()
    for option in q.options:
        if option.id.casefold() == folded or folded in _labels(option.text):
            return option.id
    return None


def _labels(value: object) -> set[str]:
    if isinstance(value, str):
        return {value.casefold()}
    if isinstance(value, dict):
        return {str(v).casefold() for v in value.values()}
    return set()


def _option_list(q: Question, language: str) -> str:
    return ", ".join(text(o.text, language) for o in q.options)


def _read_multi(
    q: Question, items: list[str], language: str, address: str
) -> AnswerValue | Refused:
    chosen: set[str] = set()
    for item in items:
        found = _option(q, item)
        if found is None:
            chosen.clear()
            break
        chosen.add(found)
    if not chosen:
        return Refused(i18n.t("prompt.multi", language, address, options=_option_list(q, language)))
    # The question's order, so that the same choice always compares equal (double clicks).
    return tuple(o.id for o in q.options if o.id in chosen)


def _read_people(
    items: list[str], members: Sequence[MemberState], language: str, address: str
) -> AnswerValue | Refused:
    present = [m for m in members if not m.left]
    chosen: set[str] = set()
    for item in items:
        folded = item.casefold()
        match = next((m.id for m in present if m.id == item or m.name.casefold() == folded), None)
        if match is None:
            chosen.clear()
            break
        chosen.add(match)
    if not chosen:
        names = ", ".join(m.name for m in present)
        return Refused(i18n.t("prompt.people", language, address, names=names))
    return tuple(m.id for m in present if m.id in chosen)


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


def _number_prompt(q: Question, language: str, address: str) -> str:
    if q.min is not None and q.max is not None:
        return i18n.t("prompt.number_range", language, address, min=q.min, max=q.max)
    if q.min is not None:
        return i18n.t("prompt.number_min", language, address, min=q.min)
    if q.max is not None:
        return i18n.t("prompt.number_max", language, address, max=q.max)
    return i18n.t("prompt.number", language, address)


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
        return None


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
