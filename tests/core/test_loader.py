"""Loading flow files: every problem at its exact file:line:column, in plain words."""

from __future__ import annotations

import pytest

from bot.core.loader import (
    FlowLoadError,
    Problem,
    check_catalogue,
    check_flow,
    load_catalogue,
    load_flow,
)
from bot.core.model import BranchCase, CollectStep, PhaseStep

PATH = "flows/check-in.yaml"

# A small, correct flow. Tests change one line of it and pin where the problem is
# reported, so the line numbers below matter: keep them in step with this text.
FLOW = """\
id: check-in
title: {nl: Korte check-in, en: Short check-in}
languages: [nl, en]
roles: [chair]
triggers:
  - command: checkin
  - schedule: "0 9 * * mon"
steps:
  - id: vraag
    collect:
      deadline: 1d
      reminders: [2h]
      questions:
        - id: spanning
          type: scale
          min: 1
          max: 5
          text: {nl: "Hoe gespannen ben je?", en: "How tense are you?"}
        - id: rol
          type: choice
          text: {nl: "Welke rol?", en: "Which role?"}
          options:
            - {id: ja, text: {nl: Ja, en: Yes}}
            - {id: nee, text: {nl: Nee, en: No}}
  - id: keuze
    branch:
      - when: {answer: vraag.spanning, at_least: 4}
        goto: overleg
      - when: {answer: vraag.rol, equals: ja}
        goto: overleg
      - otherwise: klaar
  - id: overleg
    phase:
      title: {nl: Overleg, en: Talk}
      duration: 15m
      warnings: [5m, 1m]
  - id: klaar
    end: {}
"""


def changed(old: str, new: str, text: str = FLOW) -> str:
    assert old in text, f"the test flow has no {old!r}"
    return text.replace(old, new, 1)


def problems_in(text: str, path: str = PATH) -> list[Problem]:
    return check_flow(text, path)[1]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def at(problem: Problem) -> tuple[int, int, str]:
    return problem.line, problem.column, problem.severity


# --------------------------------------------------------------------------- correct flows


def test_the_test_flow_loads_without_any_problem() -> None:
    flow, problems = check_flow(FLOW, PATH)
    assert problems == []
    assert flow is not None
    assert [s.id for s in flow.steps] == ["vraag", "keuze", "overleg", "klaar"]


def test_load_flow_returns_the_flow() -> None:
    flow = load_flow(FLOW, PATH)
    phase = flow.step("overleg")
    assert isinstance(phase, PhaseStep)
    assert phase.phase.duration == "15m"


def test_a_problem_prints_like_a_compiler_message() -> None:
    problem = Problem("flows/x.yaml", 3, 7, "something is wrong")
    assert str(problem) == "flows/x.yaml:3:7: error: something is wrong"
    warning = Problem("flows/x.yaml", 3, 7, "look", "warning")
    assert str(warning) == "flows/x.yaml:3:7: warning: look"


# --------------------------------------------------------------------------- YAML


def test_a_yaml_syntax_error_is_one_problem_at_the_mark_yaml_gives() -> None:
    flow, problems = check_flow(changed("      duration: 15m", "     duration: 15m"), PATH)
    problem = only(problems)
    assert flow is None
    assert at(problem) == (35, 6, "error")
    assert "indentation" in problem.message


def test_a_question_mark_inside_braces_says_to_use_quotes() -> None:
    text = changed('{nl: "Welke rol?", en: "Which role?"}', "{nl: Welke rol?, en: Which?}")
    problem = only(problems_in(text))
    assert (problem.line, problem.column) == (21, 31)
    assert "between quotes" in problem.message


def test_a_duplicate_key_is_reported_at_the_second_key() -> None:
    text = changed("      duration: 15m\n", "      duration: 15m\n      duration: 20m\n")
    problem = only(problems_in(text))
    assert at(problem) == (36, 7, "error")
    assert "'duration' is written twice" in problem.message
    assert "line 35" in problem.message


