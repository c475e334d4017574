"""Flow texts in the team's form of address: `nl@u` for teams that say "u"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core import engine
from bot.core.address import addressed
from bot.core.effects import Message, Send
from bot.core.events import Answered, Member, StartContext, Team
from bot.core.model import Flow, SayStep

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MEMBERS = (Member("anna", "Anna", frozenset()), Member("bram", "Bram", frozenset()))

FLOW = Flow.model_validate(
    {
        "id": "test",
        "title": {"nl": "Check", "en": "Check"},
        "languages": ["nl", "en"],
        "steps": [
            {
                "id": "welkom",
                "say": {
                    "text": {
                        "nl": "Fijn dat je er bent.",
                        "nl@u": "Fijn dat u er bent.",
                        "en": "Hi.",
                    }
                },
            },
            {
                "id": "vraag",
                "collect": {
                    "deadline": "1d",
                    "questions": [
                        {
                            "id": "rol",
                            "type": "choice",
                            "text": {
                                "nl": "Welke rol neem jij?",
                                "nl@u": "Welke rol neemt u?",
                                "en": "Role?",
                            },
                            "options": [{"id": "a", "text": {"nl": "Leiden", "en": "Lead"}}],
                        },
                        {
                            "id": "vrij",
                            "type": "text",
                            "text": {"nl": "Iets anders?", "en": "Else?"},
                        },
                    ],
                },
            },
            {
                "id": "klaar",
                "end": {"text": {"nl": "Dank je.", "nl@u": "Dank u.", "en": "Thanks."}},
            },
        ],
    }
)


def texts(effects: Any) -> list[str]:
    return [
        e.message.text for e in effects if isinstance(e, Send) and isinstance(e.message, Message)
    ]


@pytest.mark.parametrize(
    ("language", "address", "welcome", "question"),
    [
        ("nl", "je", "Fijn dat je er bent.", "Welke rol neem jij?"),
        ("nl", "u", "Fijn dat u er bent.", "Welke rol neemt u?"),
        ("nl-BE", "u", "Fijn dat u er bent.", "Welke rol neemt u?"),
        ("en", "u", "Hi.", "Role?"),
        ("en", "je", "Hi.", "Role?"),
    ],
)
def test_each_team_reads_the_form_of_address_it_is_set_to(
    language: str, address: str, welcome: str, question: str
) -> None:
    team = Team(members=MEMBERS, language=language, address=address)
    out = engine.start(FLOW, StartContext(run_id="r1", team=team, started_by="anna"), T0)
    said = texts(out.effects)
    assert said[0] == welcome
    assert any(question in t for t in said[1:])
    # A text without a "u" form stays as written, for every team.
    assert any(("Iets anders?" in t) or ("Else?" in t) for t in said[1:])


def test_the_u_form_holds_for_the_whole_run_not_just_its_start() -> None:
    team = Team(members=MEMBERS, address="u")
    out = engine.start(FLOW, StartContext(run_id="r1", team=team, started_by="anna"), T0)
    run = out.run
    for who in ("anna", "bram"):
        run = engine.advance(FLOW, run, Answered(who, "vraag", "rol", "a"), T0).run
        out = engine.advance(FLOW, run, Answered(who, "vraag", "vrij", "x"), T0)
        run = out.run
    assert "Dank u." in texts(out.effects)


def test_a_flow_without_u_forms_is_used_as_it_is() -> None:
    plain = Flow.model_validate(
        {"id": "p", "title": {"nl": "P"}, "steps": [{"id": "s", "say": {"text": "Hallo"}}]}
    )
    assert addressed(plain, "u") is plain
    assert addressed(FLOW, "je") is FLOW


def test_the_u_version_keeps_every_other_part_of_the_flow() -> None:
    u = addressed(FLOW, "u")
    assert u is addressed(FLOW, "u")  # made once per flow
    assert [s.id for s in u.steps] == [s.id for s in FLOW.steps]
    say = u.steps[0]
    assert isinstance(say, SayStep)
    assert say.say.text == {"nl": "Fijn dat u er bent.", "en": "Hi."}
    assert u.model_dump(exclude={"steps"}) == FLOW.model_dump(exclude={"steps"})
