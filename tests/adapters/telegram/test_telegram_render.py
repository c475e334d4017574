"""Rendering: plain text, inline keyboards within 64-byte callback data, reply prompts."""

from __future__ import annotations

from telegram import ForceReply, InlineKeyboardMarkup

from adapters.telegram.parse import parse_update
from adapters.telegram.render import (
    MAX_CALLBACK_BYTES,
    FreeQuestion,
    ReplyPrompt,
    callback_data,
    free_questions,
    render_message,
    resolve,
    toggled_keyboard,
)
from bot.core.effects import Message, MessageKind, OptionView, QuestionView

RUN = "0123456789abcdef"
LONG = "een-heel-erg-lange-optie-die-een-auteur-koos-zonder-te-tellen"


def _form(*questions: QuestionView, closed: bool = False) -> Message:
    return Message(
        MessageKind.form, "Vragen voor het huisbezoek", questions=questions, closed=closed
    )


def _choice(current: str | None = None) -> QuestionView:
    return QuestionView(
        "voorbereiden",
        "zorg",
        "choice",
        "Wat is je grootste zorg?",
        options=(OptionView("loyaliteit", "Loyaliteit"), OptionView(LONG, "Iets anders")),
        optional=True,
        not_applicable=True,
        current=current,
    )


def _multi(current: tuple[str, ...] = ()) -> QuestionView:
    return QuestionView(
        "voorbereiden",
        "themas",
        "multi",
        "Welke thema's?",
        options=(OptionView("rouw", "Rouw"), OptionView("geld", "Geld"), OptionView(LONG, "Lang")),
        current=current,
    )


def _buttons(markup: object) -> list[dict[str, str]]:
    assert isinstance(markup, InlineKeyboardMarkup)
    return [b.to_dict() for row in markup.inline_keyboard for b in row]


def _press(data: str, markup: InlineKeyboardMarkup, tokens: dict[str, str]) -> dict[str, object]:
    update = {
        "update_id": 7,
        "callback_query": {
            "id": "cb1",
            "from": {"id": 42, "is_bot": False, "first_name": "Anna"},
            "chat_instance": "-1",
            "data": data,
            "message": {
                "message_id": 9,
                "date": 1700000000,
                "chat": {"id": 42, "type": "private", "first_name": "Anna"},
                "from": {"id": 1, "is_bot": True, "first_name": "Samen", "username": "SamenBot"},
                "text": "…",
                "reply_markup": markup.to_dict(),
            },
        },
    }
    parsed = parse_update(update, tokens=tokens)
    assert len(parsed.inbounds) == 1
    return parsed.inbounds[0].payload


def test_a_plain_message_is_plain_text_without_markup() -> None:
    text, markup = render_message(Message(MessageKind.say, "  Welkom <b>team</b> & *co*  "))
    assert text == "Welkom <b>team</b> & *co*"  # sent without parse_mode: nothing to escape
    assert markup is None


def test_a_phase_header_carries_the_chair_controls_with_the_process_bell_last() -> None:
    message = Message(
        MessageKind.phase,
        "Fase 2: vragen (10 min)",
        controls=("pause", "extend", "next", "stop", "process"),
    )
    text, markup = render_message(message, language="en")
    data = [b["callback_data"] for b in _buttons(markup)]
    assert data == ["b|pause", "b|extend", "b|next", "b|stop", "b|process"]
    assert isinstance(markup, InlineKeyboardMarkup)
    assert [b.callback_data for b in markup.inline_keyboard[-1]] == ["b|process"]
    assert text.startswith("Fase 2")


def test_every_callback_fits_64_bytes_even_for_long_ids() -> None:
    tokens: dict[str, str] = {}
    _, markup = render_message(_form(_choice(), _multi()), run=RUN, tokens=tokens)
    for button in _buttons(markup):
        assert len(button["callback_data"].encode()) <= MAX_CALLBACK_BYTES
    assert tokens, "the long option id needed a token"
    assert all(len(v.encode()) > MAX_CALLBACK_BYTES for v in tokens.values())


def test_a_token_is_stable_and_resolves_back() -> None:
    tokens: dict[str, str] = {}
    data = "a|" + RUN + "|stap|vraag|" + LONG
    token = callback_data(data, tokens)
    assert token == callback_data(data, {})  # the same data, the same token: no growth
    assert resolve(token, tokens) == data
    assert resolve(token, {}) is None  # an unknown token is no answer


def test_each_choice_button_parses_back_to_its_answer() -> None:
    tokens: dict[str, str] = {}
    _, markup = render_message(_form(_choice()), run=RUN, tokens=tokens)
    assert isinstance(markup, InlineKeyboardMarkup)
    answers = [_press(b["callback_data"], markup, tokens) for b in _buttons(markup)]
    assert answers == [
        {"run": RUN, "step": "voorbereiden", "question": "zorg", "value": v, "answer_kind": k}
        for v, k in [
            ("loyaliteit", "value"),
            (LONG, "value"),
            ("", "skip"),
            ("", "not_applicable"),
        ]
    ]