def test_yes_no_on_and_y_stay_words_and_only_true_and_false_are_booleans() -> None:
    text = """\
id: check-in
title: Check-in
steps:
  - id: vraag
    ask:
      question:
        id: keuze
        type: choice
        optional: true
        text: Kies
        options:
          - {id: yes, text: Ja}
          - {id: no, text: Nee}
          - {id: on, text: Aan}
          - {id: y, text: Y}
  - id: splits
    branch:
      - when: {answer: vraag, equals: yes}
        goto: klaar
      - otherwise: klaar
  - id: klaar
    end: {}
"""
    flow = load_flow(text, PATH)
    ask = flow.steps[0]
    branch = flow.steps[1]
    assert [o.id for o in ask.ask.question.options] == ["yes", "no", "on", "y"]  # type: ignore[union-attr]
    assert ask.ask.question.optional is True  # type: ignore[union-attr]
    case = branch.branch[0]  # type: ignore[union-attr]
    assert isinstance(case, BranchCase) and case.when is not None
    assert case.when.equals == "yes"


def test_yes_and_no_in_texts_stay_the_words_written() -> None:
    flow = load_flow(FLOW, PATH)
    step = flow.steps[0]
    assert isinstance(step, CollectStep)
    options = step.collect.questions[1].options
    assert [o.text for o in options] == [{"nl": "Ja", "en": "Yes"}, {"nl": "Nee", "en": "No"}]


def test_dates_and_times_stay_as_written() -> None:
    flow = load_flow(changed("command: checkin", "command: 2026-12-01"), PATH)
    assert flow.triggers[0].command == "2026-12-01"  # type: ignore[union-attr]


def test_an_empty_file_is_one_problem() -> None:
    flow, problems = check_flow("", PATH)
    assert flow is None
    assert "empty" in only(problems).message


# --------------------------------------------------------------------------- the models


def test_a_misspelt_key_is_reported_once_with_the_nearest_name() -> None:
    problem = only(problems_in(changed("duration: 15m", "duratoin: 15m")))
    assert at(problem) == (35, 7, "error")
    assert "unknown key 'duratoin'" in problem.message
    assert "did you mean 'duration'?" in problem.message
    assert "step 'overleg'" in problem.message


def test_a_missing_field_is_reported_at_its_parent_mapping() -> None:
    problem = only(problems_in(changed("      title: {nl: Overleg, en: Talk}\n", "")))
    assert at(problem) == (34, 7, "error")
    assert "needs 'title'" in problem.message


def test_a_wrong_type_is_reported_at_the_value() -> None:
    problem = only(problems_in(changed("min: 1", "min: een")))
    assert at(problem) == (16, 16, "error")
    assert "'min' must be a whole number, not 'een'" in problem.message


def test_a_wrong_value_in_a_text_is_one_plain_problem() -> None:
    problem = only(problems_in(changed("{nl: Overleg, en: Talk}", "{nl: 5, en: Talk}")))
    assert at(problem) == (34, 19, "error")
    assert "'nl' must be a text" in problem.message


def test_a_misspelt_answer_type_suggests_the_nearest_type() -> None:
    problem = only(problems_in(changed("type: choice", "type: choise")))
    assert at(problem) == (20, 17, "error")
    assert "did you mean 'choice'?" in problem.message


def test_a_step_without_a_kind_gets_one_clear_problem() -> None:
    problem = only(problems_in(changed("    phase:", "    phse:")))
    assert at(problem) == (32, 5, "error")
    assert "step 'overleg' needs exactly one of say, ask, collect" in problem.message
    assert "found none" in problem.message
    assert "did you mean 'phase'?" in problem.message


def test_a_step_with_two_kinds_is_reported_at_the_second_kind() -> None:
    problem = only(problems_in(changed("    end: {}\n", "    end: {}\n    say: {text: Hoi}\n")))
    assert at(problem) == (39, 5, "error")
    assert "found both end and say" in problem.message


def test_a_step_that_is_not_a_mapping_is_reported() -> None:
    text = changed("  - id: klaar\n    end: {}\n", "  - klaar\n")
    problems = problems_in(text)
    assert (37, 5, "error") in [at(p) for p in problems]


def test_a_misspelt_trigger_suggests_the_trigger_kind() -> None:
    problem = only(problems_in(changed("- command: checkin", "- comand: checkin")))
    assert at(problem) == (6, 5, "error")
    assert "did you mean 'command'" in problem.message


