"""The console's forms: each says how to answer, keeps its own numbers while it is open,
and has a letter; `/a` goes to the newest form unless the letter names another."""

from __future__ import annotations

from dataclasses import replace

from adapters.console import ConsoleAdapter
from bot.core.effects import Message, MessageKind, OptionView, QuestionView
from bot.core.hints import how_to_answer
from bot.runtime.delivery import Delivery


def _view(step: str, qid: str, kind: str = "text", **extra: object) -> QuestionView:
    view = QuestionView(step, qid, kind, f"Vraag {qid}?", **extra)  # type: ignore[arg-type]
    return replace(view, hint=how_to_answer(view, "nl"))


CHECK = (
    _view("check", "wat", optional=True),
    _view(
        "check",
        "nodig",
        "choice",
        options=(OptionView("verder", "Verder"), OptionView("uitspreken", "Eerst uitspreken")),
    ),
)
PREP = (
    _view("prep", "hoe"),
    _view("prep", "cijfer", "scale", min=1, max=5, labels=((1, "Onrustig"), (5, "Rustig"))),
    _view("prep", "extra", optional=True),
)


async def _send(
    console: ConsoleAdapter,
    n: int,
    run: str,
    questions: tuple[QuestionView, ...],
    op: str = "send",
    closed: bool = False,
) -> None:
    message = Message(
        MessageKind.form, "Formulier", questions=questions, closed=closed, finish=True
    )
    await console.deliver(
        Delivery(n, op, "dm:anna", message, run=run, ref=f"m-{run}" if op == "edit" else None)
    )


def _routed(console: ConsoleAdapter, line: str) -> tuple[str, str, str, str, str]:
    inbound = console.parse(line)
    assert inbound is not None, line
    p = inbound.payload
    return p["run"], p["step"], p["question"], p["value"], p["answer_kind"]


async def test_a_form_says_how_to_answer_each_question() -> None:
    printed: list[str] = []
    console = ConsoleAdapter(out=printed.append, user="anna")
    await _send(console, 1, "r1", PREP)
    shown = "\n".join(printed)
    assert "↳ Antwoorden: /a <nummer> <antwoord>" in shown
    assert "2. Antwoord met een getal van 1 (Onrustig) tot 5 (Rustig)." in shown
    assert "3. Antwoord in een paar woorden. Overslaan: typ - (of overslaan)." in shown
    assert "Typ /a klaar." in shown
    assert "<1-3>" not in shown


async def test_numbers_stay_with_their_form_and_a_answers_the_newest_unless_named() -> None:
    printed: list[str] = []
    console = ConsoleAdapter(out=printed.append, user="anna")
    await _send(console, 1, "r1", PREP)  # form A
    await _send(console, 2, "r2", CHECK)  # form B: its own 1 and 2, not 4 and 5
    said = printed[-1]
    assert "Dit is formulier B; ook A staat nog open." in said and "/a A1" in said
    assert "1. Antwoord in een paar woorden. Overslaan" in said
    assert "2. Kies één: 1 = Verder, 2 = Eerst uitspreken" in said
    assert _routed(console, "/a 2 2") == ("r2", "check", "nodig", "2", "value")
    assert _routed(console, "/a A2 4") == ("r1", "prep", "cijfer", "4", "value")
    assert _routed(console, "/a a 3 -") == ("r1", "prep", "extra", "-", "value")
    assert _routed(console, "/a A klaar") == ("r1", "prep", "", "", "done")
    assert _routed(console, "/a klaar") == ("r2", "check", "", "", "done")
    # Form A closes: B keeps its letter and its numbers.
    await _send(console, 3, "r1", PREP, op="edit", closed=True)
    assert _routed(console, "/a 1 We praten langs elkaar heen") == (
        "r2",
        "check",
        "wat",
        "We praten langs elkaar heen",
        "value",
    )
    assert console.parse("/a 3 ja") is None  # B has two questions
    assert (
        printed[-1]
        == "[alleen voor anna] Geef het nummer van een vraag uit formulier B (1 tot 2), "
        "bijvoorbeeld /a 1 ja."
    )
    assert console.parse("/a A1 ja") is None
    assert printed[-1] == "[alleen voor anna] Formulier A staat niet open; open: B."
    # A new form takes the first free letter.
    await _send(console, 4, "r3", PREP)
    assert "Dit is formulier A; ook B staat nog open." in printed[-1]


async def test_an_english_team_reads_the_consoles_words_in_english() -> None:
    printed: list[str] = []
    console = ConsoleAdapter(out=printed.append, user="anna")
    message = Message(MessageKind.form, "Form", questions=PREP)
    await console.deliver(Delivery(1, "send", "dm:anna", message, run="r1", language="en"))
    await console.deliver(
        Delivery(2, "edit", "dm:anna", message, run="r1", ref="m1", language="en")
    )
    shown = "\n".join(printed)
    assert "↳ To answer: /a <number> <answer>" in shown and "(edited)" in shown
    assert "bewerkt" not in shown and "antwoord>" not in shown
