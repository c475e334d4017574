"""Block Kit rendering: every element routes back to its run, within Slack's limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.slack.parse import parse_block_actions, parse_modal_request
from adapters.slack.render import (
    MAX_ACTION_ID,
    MAX_VALUE,
    render_message,
    render_modal,
)
from bot.core.effects import Message, MessageKind, OptionView, QuestionView

RUN = "0123456789abcdef"


def q(type_: str, id_: str = "q1", **kw: Any) -> QuestionView:
    return QuestionView(step="vooraf", id=id_, type=type_, text=f"Vraag {id_}?", **kw)


def form(*questions: QuestionView, closed: bool = False) -> Message:
    return Message(MessageKind.form, "Graag je antwoorden", questions=questions, closed=closed)


def elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def click(element: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A block_actions payload as Slack sends it for a click on `element`."""
    action = {"action_id": element["action_id"], "type": element["type"], **extra}
    if "value" in element:
        action["value"] = element["value"]
    return {
        "type": "block_actions",
        "trigger_id": "111.222.abc",
        "user": {"id": "U1", "username": "anna", "name": "anna"},
        "channel": {"id": "D1"},
        "actions": [action],
    }


def assert_within_limits(blocks: list[dict[str, Any]]) -> None:
    for element in elements(blocks):
        assert len(element["action_id"]) <= MAX_ACTION_ID
        assert len(element.get("value", "")) <= MAX_VALUE
    action_ids = [[e["action_id"] for e in b["elements"]] for b in blocks if b["type"] == "actions"]
    for ids in action_ids:
        assert len(ids) == len(set(ids)), "action_ids must be unique within a block"


def test_a_choice_question_gives_buttons_whose_clicks_parse_back_to_the_same_answer() -> None:
    options = (OptionView("loyaliteit", "Loyaliteit"), OptionView("overzorg", "Overzorg"))
    blocks, text = render_message(form(q("choice", options=options)), run=RUN)
    buttons = elements(blocks)
    assert [b["text"]["text"] for b in buttons] == ["Loyaliteit", "Overzorg"]
    assert text == "Graag je antwoorden"
    assert_within_limits(blocks)
    for button, option in zip(buttons, options, strict=True):
        (inbound,) = parse_block_actions(click(button))
        assert inbound.kind == "answer"
        assert inbound.payload == {
            "run": RUN,
            "step": "vooraf",
            "question": "q1",
            "value": option.id,
            "answer_kind": "value",
        }


def test_a_choice_with_more_than_five_options_is_a_static_select() -> None:
    options = tuple(OptionView(f"o{i}", f"Optie {i}") for i in range(7))
    blocks, _ = render_message(form(q("choice", options=options)), run=RUN)
    (select,) = elements(blocks)
    assert select["type"] == "static_select"
    assert len(select["options"]) == 7
    picked = click(select, selected_option=select["options"][3])
    assert parse_block_actions(picked)[0].payload["value"] == "o3"


def test_yesno_gives_two_buttons_and_scale_one_per_point() -> None:
    blocks, _ = render_message(form(q("yesno")), run=RUN, language="nl")
    assert [(b["text"]["text"], b["value"]) for b in elements(blocks)] == [
        ("Ja", "yes"),
        ("Nee", "no"),
    ]
    scale = q("scale", min=1, max=5, labels=((1, "slecht"), (5, "goed")))
    blocks, _ = render_message(form(scale), run=RUN)
    buttons = elements(blocks)
    assert [b["value"] for b in buttons] == ["1", "2", "3", "4", "5"]
    assert buttons[0]["text"]["text"] == "1 · slecht"
    assert parse_block_actions(click(buttons[3]))[0].payload["value"] == "4"


def test_multi_and_people_are_multi_selects_answered_with_lists() -> None:
    options = (OptionView("a", "A"), OptionView("b", "B"))
    blocks, _ = render_message(form(q("multi", options=options), q("people", "q2")), run=RUN)
    multi, people = elements(blocks)
    assert multi["type"] == "multi_static_select"
    assert people["type"] == "multi_users_select"
    chosen = click(multi, selected_options=multi["options"])
    assert parse_block_actions(chosen)[0].payload["value"] == ["a", "b"]
    users = click(people, selected_users=["U2", "U3"])
    payload = parse_block_actions(users)[0].payload
    assert payload["question"] == "q2"
    assert payload["value"] == ["U2", "U3"]


