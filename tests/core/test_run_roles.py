"""Run roles from answers (`gives_role`), leaving roles out (`except`), and questions
time-boxed inside a phase (its clock is their deadline; `end_when_answered`)."""

from __future__ import annotations

from typing import Any

from bot.core.effects import Destination, MessageKind
from bot.core.events import BellCommand, Team
from bot.core.loader import check_flow
from bot.core.run import RunStatus
from tests.core.test_engine import THREAD, Driver, make_flow, person, q

TEAM = Team(
    members=(person("anna", "chair"), person("bram"), person("cor"), person("dirk")),
)


def to(member: str) -> Destination:
    return Destination.person(member)


CHOOSE = {
    "id": "kies",
    "ask": {"to": "chair", "question": q("wie", "people", gives_role="presenter")},
}


def flow(*steps: dict[str, Any]) -> Any:
    return make_flow(CHOOSE, *steps, roles=["chair", "presenter"])


def test_the_person_picked_gets_the_role_for_this_run_and_can_be_addressed() -> None:
    d = Driver.start(
        flow({"id": "hallo", "say": {"to": "presenter", "text": {"nl": "Jij", "en": "You"}}}),
        TEAM,
    )
    d.answer("anna", "kies", "wie", ("cor",))
    assert [s.to for s in d.sent(MessageKind.say)] == [to("cor")]
    assert d.run.status == RunStatus.done
    # The team's roles are untouched: only this run knows Cor as the presenter.
    assert d.run.member("cor").roles == ()  # type: ignore[union-attr]


def test_everyone_except_the_presenter_is_asked_privately() -> None:
    d = Driver.start(
        flow(
            {
                "id": "ronde",
                "collect": {
                    "to": ["member"],
                    "except": ["presenter"],
                    "deadline": "1d",
                    "questions": [q("vraag")],
                },
            },
        ),
        TEAM,
    )
    d.answer("anna", "kies", "wie", ("bram",))
    assert {f.to for f in d.sent(MessageKind.form)} - {to("anna")} == {to("cor"), to("dirk")}
    assert to("bram") not in {f.to for f in d.sent(MessageKind.form)}
    assert d.run.asked["ronde"] == ("anna", "cor", "dirk")
    for who in ("anna", "cor", "dirk"):
        d.answer(who, "ronde", "vraag", "ja")
    assert d.run.status == RunStatus.done  # the presenter is not waited for


def test_a_say_to_everyone_but_the_presenter_reaches_the_others_in_person() -> None:
    d = Driver.start(
        flow(
            {
                "id": "hallo",
                "say": {"to": "member", "except": ["presenter"], "text": {"nl": "x", "en": "x"}},
            }
        ),
        TEAM,
    )
    d.answer("anna", "kies", "wie", ("dirk",))
    assert [s.to for s in d.sent(MessageKind.say)] == [to("anna"), to("bram"), to("cor")]


PHASE = {
    "id": "luisteren",
    "phase": {
        "title": {"nl": "Roddelronde", "en": "Gossip round"},
        "duration": "10m",
        "warnings": ["2m"],
        "to": ["member"],
        "except": ["presenter"],
        "questions": [q("indruk")],
    },
}


def test_questions_in_a_phase_share_its_clock_and_pause_and_plus_n_move_their_deadline() -> None:
    d = Driver.start(flow(PHASE, {"id": "klaar", "end": {}}), TEAM)
    d.answer("anna", "kies", "wie", ("bram",))
    forms = [f.to for f in d.sent(MessageKind.form) if f.key.startswith("form:luisteren")]
    assert forms == [to("anna"), to("cor"), to("dirk")]
    d.minutes(4)
    d.bell("anna", BellCommand.pause)
    d.minutes(30)  # paused: the questions stay open, no bell
    assert d.run.step == "luisteren"
    d.bell("anna", BellCommand.resume)
    d.bell("anna", BellCommand.extend, 5)
    d.answer("cor", "luisteren", "indruk", "spannend")
    d.minutes(10)  # 6 of the 10 minutes left, plus 5
    assert d.run.step == "luisteren"
    d.minutes(1)
    assert d.run.status == RunStatus.done
    assert len(d.sent(MessageKind.bell, THREAD)) == 1
    # Everyone did not answer, and the phase did not end early: it ran its full time.
    assert d.run.answers["luisteren"]["indruk"].keys() == {"cor"}


