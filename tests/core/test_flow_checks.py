"""The checks a flow author meets first: YAML problems where they must edit, one clear
error for a step id written twice, the nearest step ids for an unknown one, and the
command words and warnings that used to slip through."""

from __future__ import annotations

from pathlib import Path

from bot.core.loader import Problem, check_flow
from bot.flowfiles import load_flows

PATH = "flows/x.yaml"


def problems(text: str) -> list[Problem]:
    return check_flow(text, PATH)[1]


def where(problem: Problem) -> tuple[int, int, str]:
    return problem.line, problem.column, problem.severity


def flow(steps: str, top: str = "") -> str:
    return f"id: x\ntitle: T\n{top}steps:\n{steps}"


# --------------------------------------------------------------------------- YAML positions


def test_an_unclosed_quote_is_reported_where_it_opens_not_at_the_end_of_the_file() -> None:
    text = 'id: x\ntitle: "Open\nsteps:\n  - id: a\n    end: {}\n'
    (problem,) = problems(text)
    assert where(problem) == (2, 8, "error")
    assert "never closed" in problem.message


def test_an_unclosed_single_quote_in_a_step_is_reported_at_its_quote() -> None:
    text = flow("  - id: a\n    say: {text: 'Hallo}\n  - id: b\n    end: {}\n")
    (problem,) = problems(text)
    assert where(problem) == (5, 17, "error")


def test_an_unclosed_bracket_is_reported_where_it_opens() -> None:
    text = flow("  - id: a\n    say: {text: Hallo\n")
    (problem,) = problems(text)
    assert (problem.line, problem.column) == (5, 10)
    assert "bracket is never closed" in problem.message


BOMB = """\
id: x
a: &a ["l", "l", "l", "l", "l", "l", "l", "l", "l"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
"""


def test_an_alias_bomb_is_reported_at_the_alias_not_at_the_top_of_the_file() -> None:
    (problem,) = problems(BOMB)
    assert problem.line == 7  # the line that multiplies the aliases above it, at an alias
    assert BOMB.splitlines()[6][problem.column - 1 :].startswith("*e")
    assert "aliases inside aliases" in problem.message


def test_an_alias_bomb_through_a_merge_key_is_reported_at_the_merge() -> None:
    text = BOMB.replace("f: &f [*e,", "f:\n  <<: {k: *e}\n  z: [*e,")
    (problem,) = problems(text)
    assert problem.line in (8, 9)
    assert text.splitlines()[problem.line - 1][problem.column - 1 :].startswith("*e")


def test_a_few_ordinary_aliases_are_fine() -> None:
    text = flow(
        "  - id: a\n    say: {text: &t Hallo}\n  - id: b\n    say: {text: *t}\n",
    )
    assert problems(text) == []


# --------------------------------------------------------------------------- step ids


def test_a_step_id_written_twice_is_the_only_error_with_no_false_loop_or_unreached() -> None:
    text = flow(
        "  - id: a\n    say: {text: hoi}\n  - id: b\n    say: {text: hoi}\n  - id: a\n    end: {}\n"
    )
    (problem,) = problems(text)
    assert where(problem) == (8, 9, "error")
    assert "step id 'a' is already used on line 4" in problem.message


def test_an_unknown_next_names_the_nearest_step_ids() -> None:
    text = flow(
        "  - id: welkom\n    next: zzz\n    say: {text: hoi}\n  - id: afsluiting\n    end: {}\n"
    )
    first = problems(text)[0]
    assert where(first) == (5, 11, "error")
    assert "'next: zzz' names no step" in first.message
    assert "the steps most like it are 'welkom' and 'afsluiting'" in first.message


def test_a_misspelt_goto_still_gets_did_you_mean() -> None:
    text = flow(
        "  - id: kies\n    branch:\n      - otherwise: afsluitng\n  - id: afsluiting\n    end: {}\n"
    )
    problem = problems(text)[0]  # (then: 'afsluiting' is never reached)
    assert "did you mean 'afsluiting'?" in problem.message


# --------------------------------------------------------------------------- command words


def test_a_command_word_with_a_space_or_a_slash_is_an_error_at_the_word() -> None:
    for word, example in (('"intervisie plus"', "intervisie-plus"), ("/intervisie", "intervisie")):
        text = flow("  - id: a\n    end: {}\n", top=f"triggers:\n  - command: {word}\n")
        (problem,) = problems(text)
        assert where(problem) == (4, 14, "error")
        assert "one word of lower-case letters" in problem.message
        assert f"e.g. '{example}'" in problem.message


def test_a_command_word_that_is_one_of_samens_own_words_is_an_error() -> None:
    for word in ("help", "start", "rol", "status"):
        text = flow("  - id: a\n    end: {}\n", top=f"triggers:\n  - command: {word}\n")
        (problem,) = problems(text)
        assert where(problem) == (4, 14, "error")
        assert "one of Samen's own words" in problem.message


def test_a_command_word_used_by_two_flows_is_an_error_at_the_second(tmp_path: Path) -> None:
    for name in ("eerste", "tweede"):
        (tmp_path / f"{name}.yaml").write_text(
            f"id: {name}\ntitle: T\ntriggers:\n  - command: intervisie\n"
            "steps:\n  - id: a\n    end: {}\n",
            encoding="utf-8",
        )
    found = load_flows([tmp_path])
    (problem,) = found.errors
    assert problem.path.endswith("tweede.yaml")
    assert (problem.line, problem.column) == (4, 14)
    assert "also starts flow 'eerste'" in problem.message
    assert "tweede" not in found.flows


def test_a_command_word_of_an_outside_flow_may_not_take_a_shipped_one(tmp_path: Path) -> None:
    from bot.flowfiles import SHIPPED_FLOWS_DIR

    (tmp_path / "eigen.yaml").write_text(
        "id: eigen\ntitle: T\ntriggers:\n  - command: intervisie\nsteps:\n  - id: a\n    end: {}\n",
        encoding="utf-8",
    )
    found = load_flows([tmp_path], context=[SHIPPED_FLOWS_DIR])
    (problem,) = found.problems
    assert problem.path.endswith("eigen.yaml")
    assert "also starts flow 'intervisie-complexe-casuistiek'" in problem.message
    assert len(found.files) == 1


# --------------------------------------------------------------------------- phases


def test_a_default_warning_longer_than_a_short_phase_is_an_error() -> None:
    text = flow("  - id: a\n    phase: {title: Kort, duration: 3m}\n")
    (problem,) = problems(text)
    assert where(problem) == (5, 36, "error")
    assert "default warning of 5m" in problem.message