def test_yes_no_and_scale_buttons_send_their_values() -> None:
    yesno = QuestionView("s", "ok", "yesno", "Akkoord?")
    scale = QuestionView(
        "s", "cijfer", "scale", "Hoe ging het?", min=1, max=5, labels=((1, "slecht"),)
    )
    tokens: dict[str, str] = {}
    _, markup = render_message(_form(yesno, scale), run=RUN, tokens=tokens)
    assert isinstance(markup, InlineKeyboardMarkup)
    values = [_press(b["callback_data"], markup, tokens)["value"] for b in _buttons(markup)]
    assert values == ["yes", "no", "1", "2", "3", "4", "5"]
    labels = [b["text"] for b in _buttons(markup)]
    assert labels[0] == "1. Ja" and labels[2] == "2. 1 · slecht"


def test_multi_toggles_flip_locally_and_klaar_sends_the_chosen_list() -> None:
    tokens: dict[str, str] = {}
    _, markup = render_message(_form(_multi(current=("geld",))), run=RUN, tokens=tokens)
    assert isinstance(markup, InlineKeyboardMarkup)
    texts = [b["text"] for b in _buttons(markup)]
    assert texts[:3] == ["☐ Rouw", "☑ Geld", "☐ Lang"]
    rows = markup.to_dict()["inline_keyboard"]
    # press "Rouw" on and "Lang" (a token) on, then "Geld" off
    for index in (0, 2, 1):
        pressed = rows[index][0]["callback_data"]
        flipped = toggled_keyboard(rows, pressed, tokens)
        assert flipped is not None
        rows = flipped.to_dict()["inline_keyboard"]
    assert [r[0]["text"] for r in rows[:3]] == ["☑ Rouw", "☐ Geld", "☑ Lang"]
    done = rows[3][0]["callback_data"]
    answer = _press(done, InlineKeyboardMarkup.de_json({"inline_keyboard": rows}, None), tokens)
    assert answer["value"] == ["rouw", LONG]
    assert answer["question"] == "themas"


def test_current_answers_are_shown_but_free_text_is_not_echoed() -> None:
    text_q = QuestionView("s", "waarom", "text", "Waarom?", current="geheime toelichting")
    text, _ = render_message(_form(_choice(current="loyaliteit"), text_q), run=RUN)
    assert "✓ 1. Loyaliteit" in text
    assert "geheime toelichting" not in text
    assert "✓ 2. ✎ beantwoord" in text


def test_a_free_question_form_asks_for_a_reply() -> None:
    q = QuestionView("s", "toelichting", "text", "Licht toe", optional=True)
    message = _form(q)
    text, markup = render_message(message, run=RUN)
    assert isinstance(markup, ForceReply)
    assert "reply" in text
    assert free_questions(message, RUN) == ReplyPrompt(
        RUN, (FreeQuestion(1, "s", "toelichting", "text"),)
    )


def test_a_closed_form_has_no_buttons() -> None:
    text, markup = render_message(_form(_choice(current="loyaliteit"), closed=True), run=RUN)
    assert markup is None
    assert "gesloten" in text
    assert free_questions(_form(QuestionView("s", "t", "text", "?"), closed=True), RUN) is None


def test_a_long_text_is_cut_to_telegrams_limit() -> None:
    text, _ = render_message(Message(MessageKind.summary, "x" * 5000))
    assert len(text) == 4096 and text.endswith("…")


def test_a_form_says_how_to_answer_its_typed_questions_and_offers_klaar() -> None:
    free = QuestionView(
        "voorbereiden",
        "meenemen",
        "text",
        "Wat neem je mee?",
        optional=True,
        hint="Antwoord in een paar woorden. Overslaan: typ - (of overslaan).",
    )
    message = Message(MessageKind.form, "Terugblik", questions=(_choice(), free), finish=True)
    text, markup = render_message(message, run=RUN)
    assert "2. Antwoord in een paar woorden. Overslaan: typ - (of overslaan)." in text
    assert "antwoord 'klaar'" in text
    finish = [b for b in _buttons(markup) if b["text"] == "✔ Klaar"]
    assert finish == [{"text": "✔ Klaar", "callback_data": f"f|{RUN}|voorbereiden"}]
    english, _ = render_message(message, run=RUN, language="en")
    assert "reply 'done'" in english
    closed = Message(MessageKind.form, "T", questions=(free,), closed=True, finish=True)
    assert render_message(closed, run=RUN)[1] is None
    prompt = free_questions(message, RUN)
    assert prompt is not None and prompt.numbered
