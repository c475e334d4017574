"""Parsing: real Bot API update shapes -> Inbound events keyed on update_id."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.telegram.parse import parse_update, prompt_key
from adapters.telegram.render import FreeQuestion, ReplyPrompt

GROUP = {"id": -1001234567890, "title": "Wijkteam Noord", "type": "supergroup"}
ANNA = {"id": 42, "is_bot": False, "first_name": "Anna", "language_code": "nl"}
SAMEN = {"id": 1, "is_bot": True, "first_name": "Samen", "username": "SamenBot"}
RUN = "0123456789abcdef"


def _message(
    text: str,
    chat: dict[str, Any] = GROUP,
    sender: dict[str, Any] = ANNA,
    update_id: int = 100,
    **extra: Any,
) -> dict[str, Any]:
    message = {"message_id": 5, "from": sender, "chat": chat, "date": 1700000000, "text": text}
    if text.startswith("/"):
        length = len(text.split()[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    message.update(extra)
    return {"update_id": update_id, "message": message}


def _private() -> dict[str, Any]:
    return {"id": 42, "first_name": "Anna", "type": "private"}


def test_samen_in_a_group_is_a_command_for_the_group() -> None:
    (inbound,) = parse_update(_message("/samen start intervisie")).inbounds
    assert inbound.kind == "command"
    assert inbound.key == "100"
    assert inbound.channel == "-1001234567890"
    assert inbound.user == "42" and inbound.user_name == "Anna"
    assert inbound.payload == {
        "command": "samen",
        "args": "start intervisie",
        "channel_name": "Wijkteam Noord",
    }


def test_a_command_addressed_to_us_by_name_counts_and_one_for_another_bot_does_not() -> None:
    ours = parse_update(_message("/bel@SamenBot +5"), bot_username="samenbot").inbounds
    assert ours[0].payload["command"] == "bel" and ours[0].payload["args"] == "+5"
    other = parse_update(_message("/bel@OtherBot +5"), bot_username="SamenBot").inbounds
    assert other == ()


def test_the_same_update_twice_gives_the_same_key() -> None:
    """R-ING-4: the inbox absorbs the second copy by its key."""
    first = parse_update(_message("/bel pauze", update_id=555)).inbounds[0]
    second = parse_update(_message("/bel pauze", update_id=555)).inbounds[0]
    assert first.key == second.key == "555"


def test_messages_from_bots_and_plain_talk_give_nothing() -> None:
    """R-ING-8."""
    assert parse_update(_message("/samen start", sender=SAMEN)).inbounds == ()
    assert parse_update(_message("goedemorgen allemaal")).inbounds == ()
    assert parse_update({"update_id": 3, "edited_message": {}}).inbounds == ()
    assert parse_update({"no": "id"}).inbounds == ()


def test_start_with_a_token_in_a_private_chat_is_a_join_by_deep_link() -> None:
    parsed = parse_update(_message("/start abc_123", chat=_private()))
    (inbound,) = parsed.inbounds
    assert inbound.kind == "joined"
    assert inbound.channel == "dm:42"
    assert inbound.payload == {"start": "abc_123"}
    assert parsed.private_user == "42"


def test_people_joining_and_leaving_a_group() -> None:
    bea = {"id": 43, "is_bot": False, "first_name": "Bea"}
    joined = parse_update(
        {
            "update_id": 200,
            "message": {
                "message_id": 6,
                "date": 1700000000,
                "chat": GROUP,
                "from": ANNA,
                "new_chat_members": [ANNA, SAMEN, bea],
            },
        }
    ).inbounds
    assert [(i.kind, i.user, i.key) for i in joined] == [
        ("joined", "42", "200"),
        ("joined", "43", "200:43"),
    ]
    left = parse_update(
        {
            "update_id": 201,
            "message": {
                "message_id": 7,
                "date": 1700000000,
                "chat": GROUP,
                "from": bea,
                "left_chat_member": bea,
            },
        }
    ).inbounds
    assert [(i.kind, i.user, i.channel) for i in left] == [("left", "43", "-1001234567890")]


def _press(data: str, chat: dict[str, Any] = GROUP) -> dict[str, Any]:
    return {
        "update_id": 300,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": ANNA,
            "chat_instance": "-8412",
            "data": data,
            "message": {
                "message_id": 11,
                "from": SAMEN,
                "chat": chat,
                "date": 1700000000,
                "text": "Fase 2",
            },
        },
    }


def test_a_bell_control_press_is_a_bel_command() -> None:
    parsed = parse_update(_press("b|pause"))
    (inbound,) = parsed.inbounds
    assert inbound.kind == "command"
    assert inbound.payload["command"] == "bel" and inbound.payload["args"] == "pauze"
    assert inbound.channel == "-1001234567890"
    assert parsed.callback_id == "4382bfdwdsb323b2d9"
    ring = parse_update(_press("b|ring")).inbounds[0]
    assert ring.payload["args"] == ""


def test_an_answer_press_in_a_private_chat() -> None:
    parsed = parse_update(_press(f"a|{RUN}|stap|vraag|ja", chat=_private()))
    (inbound,) = parsed.inbounds
    assert inbound.kind == "answer" and inbound.channel == "dm:42" and inbound.key == "300"
    assert inbound.payload == {
        "run": RUN,
        "step": "stap",
        "question": "vraag",
        "value": "ja",
        "answer_kind": "value",
    }
    assert parsed.private_user == "42"


def test_unknown_and_forged_presses_give_nothing_but_are_still_answered() -> None:
    for data in ("k|unknowntoken", "x|1", "a|too|short", "b|selfdestruct"):
        parsed = parse_update(_press(data))
        assert parsed.inbounds == ()
        assert parsed.callback_id is not None  # the spinner still stops


def test_a_reply_to_a_form_answers_its_free_question() -> None:
    prompt = ReplyPrompt(RUN, (FreeQuestion(1, "stap", "toelichting", "text"),))
    prompts = {prompt_key(42, 9): prompt}
    reply = _message(
        "Het ging goed",
        chat=_private(),
        reply_to_message={
            "message_id": 9,
            "from": SAMEN,
            "chat": _private(),
            "date": 1,
            "text": "?",
        },
    )
    (inbound,) = parse_update(reply, prompts=prompts).inbounds
    assert inbound.kind == "answer"
    assert inbound.payload["value"] == "Het ging goed"
    assert inbound.payload["answer_kind"] == "value"
    skip = dict(reply, message={**reply["message"], "text": " - "})
    assert parse_update(skip, prompts=prompts).inbounds[0].payload["answer_kind"] == "skip"
    nvt = dict(reply, message={**reply["message"], "text": "n.v.t."})
    assert parse_update(nvt, prompts=prompts).inbounds[0].payload["answer_kind"] == (
        "not_applicable"
    )
    assert parse_update(reply, prompts={}).inbounds == ()  # not a reply to one of our forms


def test_with_several_free_questions_a_reply_names_its_number() -> None:
    prompt = ReplyPrompt(
        RUN,
        (FreeQuestion(2, "stap", "wat", "text"), FreeQuestion(3, "stap", "wanneer", "date")),
    )
    prompts = {prompt_key(-1001234567890, 9): prompt}
    base = _message("3 2026-11-24", reply_to_message={"message_id": 9, "chat": GROUP, "date": 1})
    (inbound,) = parse_update(base, prompts=prompts).inbounds
    assert inbound.payload["question"] == "wanneer" and inbound.payload["value"] == "2026-11-24"
    unnumbered = dict(base, message={**base["message"], "text": "zonder nummer"})
    assert parse_update(unnumbered, prompts=prompts).inbounds == ()


def _bot_status(before: str, after: str, chat: dict[str, Any] = GROUP) -> dict[str, Any]:
    me = {"id": 9, "is_bot": True, "first_name": "Samen"}
    return {
        "update_id": 80,
        "my_chat_member": {
            "chat": chat,
            "from": {"id": 42, "is_bot": False, "first_name": "Anna"},
            "date": 1,
            "old_chat_member": {"status": before, "user": me},
            "new_chat_member": {"status": after, "user": me},
        },
    }


def test_the_bot_added_to_or_removed_from_a_group() -> None:
    (added,) = parse_update(_bot_status("left", "member")).inbounds
    assert (added.kind, added.channel, added.user, added.key) == (
        "bot_added",
        "-1001234567890",
        "42",
        "80",
    )
    assert added.payload == {"channel_name": "Wijkteam Noord"}
    (removed,) = parse_update(_bot_status("administrator", "kicked")).inbounds
    assert removed.kind == "bot_removed"
    # Promoted to admin, or a private chat: nothing for Samen.
    assert parse_update(_bot_status("member", "administrator")).inbounds == ()
    private = {"id": 42, "type": "private", "first_name": "Anna"}
    assert parse_update(_bot_status("left", "member", private)).inbounds == ()


def test_a_group_upgraded_to_a_supergroup_moves_its_channel() -> None:
    update = {
        "update_id": 81,
        "message": {
            "message_id": 5,
            "from": {"id": 42, "is_bot": False, "first_name": "Anna"},
            "chat": {"id": -4001, "type": "group", "title": "Wijkteam"},
            "date": 1,
            "migrate_to_chat_id": -1004001,
        },
    }
    (moved,) = parse_update(update).inbounds
    assert (moved.kind, moved.channel, moved.payload) == ("migrated", "-4001", {"to": "-1004001"})


def _reply_to_form(text: str) -> dict[str, Any]:
    return _message(
        text,
        chat=_private(),
        reply_to_message={"message_id": 9, "from": SAMEN, "chat": _private(), "date": 1},
    )


def test_a_leading_number_is_a_question_number_only_where_the_form_numbers_them() -> None:
    alone = ReplyPrompt(RUN, (FreeQuestion(1, "check", "wat", "text"),))
    (inbound,) = parse_update(
        _reply_to_form("1 we praten langs elkaar heen"), prompts={prompt_key(42, 9): alone}
    ).inbounds
    assert inbound.payload["value"] == "1 we praten langs elkaar heen"  # a one-question form
    # A form of two questions (a choice with buttons and a free one, number 1) says "start
    # with the number": the number is not part of the answer.
    numbered = ReplyPrompt(RUN, (FreeQuestion(1, "check", "wat", "text"),), numbered=True)
    prompts = {prompt_key(42, 9): numbered}
    (inbound,) = parse_update(
        _reply_to_form("1 we praten langs elkaar heen"), prompts=prompts
    ).inbounds
    assert inbound.payload["value"] == "we praten langs elkaar heen"
    (inbound,) = parse_update(_reply_to_form("we praten"), prompts=prompts).inbounds
    assert inbound.payload["value"] == "we praten"  # its only free question: no number needed


@pytest.mark.parametrize("typed", ["klaar", "Klaar.", "done"])
def test_klaar_as_a_reply_or_a_press_finishes_the_form(typed: str) -> None:
    prompt = ReplyPrompt(RUN, (FreeQuestion(3, "terugblik", "meenemen", "text"),), True)
    (inbound,) = parse_update(_reply_to_form(typed), prompts={prompt_key(42, 9): prompt}).inbounds
    assert inbound.payload == {
        "run": RUN,
        "step": "terugblik",
        "question": "",
        "value": "",
        "answer_kind": "done",
    }
    (pressed,) = parse_update(_press(f"f|{RUN}|terugblik")).inbounds
    assert pressed.payload["answer_kind"] == "done" and pressed.payload["step"] == "terugblik"


@pytest.mark.parametrize("typed", ["overslaan", "skip", "-"])
def test_every_skip_word_skips(typed: str) -> None:
    prompt = ReplyPrompt(RUN, (FreeQuestion(1, "stap", "toelichting", "text"),))
    (inbound,) = parse_update(_reply_to_form(typed), prompts={prompt_key(42, 9): prompt}).inbounds
    assert inbound.payload["answer_kind"] == "skip"