def test_end_when_answered_ends_the_phase_once_everyone_asked_has_answered() -> None:
    early = {**PHASE, "phase": {**PHASE["phase"], "end_when_answered": True}}
    d = Driver.start(flow(early, {"id": "klaar", "end": {}}), TEAM)
    d.answer("anna", "kies", "wie", ("bram",))
    for who in ("anna", "cor"):
        d.answer(who, "luisteren", "indruk", "x")
    assert d.run.step == "luisteren"
    d.answer("dirk", "luisteren", "indruk", "x")
    assert d.run.status == RunStatus.done
    (bell,) = d.sent(MessageKind.bell, THREAD)
    assert "Iedereen heeft geantwoord" in bell.message.text


def test_without_an_answer_the_team_holders_of_the_role_count() -> None:
    team = Team(members=(person("anna", "chair"), person("bram", "presenter"), person("cor")))
    d = Driver.start(
        make_flow(
            {"id": "hallo", "say": {"to": "presenter", "text": {"nl": "x", "en": "x"}}},
            roles=["chair", "presenter"],
        ),
        team,
    )
    assert [s.to for s in d.sent(MessageKind.say)] == [to("bram")]


# --------------------------------------------------------------------------- checks

FLOW = """\
id: x
title: T
roles: [chair, presenter]
steps:
  - id: kies
    ask:
      to: chair
      question: {id: wie, type: people, text: Wie, gives_role: presenter}
  - id: zeg
    say: {to: member, except: [presenter], text: Hallo}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in check_flow(text, "flows/x.yaml")[1]]


def test_a_correct_flow_with_a_run_role_passes() -> None:
    assert problems(FLOW) == []


def test_except_that_leaves_out_everyone_is_an_error() -> None:
    (error,) = problems(FLOW.replace("except: [presenter]", "except: [member]"))
    assert error.startswith("flows/x.yaml:10:")
    assert "can never reach anyone" in error


def test_except_on_a_message_to_the_thread_is_an_error() -> None:
    (error,) = problems(FLOW.replace("to: member, except", "to: thread, except"))
    assert "a message to the thread is seen by all" in error


def test_an_undeclared_role_in_except_or_gives_role_is_an_error() -> None:
    (error,) = problems(FLOW.replace("except: [presenter]", "except: [presentr]"))
    assert "role 'presentr' is not declared" in error and "did you mean 'presenter'" in error
    (error,) = problems(FLOW.replace("gives_role: presenter", "gives_role: inbrenger"))
    assert error.startswith("flows/x.yaml:8:")
    assert "role 'inbrenger' is not declared" in error


def test_only_a_people_question_gives_a_role() -> None:
    (error,) = problems(FLOW.replace("type: people", "type: text"))
    assert "only a people question, or a choice among the team's answers" in error


def test_a_role_used_before_the_question_that_gives_it_is_a_warning() -> None:
    text = FLOW.replace("steps:\n", "steps:\n  - id: eerst\n    say: {to: presenter, text: Jij}\n")
    (warning,) = problems(text)
    assert warning.startswith("flows/x.yaml:6:") and ": warning:" in warning
    assert "does not come before this step" in warning


def test_end_when_answered_without_a_required_question_is_a_warning() -> None:
    text = FLOW + (
        "  - id: fase\n    phase:\n      title: F\n      duration: 10m\n"
        "      end_when_answered: true\n"
    )
    (warning,) = problems(text)
    assert "'end_when_answered' needs a required question" in warning


def test_a_deadline_before_the_flow_starts_is_a_warning() -> None:
    text = FLOW.replace("roles:", "triggers:\n  - {event: visit, before: 1d}\nroles:") + (
        "  - id: vooraf\n    collect:\n      deadline: 2d before event\n"
        "      questions: [{id: a, type: text, text: A}]\n"
    )
    (warning,) = problems(text)
    assert "closes before anyone had the chance to answer" in warning
