"""`/samen open`'s list, pure: per open form the numbers still to answer, required first."""

from __future__ import annotations

from bot.core.events import AnswerKind
from bot.core.open_list import OpenForm, describe_open, open_form
from tests.core.test_engine import Driver, make_flow, q

FORM = make_flow(
    {
        "id": "prep",
        "collect": {
            "deadline": "1d",
            "questions": [
                q("a", optional=True),
                q("b"),
                q("c", "scale"),
                q("d", optional=True),
            ],
        },
    },
    {"id": "samen", "summary": {"to": "thread"}},
)


def test_a_form_lists_its_unanswered_numbers_required_first() -> None:
    d = Driver.start(FORM)
    assert open_form(FORM, d.run, "anna") == OpenForm(
        "Overleg", (2, 3), (1, 4), d.run.state.closes_at if d.run.state else None
    )
    d.answer("anna", "prep", "c", "4")
    d.answer("anna", "prep", "a", "-")  # skipped counts as answered
    found = open_form(FORM, d.run, "anna")
    assert found is not None and (found.required, found.optional) == ((2,), (4,))
    text = describe_open([found], "Europe/Amsterdam", "nl")
    assert text.splitlines()[1].startswith("• Overleg: vraag 2; mag je overslaan: 4 (sluit ")


def test_a_required_question_left_is_never_reported_as_nothing_open() -> None:
    """Issue 20: `/samen open` said "no open questions" while a required one was open."""
    d = Driver.start(FORM)
    d.answer("bram", "prep", "a", "iets")  # an answer given, a required one still open
    found = open_form(FORM, d.run, "bram")
    assert found is not None and found.required == (2, 3)


def test_nothing_is_open_once_everything_is_answered_or_klaar_is_said() -> None:
    d = Driver.start(FORM)
    d.answer("anna", "prep", "b", "x")
    d.answer("anna", "prep", "c", "3")
    d.answer("anna", "prep", "", "", AnswerKind.done)
    assert open_form(FORM, d.run, "anna") is None
    assert open_form(FORM, d.run, "nobody") is None
    assert describe_open([], "Europe/Amsterdam", "nl") == "Je hebt geen openstaande vragen."
    assert describe_open([], "Europe/Amsterdam", "en") == "You have no open questions."
    assert describe_open([], "Europe/Amsterdam", "nl", "u") == "U hebt geen openstaande vragen."


def test_the_list_reads_well_in_english_with_several_numbers() -> None:
    form = OpenForm("Looking back", (1, 2), (3,))
    assert describe_open([form], "Europe/Amsterdam", "en") == (
        "Your open questions (the numbers in the form):\n"
        "• Looking back: questions 1 and 2; optional: 3"
    )