def test_a_misspelt_branch_case_suggests_otherwise() -> None:
    problem = only(problems_in(changed("- otherwise: klaar", "- otherwse: klaar")))
    assert at(problem) == (31, 9, "error")
    assert "did you mean 'otherwise'" in problem.message


# --------------------------------------------------------------------------- the graph


def test_an_unknown_goto_target_suggests_the_nearest_step() -> None:
    problem = only(problems_in(changed("goto: overleg", "goto: overlge")))
    assert at(problem) == (28, 15, "error")
    assert "'goto: overlge' names no step" in problem.message
    assert "did you mean 'overleg'?" in problem.message


def test_an_unknown_next_is_reported_at_the_next() -> None:
    text = changed("      warnings: [5m, 1m]\n", "      warnings: [5m, 1m]\n    next: klar\n")
    problem = only(problems_in(text))
    assert at(problem) == (37, 11, "error")
    assert "did you mean 'klaar'?" in problem.message


def test_a_step_after_an_end_that_nothing_points_at_is_unreachable() -> None:
    text = FLOW + "  - id: weg\n    say: {text: {nl: Dag, en: Bye}}\n"
    problem = only(problems_in(text))
    assert at(problem) == (39, 5, "error")
    assert "step 'weg' is never reached" in problem.message
    assert "('klaar') ends the run" in problem.message


def test_a_step_after_an_end_that_a_goto_points_at_is_reachable() -> None:
    text = changed("otherwise: klaar", "otherwise: extra") + (
        "  - id: extra\n    say: {text: {nl: Dag, en: Bye}}\n"
    )
    assert problems_in(text) == []


def test_a_step_that_comes_back_to_itself_forever_is_an_error() -> None:
    text = changed("      warnings: [5m, 1m]\n", "      warnings: [5m, 1m]\n    next: overleg\n")
    problem = only(problems_in(text))
    assert at(problem) == (37, 11, "error")
    assert "comes back to itself forever" in problem.message


def test_a_loop_of_several_steps_without_exit_is_one_error_at_the_first_jump_back() -> None:
    text = changed("      warnings: [5m, 1m]\n", "      warnings: [5m, 1m]\n    next: vraag\n")
    text = changed("goto: overleg\n      - otherwise", "goto: vraag\n      - otherwise", text)
    text = changed("goto: overleg", "goto: vraag", text)
    text = changed("otherwise: klaar", "otherwise: overleg", text)
    problems = problems_in(text)
    loops = [p for p in problems if "loop that never ends" in p.message]
    assert [at(p) for p in loops] == [(28, 15, "error")]
    assert "'vraag', 'keuze' and 'overleg'" in loops[0].message
    # klaar can no longer be reached either.
    assert any("step 'klaar' is never reached" in p.message for p in problems)


def test_a_loop_with_a_way_out_is_fine() -> None:
    assert problems_in(changed("otherwise: klaar", "otherwise: vraag")) == []


def test_a_branch_without_otherwise_is_a_warning_that_names_where_the_run_goes() -> None:
    problem = only(problems_in(changed("      - otherwise: klaar\n", "")))
    assert at(problem) == (26, 5, "warning")
    assert "goes on to 'overleg'" in problem.message


def test_warnings_are_not_errors_for_load_flow() -> None:
    flow = load_flow(changed("      - otherwise: klaar\n", ""), PATH)
    assert flow.id == "check-in"


# --------------------------------------------------------------------------- times


def test_an_unreadable_duration_is_reported_at_its_value() -> None:
    problem = only(problems_in(changed("duration: 15m", "duration: 15 minuten graag")))
    assert at(problem) == (35, 17, "error")
    assert "is not a duration" in problem.message


def test_a_bad_cron_expression_is_reported_at_the_schedule() -> None:
    problem = only(problems_in(changed("0 9 * * mon", "0 25 * * mon")))
    assert at(problem) == (7, 15, "error")
    assert "'25' is not a valid hour" in problem.message


def test_a_warning_as_long_as_its_phase_is_an_error_at_that_warning() -> None:
    problem = only(problems_in(changed("warnings: [5m, 1m]", "warnings: [1m, 15m]")))
    assert at(problem) == (36, 22, "error")
    assert "not shorter than the phase" in problem.message


def test_a_reminder_as_long_as_a_relative_deadline_is_a_warning() -> None:
    problem = only(problems_in(changed("reminders: [2h]", "reminders: [1d]")))
    assert at(problem) == (12, 19, "warning")


