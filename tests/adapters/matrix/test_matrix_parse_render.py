"""Matrix events (in the client-server API's shapes, as the spec's examples give them) to
Inbound, and Samen's messages to Matrix text: the pure halves of the adapter."""

from __future__ import annotations

from typing import Any

from adapters.matrix.parse import Room, parse_event
from adapters.matrix.render import FormPrompt, form_prompt, matrix_commands, render_text
from bot.core.effects import Message, MessageKind, OptionView, QuestionView

BOT = "@samen:zorg.example"
SERVERS = {"zorg.example"}
TEAM = Room("!team:zorg.example", None, "Wijkteam Noord")
DIRECT = Room("!dm:zorg.example", "@anna:zorg.example")


def message(body: str, sender: str = "@anna:zorg.example", **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$143273582443PhrSn:zorg.example",
        "sender": sender,
        "origin_server_ts": 1432735824653,
        "room_id": TEAM.id,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def member(user: str, now: str, before: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "m.room.member",
        "event_id": "$member:zorg.example",
        "sender": user,
        "state_key": user,
        "content": {"membership": now, "displayname": "Bram"},
    }
    if before is not None:
        event["unsigned"] = {"prev_content": {"membership": before}}
    return event


def parse(event: dict[str, Any], room: Room = TEAM, **options: Any) -> Any:
    return parse_event(event, room, bot=BOT, servers=SERVERS, **options)


FORM = Message(
    MessageKind.form,
    "Twee vragen",
    questions=(
        QuestionView(
            "voor",
            "rol",
            "choice",
            "Welke rol?",
            options=(
                OptionView("leiden", "Het gesprek leiden"),
                OptionView("ondersteunen", "Ondersteunen"),
            ),
        ),
        QuestionView("voor", "gevoel", "text", "Hoe zit je erbij?", optional=True),
    ),
)


def test_commands_in_a_team_room_and_a_direct_room() -> None:
    found = parse(message("!samen bezoek 2026-11-24 14:00"))
    assert (found.kind, found.channel, found.user) == ("command", TEAM.id, "@anna:zorg.example")
    assert found.payload == {
        "command": "samen",
        "args": "bezoek 2026-11-24 14:00",
        "channel_name": "Wijkteam Noord",
    }
    assert found.key == "$143273582443PhrSn:zorg.example"
    bell = parse(message("!bel +5"), DIRECT)
    assert (bell.kind, bell.channel, bell.payload) == (
        "command",
        "dm:@anna:zorg.example",
        {"command": "bel", "args": "+5"},
    )


def test_talk_edits_bots_and_outsiders_give_nothing() -> None:
    assert parse(message("zullen we om drie uur?")) is None
    assert parse(message("!samen", sender=BOT)) is None
    assert parse(message("!samen", sender="@mallory:elders.example")) is None
    edit = message("* !samen", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}})
    assert parse(edit) is None


def test_a_mention_of_the_bot_by_pill_or_m_mentions() -> None:
    pill = message(
        "Samen: help",
        format="org.matrix.custom.html",
        formatted_body=f'<a href="https://matrix.to/#/{BOT}">Samen</a>: help',
    )
    assert parse(pill).kind == "mention"
    intentional = message("hallo", **{"m.mentions": {"user_ids": [BOT]}})
    assert parse(intentional).kind == "mention"


def test_a_pill_in_a_command_becomes_the_user_id() -> None:
    found = parse(
        message(
            "!samen rol Anna voorzitter",
            format="org.matrix.custom.html",
            formatted_body='!samen rol <a href="https://matrix.to/#/@anna:zorg.example">Anna</a>'
            " voorzitter",
        )
    )
    assert found.payload["args"] == "rol @anna:zorg.example voorzitter"


def test_answers_by_bang_a_and_by_reply() -> None:
    prompt = form_prompt(FORM, "r1", "nl")
    assert prompt is not None
    by_number = parse(message("!a 1 2"), DIRECT, prompts={"latest": prompt})
    assert by_number.kind == "answer"
    assert by_number.payload == {
        "run": "r1",
        "step": "voor",
        "question": "rol",
        "value": "ondersteunen",
        "answer_kind": "value",
    }
    by_label = parse(message("!a 1 het gesprek leiden"), DIRECT, prompts={"latest": prompt})
    assert by_label.payload["value"] == "leiden"
    skipped = parse(message("!a 2 -"), DIRECT, prompts={"latest": prompt})
    assert skipped.payload["answer_kind"] == "skip"
    reply = message(
        "> <@samen:zorg.example> Twee vragen\n\n2 Nieuwsgierig",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": "$form"}}},
    )
    answered = parse(reply, DIRECT, prompts={"$form": prompt})
    assert (answered.payload["question"], answered.payload["value"]) == ("gevoel", "Nieuwsgierig")
    assert parse(message("!a 1 2"), DIRECT, prompts={}) is None  # no open form: nothing


def test_a_prompt_survives_its_json_form() -> None:
    prompt = form_prompt(FORM, "r1", "en")
    assert prompt is not None
    assert FormPrompt.from_json(prompt.to_json()) == prompt


def test_membership_of_team_rooms_and_direct_rooms() -> None:
    joined = parse(member("@bram:zorg.example", "join", "invite"))
    assert (joined.kind, joined.channel, joined.user_name) == ("joined", TEAM.id, "Bram")
    left = parse(member("@bram:zorg.example", "leave", "join"))
    assert left.kind == "left"
    assert parse(member("@bram:zorg.example", "join", "join")) is None  # a new display name
    assert parse(member("@eve:elders.example", "join", None)) is None  # never enrolled
    accepted = parse(member("@anna:zorg.example", "join", "invite"), DIRECT)
    assert (accepted.kind, accepted.channel) == ("joined", "dm:@anna:zorg.example")


def test_a_form_as_text_lists_its_options_and_how_to_answer() -> None:
    text = render_text(FORM, "nl")
    assert "1. kies: 1) Het gesprek leiden, 2) Ondersteunen" in text
    assert "!a <nummer van de vraag> <je antwoord>" in text
    english = render_text(FORM, "en")
    assert "!a <question number> <your answer>" in english
    closed = render_text(Message(MessageKind.form, "x", questions=FORM.questions, closed=True))
    assert "(gesloten)" in closed and "!a" not in closed


def test_the_bell_controls_and_the_command_words_as_typed_in_matrix() -> None:
    phase = Message(MessageKind.phase, "Stap 1", controls=("pause", "extend", "process"))
    assert "Bel: !bel pauze · !bel +5" in render_text(phase)
    assert "!bel proces" in render_text(phase)
    assert matrix_commands("Typ /samen of /bel pauze; zie https://x.example/samen") == (
        "Typ !samen of !bel pauze; zie https://x.example/samen"
    )
