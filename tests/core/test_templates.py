"""Summary templates: undefined names are errors (at check time, at their line; at run
time the standard layout with a notice), and every variable is documented."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.effects import MessageKind
from bot.core.loader import check_flow
from bot.core.templates import TEMPLATE_EXAMPLE, TEMPLATE_VARIABLES
from tests.core.test_engine import Driver, make_flow, q

DOCS = Path(__file__).resolve().parents[2] / "docs" / "flows.md"

FLOW = """\
id: x
title: T
steps:
  - id: a
    collect:
      deadline: 1d
      questions:
        - {id: q, type: text, text: "Wat neem je mee"}
  - id: s
    summary:
      template: |
        # {{ title }}
        {% for q in questions %}{{ q.text }}: {{ answers }}{% endfor %}
"""


def errors(text: str) -> list[str]:
    return [str(p) for p in check_flow(text, "flows/x.yaml")[1]]


def test_a_misspelt_variable_is_an_error_at_its_line_and_column_with_the_known_names() -> None:
    (error,) = errors(FLOW)
    assert error.startswith("flows/x.yaml:13:50: error: step 's': template (nl): 'answers' ")
    assert "'questions'" in error and "'title'" in error


def test_a_misspelt_part_of_a_variable_is_an_error_at_that_part() -> None:
    text = FLOW.replace("{{ answers }}", "{{ q.answr }}")
    (error,) = errors(text)
    assert error.startswith("flows/x.yaml:13:52: error:")  # at the misspelt part
    assert "no attribute 'answr'" in error


def test_a_syntax_error_is_reported_at_its_line_in_each_language() -> None:
    text = FLOW.replace(
        "      template: |\n        # {{ title }}\n",
        '      template:\n        en: "{{ title }}"\n        nl: |\n          # {{ title }}\n',
    ).replace("{% endfor %}", "")
    text = text.replace("{% for q in questions %}", "  {% for q in questions %}")
    (error,) = errors(text)
    # Inside the Dutch block (lines 15-16), not at the English one or the step.
    assert error.split(":")[1] in ("15", "16")
    assert "template (nl)" in error and "endfor" in error


def test_a_correct_template_using_every_variable_passes() -> None:
    body = " ".join(f"{{{{ {name} }}}}" for name in TEMPLATE_VARIABLES)
    loop = (
        "{% for q in questions %}{{ q.text }}{% for a in q.answers %}{{ a.name }}{{ a.value }}"
        "{% endfor %}{{ q.answered }}{{ q.hidden }}{% for d in q.divergent %}{{ d.value }}"
        "{{ d.count }}{% endfor %}{% endfor %}"
    )
    text = FLOW.replace(
        "        # {{ title }}\n        {% for q in questions %}{{ q.text }}: {{ answers }}"
        "{% endfor %}",
        f"        {body}\n        {loop}",
    )
    assert errors(text) == []


def test_at_run_time_an_undefined_name_is_not_empty_text_but_the_standard_layout() -> None:
    flow = make_flow(
        {"id": "prep", "collect": {"deadline": "1d", "questions": [q("hoe")]}},
        {"id": "s", "summary": {"template": "Antwoorden: {{ answers }}"}},
    )
    d = Driver.start(flow)
    for who in ("anna", "bram", "cor"):
        d.answer(who, "prep", "hoe", who)
    shown = d.sent(MessageKind.summary)[0].message.text
    assert "Antwoorden:" not in shown
    assert "Anna: anna" in shown and "sjabloon" in shown


def test_every_template_variable_has_an_example_and_is_documented() -> None:
    assert set(TEMPLATE_EXAMPLE) == set(TEMPLATE_VARIABLES)
    docs = DOCS.read_text(encoding="utf-8")
    section = docs.split("### Templates", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))
    assert documented == set(TEMPLATE_VARIABLES)