def test_a_deadline_before_the_event_without_an_event_trigger_is_a_warning() -> None:
    problem = only(problems_in(changed("deadline: 1d", "deadline: 2h before event")))
    assert at(problem) == (11, 17, "warning")
    assert "no event trigger" in problem.message
    with_trigger = changed(
        "  - command: checkin",
        "  - {event: visit, before: 1d}",
        changed("deadline: 1d", "deadline: 2h before event"),
    )
    assert problems_in(with_trigger) == []


# --------------------------------------------------------------------------- texts and roles


def test_a_plain_text_in_a_flow_with_english_is_reported() -> None:
    problem = only(problems_in(changed("{nl: Overleg, en: Talk}", "Overleg")))
    assert at(problem) == (34, 14, "error")
    assert "only in Dutch" in problem.message


def test_a_text_without_its_english_version_is_reported() -> None:
    problem = only(problems_in(changed("{nl: Ja, en: Yes}", "{nl: Ja}")))
    assert at(problem) == (23, 30, "error")
    assert "no 'en' version" in problem.message


def test_dutch_is_a_required_language() -> None:
    problem = only(problems_in(changed("languages: [nl, en]", "languages: [en, nl-BE]")))
    assert at(problem) == (3, 12, "error")
    assert "Dutch must be one of the languages" in problem.message


def test_an_undeclared_role_is_reported_with_a_suggestion() -> None:
    problem = only(problems_in(changed("deadline: 1d\n", "deadline: 1d\n      to: [char]\n")))
    assert at(problem) == (12, 12, "error")
    assert "role 'char' is not declared" in problem.message
    assert "did you mean 'chair'?" in problem.message


def test_thread_channel_and_starter_are_places_not_roles() -> None:
    text = changed(
        "  - id: klaar\n",
        "  - id: zeg\n    say: {to: starter, text: {nl: a, en: b}}\n  - id: klaar\n",
    )
    assert problems_in(text) == []


# --------------------------------------------------------------------------- questions and branches


def test_a_choice_question_needs_two_options() -> None:
    problem = only(problems_in(changed("            - {id: nee, text: {nl: Nee, en: No}}\n", "")))
    assert at(problem) == (22, 11, "error")
    assert "at least two options" in problem.message


def test_option_ids_must_be_unique_within_a_question() -> None:
    problem = only(problems_in(changed("{id: nee,", "{id: ja,")))
    assert at(problem) == (24, 20, "error")
    assert "option id 'ja' is already used on line 23" in problem.message


def test_a_condition_must_name_an_existing_question() -> None:
    problem = only(problems_in(changed("vraag.spanning", "vraag.spaning")))
    assert at(problem) == (27, 24, "error")
    assert "did you mean 'vraag.spanning'?" in problem.message


def test_a_condition_needs_exactly_one_test() -> None:
    problem = only(problems_in(changed("at_least: 4}", "at_least: 4, at_most: 5}")))
    assert at(problem) == (27, 15, "error")
    assert "found both at_least and at_most" in problem.message


def test_a_condition_on_a_choice_must_use_one_of_its_options() -> None:
    problem = only(problems_in(changed("equals: ja", "equals: jaa")))
    assert at(problem) == (29, 43, "error")
    assert "did you mean 'ja'?" in problem.message


# --------------------------------------------------------------------------- the flow id


def test_the_flow_id_must_equal_the_file_name() -> None:
    problem = only(problems_in(FLOW, "flows/other.yaml"))
    assert at(problem) == (1, 5, "error")
    assert "rename the file to 'check-in.yaml' or write 'id: other'" in problem.message


def test_the_flow_id_must_be_lower_case_kebab() -> None:
    problem = only(problems_in(changed("id: check-in", "id: Check_In"), "flows/check-in.yaml"))
    assert at(problem) == (1, 5, "error")
    assert "lower-case words joined by '-'" in problem.message


# --------------------------------------------------------------------------- the catalogue


def test_a_catalogue_reference_is_resolved_into_its_texts() -> None:
    text = changed("{nl: Overleg, en: Talk}", "{catalogue: overleg}")
    catalogue = {"overleg": {"nl": "Overleg", "en": "Talk"}}
    flow, problems = check_flow(text, PATH, catalogue)
    assert problems == []
    assert flow is not None
    step = flow.step("overleg")
    assert isinstance(step, PhaseStep)
    assert step.phase.title == {"nl": "Overleg", "en": "Talk"}