def test_text_date_and_number_open_one_modal_with_an_input_each() -> None:
    message = form(q("text"), q("date", "q2"), q("number", "q3", optional=True))
    blocks, _ = render_message(message, run=RUN)
    skip, open_modal = elements(blocks)
    assert skip["action_id"].startswith("s|")
    assert open_modal["action_id"] == f"m|{RUN}|vooraf|nl"
    request = parse_modal_request(click(open_modal) | {"channel": {"id": "D9"}})
    assert request is not None
    view = render_modal(request.run, request.step, request.channel, request.spec)
    assert view["private_metadata"] == f"{RUN}|vooraf|D9|nl"
    kinds = [b["element"]["type"] for b in view["blocks"]]
    assert kinds == ["plain_text_input", "datepicker", "number_input"]
    assert [b["optional"] for b in view["blocks"]] == [False, False, True]
    assert len(view["title"]["text"]) <= 24


def test_skip_and_not_applicable_buttons_parse_to_their_kinds() -> None:
    blocks, _ = render_message(form(q("yesno", optional=True, not_applicable=True)), run=RUN)
    *_, skip, nvt = elements(blocks)
    assert parse_block_actions(click(skip))[0].payload["answer_kind"] == "skip"
    assert parse_block_actions(click(nvt))[0].payload["answer_kind"] == "not_applicable"


def test_the_current_answer_is_shown_with_its_label_and_free_text_is_not_echoed() -> None:
    options = (OptionView("loyaliteit", "Loyaliteit"), OptionView("overzorg", "Overzorg"))
    message = form(
        q("choice", options=options, current="overzorg"),
        q("text", "q2", current="GEHEIME_TEKST"),
    )
    blocks, _ = render_message(message, run=RUN)
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "✓ Overzorg" in shown
    assert "GEHEIME_TEKST" not in shown
    chosen = [
        b for b in elements(blocks) if b.get("style") == "primary" and b["value"] == "overzorg"
    ]
    assert chosen, "the chosen option is highlighted"


def test_a_closed_form_has_no_actions_but_keeps_the_answers() -> None:
    message = form(q("yesno", current="yes"), closed=True)
    blocks, _ = render_message(message, run=RUN)
    assert elements(blocks) == []
    assert "✓ Ja" in json.dumps(blocks, ensure_ascii=False)


def test_phase_header_has_chair_controls_and_the_process_bell_last() -> None:
    message = Message(
        MessageKind.phase,
        "⏱ Ronde 1 — 10 minuten, tot 14:10\nIedereen vertelt kort.",
        controls=("process", "pause", "extend", "next", "stop"),
    )
    blocks, _ = render_message(message)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"].startswith("⏱ Ronde 1")
    buttons = elements(blocks)
    assert [b["value"] for b in buttons] == ["pauze", "+5", "volgende", "stop", "proces"]
    assert "confirm" in buttons[3]
    for button in buttons:
        (inbound,) = parse_block_actions(click(button) | {"channel": {"id": "C1"}})
        assert inbound.kind == "command"
        assert inbound.channel == "C1"
        assert inbound.payload == {"command": "bel", "args": button["value"]}


@pytest.mark.parametrize("kind", [MessageKind.say, MessageKind.bell, MessageKind.summary])
def test_plain_messages_escape_mrkdwn_and_split_long_text(kind: MessageKind) -> None:
    text = "a < b & c > d\n" + ("x" * 2990 + "\n") * 3
    blocks, fallback = render_message(Message(kind, text))
    assert blocks[0]["text"]["text"].startswith("a &lt; b &amp; c &gt; d")
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert len(blocks) >= 3
    assert len(fallback) <= 3000


def test_ids_too_long_for_slack_are_refused_rather_than_cut() -> None:
    with pytest.raises(ValueError, match="action_id"):
        render_message(form(q("yesno", id_="x" * 300)), run=RUN)


def test_a_form_with_optional_questions_offers_klaar_which_parses_to_done() -> None:
    message = Message(
        MessageKind.form,
        "Terugblik",
        questions=(q("scale", min=1, max=5), q("text", "q2", optional=True)),
        finish=True,
    )
    blocks, _ = render_message(message, run=RUN)
    assert_within_limits(blocks)
    finish = elements(blocks)[-1]
    assert finish["text"]["text"] == "✔ Klaar (de rest overslaan)"
    (inbound,) = parse_block_actions(click(finish))
    assert inbound.payload["answer_kind"] == "done" and inbound.payload["step"] == "vooraf"
    english, _ = render_message(message, run=RUN, language="en")
    assert elements(english)[-1]["text"]["text"] == "✔ Done (skip the rest)"
    closed = Message(MessageKind.form, "T", questions=message.questions, closed=True, finish=True)
    assert elements(render_message(closed, run=RUN)[0]) == []
