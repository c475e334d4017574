"""Parsing real Slack payload shapes into Inbound events (keys absorb Slack's retries)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from adapters.slack.parse import (
    Clicks,
    parse_block_actions,
    parse_command,
    parse_event,
    parse_view_submission,
    plain_mentions,
    submission_errors,
)

RUN = "0123456789abcdef"

SLASH_FORM = urlencode(
    {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": "T0001",
        "team_domain": "zorgteam",
        "enterprise_id": "",
        "channel_id": "C2147483705",
        "channel_name": "wijkteam",
        "user_id": "U2147483697",
        "user_name": "anna",
        "command": "/samen",
        "text": "start intervisie ",
        "api_app_id": "A123456",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/1234/5678",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
)


def test_a_slash_command_form_body_becomes_a_command() -> None:
    body = dict(parse_qsl(SLASH_FORM))
    inbound = parse_command(body)
    assert inbound is not None
    assert inbound.kind == "command"
    assert inbound.key == "cmd:13345224609.738474920.8088930838d88f008e0"
    assert (inbound.channel, inbound.user, inbound.user_name) == (
        "C2147483705",
        "U2147483697",
        "anna",
    )
    assert inbound.payload == {
        "command": "samen",
        "args": "start intervisie",
        "channel_name": "wijkteam",  # the team is named as its channel (issue 19)
    }
    bel = parse_command(body | {"command": "/bel", "text": "+5", "trigger_id": "other"})
    assert bel is not None
    assert bel.payload == {"command": "bel", "args": "+5", "channel_name": "wijkteam"}
    assert bel.key != inbound.key


def block_actions(
    *actions: dict[str, Any], trigger: str = "12466734323.1395872398"
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U2", "username": "bram", "name": "bram", "team_id": "T0001"},
        "api_app_id": "A123456",
        "token": "x",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "D22"},
        "trigger_id": trigger,
        "team": {"id": "T0001", "domain": "zorgteam"},
        "channel": {"id": "D22", "name": "directmessage"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "...", "blocks": []},
        "response_url": "https://hooks.slack.com/actions/T0001/1/x",
        "actions": list(actions),
    }


def test_a_button_click_becomes_an_answer_keyed_on_its_trigger() -> None:
    body = block_actions(
        {
            "action_id": f"a|{RUN}|vooraf|zorg|1",
            "block_id": "q|vooraf|zorg",
            "text": {"type": "plain_text", "text": "Overzorg", "emoji": True},
            "value": "overzorg",
            "type": "button",
            "action_ts": "1700000001.000200",
        }
    )
    (inbound,) = parse_block_actions(body)
    assert inbound.key == "act:12466734323.1395872398:0"
    # A direct message (D…) is the person's private chat (issue 19).
    assert (inbound.kind, inbound.channel, inbound.user) == ("answer", "dm:U2", "U2")
    assert inbound.payload["value"] == "overzorg"
    # a double click is a new interaction: a new key; the engine makes it one transition
    (again,) = parse_block_actions(block_actions(*body["actions"], trigger="999.888"))
    assert again.key != inbound.key
    assert again.payload == inbound.payload


def test_clicks_on_elements_samen_did_not_draw_give_nothing() -> None:
    body = block_actions({"action_id": "someone_else", "type": "button", "value": "x"})
    assert parse_block_actions(body) == []
    assert parse_block_actions(block_actions({"action_id": "a|too|few", "type": "button"})) == []


def test_a_modal_submission_gives_one_answer_per_question() -> None:
    body = {
        "type": "view_submission",
        "team": {"id": "T0001", "domain": "zorgteam"},
        "user": {"id": "U2", "username": "bram", "name": "bram", "team_id": "T0001"},
        "api_app_id": "A123456",
        "token": "x",
        "trigger_id": "12345.98765.abcd2358fdea",
        "view": {
            "id": "VNHU13V36",
            "type": "modal",
            "callback_id": "samen_form",
            "private_metadata": f"{RUN}|vooraf|D22",
            "state": {
                "values": {
                    "q|zorgen": {"v": {"type": "plain_text_input", "value": "Een tekst"}},
                    "q|wanneer": {"v": {"type": "datepicker", "selected_date": "2026-11-24"}},
                    "q|uren": {"v": {"type": "number_input", "value": None}},
                }
            },
            "hash": "156772938.1827394",
        },
    }
    found = {i.payload["question"]: i for i in parse_view_submission(body)}
    assert set(found) == {"zorgen", "wanneer", "uren"}
    assert found["zorgen"].payload == {
        "run": RUN,
        "step": "vooraf",
        "question": "zorgen",
        "value": "Een tekst",
        "answer_kind": "value",
    }
    assert found["wanneer"].payload["value"] == "2026-11-24"
    assert found["uren"].payload["answer_kind"] == "skip"  # an empty optional field
    assert all(i.channel == "dm:U2" and i.user == "U2" for i in found.values())
    assert len({i.key for i in found.values()}) == 3
    assert submission_errors(body) == {}
    bad = body["view"]["state"]["values"] | {
        "q|uren": {"v": {"type": "number_input", "value": "veel"}}
    }
    body["view"]["state"]["values"] = bad
    assert set(submission_errors(body)) == {"q|uren"}


def test_another_apps_modal_is_ignored() -> None:
    body = {
        "type": "view_submission",
        "trigger_id": "1",
        "user": {"id": "U2"},
        "view": {"callback_id": "other", "private_metadata": "", "state": {"values": {}}},
    }
    assert parse_view_submission(body) == []


def event_callback(event: dict[str, Any], event_id: str = "Ev08MFMKH6") -> dict[str, Any]:
    return {
        "token": "x",
        "team_id": "T0001",
        "api_app_id": "A123456",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
    }


def test_events_become_mention_joined_and_left_keyed_on_event_id() -> None:
    mention = event_callback(
        {
            "type": "app_mention",
            "user": "U2",
            "text": "<@UBOT> help",
            "ts": "1700000000.000300",
            "channel": "C1",
            "event_ts": "1700000000.000300",
        }
    )
    inbound = parse_event(mention, "UBOT")
    assert inbound is not None
    assert (inbound.key, inbound.kind, inbound.channel, inbound.user) == (
        "ev:Ev08MFMKH6",
        "mention",
        "C1",
        "U2",
    )
    assert inbound.payload == {}  # the text of a mention is not needed, so not kept
    joined = parse_event(
        event_callback(
            {
                "type": "member_joined_channel",
                "user": "U3",
                "channel": "C1",
                "channel_type": "C",
                "team": "T0001",
            },
            "Ev2",
        ),
        "UBOT",
    )
    assert joined is not None and joined.kind == "joined" and joined.user == "U3"
    left = parse_event(
        event_callback({"type": "member_left_channel", "user": "U3", "channel": "C1"}, "Ev3")
    )
    assert left is not None and left.kind == "left"


def test_events_from_the_bot_itself_are_ignored_but_its_joining_is_bot_added() -> None:
    # Samen itself joining a channel: "bot_added" by whoever invited it (issue 19).
    itself = event_callback(
        {"type": "member_joined_channel", "user": "UBOT", "channel": "C1", "inviter": "U7"}
    )
    added = parse_event(itself, "UBOT")
    assert added is not None and (added.kind, added.user) == ("bot_added", "U7")
    mentions_itself = event_callback({"type": "app_mention", "user": "UBOT", "channel": "C1"})
    assert parse_event(mentions_itself, "UBOT") is None
    bot = event_callback({"type": "app_mention", "user": "U9", "bot_id": "B9", "channel": "C1"})
    assert parse_event(bot, "UBOT") is None
    assert parse_event(event_callback({"type": "reaction_added", "user": "U2"}), "UBOT") is None


def test_an_english_modal_answers_a_bad_number_in_english() -> None:
    body = {
        "type": "view_submission",
        "view": {
            "callback_id": "samen_form",
            "private_metadata": f"{RUN}|vooraf|D22|en",
            "state": {"values": {"q|uren": {"v": {"type": "number_input", "value": "many"}}}},
        },
    }
    assert submission_errors(body) == {"q|uren": "Enter a number."}
    body["view"]["private_metadata"] = f"{RUN}|vooraf|D22|nl"
    assert submission_errors(body, "en") == {"q|uren": "Vul een getal in."}


def test_escaped_mentions_in_a_command_become_platform_ids() -> None:
    assert plain_mentions("rol <@U0ANNA|anna> voorzitter") == "rol @U0ANNA voorzitter"
    assert plain_mentions("rol <@W0BRAM> inbrenger") == "rol @W0BRAM inbrenger"
    assert plain_mentions("rol @cor voorzitter") == "rol @cor voorzitter"


def click(
    trigger: str, action_ts: str, user: str = "U2", message_ts: str = "1.2"
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "anna"},
        "trigger_id": trigger,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C1"},
        "channel": {"id": "C1"},
        "actions": [
            {"action_id": "b|next", "type": "button", "value": "volgende", "action_ts": action_ts}
        ],
    }


def test_a_double_click_gets_the_first_clicks_key() -> None:
    clicks = Clicks(window=1.5)
    (first,) = parse_block_actions(click("t1", "100.0"), clicks)
    (second,) = parse_block_actions(click("t2", "101.2"), clicks)
    assert second.key == first.key  # the inbox absorbs it
    (later,) = parse_block_actions(click("t3", "103.0"), clicks)
    assert later.key != first.key  # seconds later: a click of its own
    (other_person,) = parse_block_actions(click("t4", "103.1", user="U3"), clicks)
    assert other_person.key != later.key
    (other_message,) = parse_block_actions(click("t5", "103.2", message_ts="9.9"), clicks)
    assert other_message.key != later.key
    (without_memory,) = parse_block_actions(click("t6", "103.3"))
    assert without_memory.key == "act:t6:0"


def test_click_memory_stays_bounded() -> None:
    clicks = Clicks(size=3)
    for n in range(10):
        parse_block_actions(click(f"t{n}", f"{n}.0", message_ts=f"{n}.1"), clicks)
    assert len(clicks._seen) == 3


def test_the_klaar_button_finishes_a_form_with_its_optional_questions_left() -> None:
    body = block_actions(
        {
            "action_id": f"f|{RUN}|terugblik",
            "block_id": "f|terugblik",
            "text": {"type": "plain_text", "text": "✔ Klaar (de rest overslaan)", "emoji": True},
            "value": "klaar",
            "type": "button",
            "action_ts": "1700000001.000200",
        }
    )
    (inbound,) = parse_block_actions(body)
    assert inbound.kind == "answer"
    assert inbound.payload == {
        "run": RUN,
        "step": "terugblik",
        "question": "",
        "value": "",
        "answer_kind": "done",
    }