def test_an_unknown_catalogue_key_is_reported_with_a_suggestion() -> None:
    text = changed("{nl: Overleg, en: Talk}", "{catalogue: overlg}")
    problem = only(check_flow(text, PATH, {"overleg": {"nl": "Overleg", "en": "Talk"}})[1])
    assert at(problem) == (34, 26, "error")
    assert "did you mean 'overleg'?" in problem.message


def test_a_catalogue_text_missing_a_language_of_the_flow_is_reported() -> None:
    text = changed("{nl: Overleg, en: Talk}", "{catalogue: overleg}")
    problem = only(check_flow(text, PATH, {"overleg": {"nl": "Overleg"}})[1])
    assert at(problem) == (34, 14, "error")
    assert "no 'en' version" in problem.message


def test_the_catalogue_loads_texts_per_key() -> None:
    catalogue = load_catalogue(
        "geen-oplossingen: {nl: Nog geen oplossingen, en: No fixes}\nstilte: Even stil\n",
        "flows/catalogue.yaml",
    )
    assert catalogue == {
        "geen-oplossingen": {"nl": "Nog geen oplossingen", "en": "No fixes"},
        "stilte": {"nl": "Even stil"},
    }


def test_catalogue_problems_have_places_too() -> None:
    text = "a: {nl: A}\na: {nl: B}\nb: {en: B}\n"
    catalogue, problems = check_catalogue(text, "flows/catalogue.yaml")
    assert [(p.line, p.column) for p in problems] == [(2, 1), (3, 4)]
    assert "has no Dutch text" in problems[1].message
    with pytest.raises(FlowLoadError):
        load_catalogue(text, "flows/catalogue.yaml")
    assert catalogue == {"a": {"nl": "A"}}


# --------------------------------------------------------------------------- all at once


def test_many_problems_are_reported_at_once_in_file_order() -> None:
    text = changed("0 9 * * mon", "0 9 * *")
    text = changed("deadline: 1d\n", "deadline: 1d\n      to: [char]\n", text)
    text = changed("goto: overleg", "goto: overlge", text)
    text = changed("duration: 15m", "duratoin: 15m", text)
    problems = problems_in(text)
    assert [(p.line, p.column) for p in problems] == [(7, 15), (12, 12), (29, 15), (36, 7)]
    assert all(p.severity == "error" for p in problems)


def test_load_flow_raises_with_every_error() -> None:
    text = changed("0 9 * * mon", "0 9 * *", changed("goto: overleg", "goto: overlge"))
    with pytest.raises(FlowLoadError) as raised:
        load_flow(text, PATH)
    assert [p.line for p in raised.value.problems] == [7, 28]
    assert str(raised.value).startswith(f"{PATH}:7:15: error: ")


# --------------------------------------------------------------------------- "u" forms


def test_a_u_form_of_a_declared_language_is_accepted() -> None:
    text = changed(
        'text: {nl: "Hoe gespannen ben je?", en: "How tense are you?"}',
        'text: {nl: "Hoe gespannen ben je?", nl@u: "Hoe gespannen bent u?", en: "How tense?"}',
    )
    assert problems_in(text) == []


def test_a_u_form_of_an_undeclared_language_is_reported_at_the_text() -> None:
    text = changed(
        'text: {nl: "Hoe gespannen ben je?", en: "How tense are you?"}',
        'text: {nl: "Hoe gespannen ben je?", de@u: "Sie?", en: "How tense are you?"}',
    )
    problem = only(problems_in(text))
    assert at(problem) == (18, 17, "error")
    assert "'de@u'" in problem.message and "nl@u" in problem.message


def test_a_u_form_without_its_plain_text_is_reported() -> None:
    text = changed(
        'text: {nl: "Hoe gespannen ben je?", en: "How tense are you?"}',
        'text: {nl@u: "Hoe gespannen bent u?", en: "How tense are you?"}',
    )
    problem = only(problems_in(text))
    assert at(problem) == (18, 17, "error")
    assert "no 'nl' text" in problem.message
