"""The checker's base (where its problems go) and its checks on questions: ids, options,
scales, labels and bounds. `bot.core.validate` builds on it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from bot.core.model import AnswerType, AskStep, Question, RoundStep, Step, step_kind_of
from bot.core.problems import Loc, Problem, SourceMap, suggestion


def words(items: Sequence[str]) -> str:
    quoted = [f"'{i}'" for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def question_loc(step: Step, k: int) -> Loc:
    """Where the k-th question of a step is, below the step."""
    kind = step_kind_of(step) or ""
    if isinstance(step, AskStep | RoundStep):
        return (kind, "question")
    return (kind, "questions", k)


def nearest_ids(word: str, ids: Sequence[str]) -> str:
    """ "; did you mean 'x'?" for a near miss, else the ids most like `word` (at most
    three), so that an author never has to look them up."""
    close = suggestion(word, ids)
    if close or not ids:
        return close
    ranked = difflib.get_close_matches(word, ids, n=3, cutoff=0.0)
    return "; the steps most like it are " + words(ranked)


# A scale without bounds runs from 1 to 5 (as the engine reads answers).
_DEFAULT_SCALE = (1, 5)


class QuestionChecks:
    """Problems at their places in one flow file, and the checks on its questions."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def error(
        self, loc: Loc, message: str, *, key: bool = False, at: tuple[int, int] | None = None
    ) -> None:
        if at is None:
            self.problems.append(self.source.error(loc, message, key=key))
        else:
            self.problems.append(Problem(self.source.file, at[0], at[1], message))

    def warning(self, loc: Loc, message: str, *, key: bool = False) -> None:
        self.problems.append(self.source.warning(loc, message, key=key))

    # ----------------------------------------------------------------- questions

    def check_questions(self, questions: Sequence[Question], loc: Loc, name: str) -> None:
        first_line: dict[str, int] = {}
        for k, question in enumerate(questions):
            here: Loc = (*loc, k)
            if question.id in first_line:
                self.error(
                    (*here, "id"),
                    f"{name}: question id '{question.id}' is already "
                    f"used on line {first_line[question.id]}; give "
                    "each question in a step its own id",
                )
            else:
                first_line[question.id] = self.source.position((*here, "id"))[0]
            self.check_question(question, here, name)

    def check_question(self, q: Question, loc: Loc, name: str) -> None:
        who = f"{name}, question '{q.id}'"
        if q.options_from is not None:
            if q.type not in (AnswerType.choice, AnswerType.multi):
                self.error(
                    (*loc, "options_from"),
                    f"{who}: options_from gives a choice or multi question its options, "
                    f"and this one is {q.type.value}",
                )
            elif q.options:
                self.error(
                    (*loc, "options"),
                    f"{who}: the options come from 'options_from'; remove 'options'",
                    key=True,
                )
        elif q.type in (AnswerType.choice, AnswerType.multi):
            if len(q.options) < 2:
                self.error(
                    (*loc, "options"),
                    f"{who}: a {q.type.value} question needs at "
                    "least two options; add them under 'options:'",
                    key=True,
                )
            first_line: dict[str, int] = {}
            for k, option in enumerate(q.options):
                where: Loc = (*loc, "options", k, "id")
                if option.id in first_line:
                    self.error(
                        where,
                        f"{who}: option id '{option.id}' is already used on "
                        f"line {first_line[option.id]}; give each option its "
                        "own id",
                    )
                else:
                    first_line[option.id] = self.source.position(where)[0]
        elif q.options:
            self.warning(
                (*loc, "options"),
                f"{who}: options are only used by choice and multi "
                f"questions, and this one is {q.type.value}",
            )
        if q.type == AnswerType.scale:
            low = q.min if q.min is not None else _DEFAULT_SCALE[0]
            high = q.max if q.max is not None else _DEFAULT_SCALE[1]
            if low >= high:
                where = (*loc, "max") if q.max is not None else (*loc, "min")
                self.error(
                    where, f"{who}: the scale runs from {low} to {high}; min must be lower than max"
                )
            else:
                for value in q.labels:
                    if not low <= value <= high:
                        self.error(
                            (*loc, "labels", value),
                            f"{who}: label {value} is outside the scale ({low} to {high})",
                            key=True,
                        )
        elif q.labels:
            self.warning(
                (*loc, "labels"),
                f"{who}: labels are only used by scale questions, and this one is {q.type.value}",
            )
        if (
            q.type == AnswerType.number
            and q.min is not None
            and q.max is not None
            and (q.min > q.max)
        ):
            self.error((*loc, "max"), f"{who}: max ({q.max}) is lower than min ({q.min})")
