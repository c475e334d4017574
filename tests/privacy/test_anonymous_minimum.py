"""An anonymous question shows its answers only when enough people answered (R-PRV-3):
at least 3, or more when the flow asks. With fewer, a value points to its author (in a
pair, each knows the other's answer), so the summary and the end of a round say there
were too few answers instead, and leave the spread of values out too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.core.effects import MessageKind
from bot.core.events import Team
from bot.core.loader import check_flow
from bot.core.model import ANONYMOUS_MIN
from tests.core.test_engine import THREAD, Driver, make_flow, person, q


def _flow(**extra: Any) -> Any:
    return make_flow(
        {
            "id": "terug",
            "collect": {
                "to": ["member"],
                "deadline": "1d",
                "questions": [
                    q("anoniem", anonymous=True, **extra),
                    q("cijfer", "scale", min=1, max=5, anonymous=True, **extra),
                ],
            },
        },
        {"id": "overzicht", "summary": {"to": "thread", "show": ["answers", "divergence"]}},
    )


def _summary(team: Team, answers: dict[str, tuple[str, str]], **extra: Any) -> str:
    d = Driver.start(_flow(**extra), team=team, by="anna")
    for who, (word, score) in answers.items():
        d.answer(who, "terug", "anoniem", word)
        d.answer(who, "terug", "cijfer", score)
    d.wait(timedelta(days=1, minutes=1))
    return d.sent(MessageKind.summary, THREAD)[0].message.text


PAIR = Team(members=(person("anna", "chair"), person("bram")))
FOUR = Team(members=(person("anna", "chair"), person("bram"), person("cor"), person("dirk")))


def test_the_minimum_is_three() -> None:
    assert ANONYMOUS_MIN == 3


def test_in_a_pair_an_anonymous_question_shows_no_value_and_no_spread() -> None:
    text = _summary(PAIR, {"anna": ("zonsondergang", "2"), "bram": ("appelboom", "5")})
    assert "zonsondergang" not in text and "appelboom" not in text
    assert "Verschillend" not in text and "(1)" not in text
    assert "te weinig antwoorden om anoniem te tonen (dat kan vanaf 3)" in text


def test_three_answers_are_shown_without_names() -> None:
    text = _summary(FOUR, {"anna": ("zon", "2"), "bram": ("appel", "5"), "cor": ("maan", "4")})
    assert "• appel\n• maan\n• zon" in text
    assert "te weinig" not in text


def test_a_flow_may_ask_for_more_and_then_three_are_too_few() -> None:
    text = _summary(
        FOUR,
        {"anna": ("zon", "2"), "bram": ("appel", "5"), "cor": ("maan", "4")},
        anonymous_min=4,
    )
    assert "appel" not in text and "vanaf 4" in text


def test_a_flow_may_not_ask_for_fewer() -> None:
    text = """\
id: klein
title: {nl: Klein, en: Small}
languages: [nl, en]
steps:
  - id: terug
    ask:
      to: [member]
      question:
        id: a
        type: text
        anonymous: true
        anonymous_min: 2
        text: {nl: "Vraag?", en: "Question?"}
"""
    _flow_read, problems = check_flow(text, "flows/klein.yaml")
    errors = [p for p in problems if p.severity == "error"]
    assert errors, problems
    assert any("anonymous_min" in str(p) and "3" in str(p) for p in errors), errors


@pytest.mark.parametrize("count,shown", [(2, False), (3, True)])
def test_an_anonymous_round_posts_its_answers_only_from_three(count: int, shown: bool) -> None:
    team = Team(members=tuple(person(n) for n in ("anna", "bram", "cor")[:count]))
    flow = make_flow({"id": "rondje", "round": {"question": q("r", anonymous=True)}})
    d = Driver.start(flow, team=team)
    words = ("zon", "appel", "maan")
    effects: Any = ()
    for who, word in zip(("anna", "bram", "cor")[:count], words, strict=False):
        effects = d.answer(who, "rondje", "r", word)
    [post] = d.sent(MessageKind.say, effects=effects)
    assert ("appel" in post.message.text) is shown
    if not shown:
        assert "te weinig antwoorden" in post.message.text
