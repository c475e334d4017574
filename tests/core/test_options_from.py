"""Choices built from earlier answers: the chair picks one of the titles the team just
submitted (`options_from`), shown with who submitted them unless that question is
anonymous."""

from __future__ import annotations

from typing import Any

from bot.core.effects import Destination, MessageKind
from bot.core.loader import check_flow
from bot.core.run import RunStatus
from tests.core.test_engine import THREAD, Driver, make_flow, q


def flow(anonymous: bool = False) -> Any:
    return make_flow(
        {
            "id": "titels",
            "collect": {
                "deadline": "1d",
                "questions": [q("titel", anonymous=anonymous)],
            },
        },
        {
            "id": "kies",
            "ask": {"to": "chair", "question": q("casus", "choice", options_from="titels.titel")},
        },
        {"id": "gekozen", "summary": {"of": ["kies"]}},
    )


def chooser_form(d: Driver) -> Any:
    return next(f for f in d.sent(MessageKind.form) if f.key.startswith("form:kies"))


def submit(d: Driver) -> None:
    d.answer("anna", "titels", "titel", "Vastgelopen overdracht")
    d.answer("bram", "titels", "titel", "Een boze vader")
    d.answer("cor", "titels", "titel", "Wachtlijst")


def test_the_chair_chooses_among_the_submitted_titles_with_who_submitted_them() -> None:
    d = Driver.start(flow())
    submit(d)
    form = chooser_form(d)
    (view,) = form.message.questions
    assert [(o.id, o.label) for o in view.options] == [
        ("anna", "Vastgelopen overdracht (Anna)"),
        ("bram", "Een boze vader (Bram)"),
        ("cor", "Wachtlijst (Cor)"),
    ]
    d.answer("anna", "kies", "casus", "bram")
    assert d.run.status == RunStatus.done
    summary = d.sent(MessageKind.summary, THREAD)[0].message.text
    assert "Een boze vader (Bram)" in summary


def test_a_title_that_is_not_among_them_is_refused() -> None:
    d = Driver.start(flow())
    submit(d)
    d.answer("anna", "kies", "casus", "dirk")
    assert d.run.step == "kies"


def test_anonymous_titles_are_offered_without_names() -> None:
    d = Driver.start(flow(anonymous=True))
    submit(d)
    form = chooser_form(d)
    (view,) = form.message.questions
    assert [o.label for o in view.options] == [
        "Een boze vader",
        "Vastgelopen overdracht",
        "Wachtlijst",
    ]
    assert all(o.id not in ("anna", "bram", "cor") for o in view.options)


def test_forms_of_one_run_never_show_in_another() -> None:
    first = Driver.start(flow())
    submit(first)
    second = Driver.start(first.flow)
    second.answer("anna", "titels", "titel", "Iets anders")
    second.answer("bram", "titels", "titel", "Nog iets")
    second.answer("cor", "titels", "titel", "Derde")
    form = chooser_form(second)
    assert "Wachtlijst" not in str(form.message)


FLOW = """\
id: x
title: T
steps:
  - id: titels
    collect:
      deadline: 1d
      questions: [{id: titel, type: text, text: Titel}]
  - id: kies
    ask:
      question: {id: casus, type: choice, text: Welke, options_from: titels.titel}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in check_flow(text, "flows/x.yaml")[1]]


def test_a_correct_options_from_passes() -> None:
    assert problems(FLOW) == []


def test_options_from_a_question_that_does_not_exist_suggests_the_nearest() -> None:
    (error,) = problems(FLOW.replace("options_from: titels.titel", "options_from: titels.tittel"))
    assert error.startswith("flows/x.yaml:10:")
    assert "did you mean 'titels.titel'" in error


def test_options_from_private_answers_is_an_error() -> None:
    text = FLOW.replace("type: text, text: Titel", "type: text, text: Titel, visibility: private")
    (error,) = problems(text)
    assert "give that question 'visibility: team'" in error


def test_options_from_a_later_question_is_an_error() -> None:
    moved = (
        "id: x\ntitle: T\nsteps:\n"
        "  - id: kies\n    ask:\n      question: {id: casus, type: choice, text: Welke, "
        "options_from: titels.titel}\n"
        "  - id: titels\n    collect:\n      deadline: 1d\n"
        "      questions: [{id: titel, type: text, text: Titel}]\n"
    )
    (error,) = problems(moved)
    assert "is not asked before this step" in error


def test_options_from_with_fixed_options_or_on_a_text_question_is_an_error() -> None:
    text = FLOW.replace(
        "options_from: titels.titel}", "options_from: titels.titel, options: [{id: a, text: A}]}"
    )
    assert any("remove 'options'" in e for e in problems(text))
    text = FLOW.replace("type: choice, text: Welke", "type: text, text: Welke")
    assert any("options_from gives a choice or multi" in e for e in problems(text))


def test_choosing_a_title_can_make_its_author_the_presenter() -> None:
    chosen = make_flow(
        {"id": "titels", "collect": {"deadline": "1d", "questions": [q("titel")]}},
        {
            "id": "kies",
            "ask": {
                "to": "chair",
                "question": q(
                    "casus", "choice", options_from="titels.titel", gives_role="presenter"
                ),
            },
        },
        {"id": "jij", "say": {"to": "presenter", "text": {"nl": "Jouw casus", "en": "Yours"}}},
        roles=["chair", "presenter"],
    )
    d = Driver.start(chosen)
    submit(d)
    d.answer("anna", "kies", "casus", "bram")
    (said,) = d.sent(MessageKind.say)
    assert said.to == Destination.person("bram")


def test_a_role_from_an_anonymous_choice_is_an_error() -> None:
    text = (
        FLOW.replace(
            "{id: titel, type: text, text: Titel}",
            "{id: titel, type: text, text: Titel, anonymous: true}",
        )
        .replace(
            "options_from: titels.titel}", "options_from: titels.titel, gives_role: presenter}"
        )
        .replace("title: T\n", "title: T\nroles: [presenter]\n")
    )
    (error,) = problems(text)
    assert "can give a role" in error
    assert problems(text.replace(", anonymous: true", "")) == []
