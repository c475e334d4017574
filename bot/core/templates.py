"""Summary templates: the sandbox they run in, every variable they see, and the check
`flows check` runs on them.

A summary step may carry a Jinja `template` per language. It runs sandboxed, sees only
the variables below (`TEMPLATE_VARIABLES`, documented in docs/flows.md), and an
undefined name is an error rather than empty text: `flows check` reports it at its line
(`template_problems`, by parsing the template and rendering it with `TEMPLATE_EXAMPLE`),
and at run time the standard layout is used with a notice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from jinja2.exceptions import TemplateSyntaxError, UndefinedError
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.core.problems import suggestion

__all__ = ["TEMPLATES", "TEMPLATE_EXAMPLE", "TEMPLATE_VARIABLES", "template_problems"]

# Undefined names are errors, not empty text: `flows check` reports them (with
# TEMPLATE_EXAMPLE), and at run time the standard layout is used with a notice.
TEMPLATES: Final = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)

# Every variable a summary template sees, with what it holds; docs/flows.md lists them
# and a test keeps the two the same. TEMPLATE_EXAMPLE below has one value of each.
TEMPLATE_VARIABLES: Final[Mapping[str, str]] = {
    "title": "the summary's title (its `title:`, else the standard one), in the run's language",
    "questions": "one entry per question of the summarised steps, in flow order: "
    "`text` (the question), `answers` (a list of `name` and `value`; `name` is none for an "
    "anonymous question), `answered` (names of those whose answer this audience may not "
    "see), `hidden` (how many answers this audience may not see) and `divergent` (when the "
    "answers differ: a list of `value` and `count`, most given first)",
    "missing": "names of those who were asked and did not answer every required question "
    "(empty when this audience may not see who is missing)",
    "missing_count": "how many were asked and did not answer",
    "absent": "names of those who were away when asked",
    "left": "names of those who were asked and then left the team",
    "process_bells": "how many times the process bell rang in this run",
}

# One example of every variable: what `flows check` renders a template with.
TEMPLATE_EXAMPLE: Final[Mapping[str, Any]] = {
    "title": "Opbrengst",
    "questions": [
        {
            "text": "Wat neem je mee?",
            "answers": [{"name": "Anna", "value": "Meer vragen stellen"}],
            "answered": ["Bram"],
            "hidden": 1,
            "divergent": [{"value": "Ja", "count": 2}, {"value": "Nee", "count": 1}],
        }
    ],
    "missing": ["Cor"],
    "missing_count": 1,
    "absent": ["Dirk"],
    "left": ["Eva"],
    "process_bells": 2,
}


def _names(items: list[str]) -> str:
    quoted = [f"'{i}'" for i in items]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else quoted[0]


def template_problems(source: str) -> list[tuple[int, int, str]]:
    """What is wrong with a summary template, as (0-based line, column, message) inside it:
    a syntax error, a name it is not given (with the nearest one), or a part of a
    variable that does not exist (found by rendering it with `TEMPLATE_EXAMPLE`)."""
    try:
        parsed = TEMPLATES.parse(source)
    except TemplateSyntaxError as error:
        line = (error.lineno or 1) - 1
        return [(line, 0, f"{error.message}; see 'Templates' in docs/flows.md")]
    known = set(TEMPLATE_VARIABLES)
    found = []
    for name in sorted(find_undeclared_variables(parsed) - known):
        line, column = _name_at(source, name)
        hint = suggestion(name, known) or "; the variables are " + _names(sorted(known))
        found.append((line, column, f"'{name}' is not a variable of a summary template{hint}"))
    if found:
        return found
    try:
        TEMPLATES.from_string(source).render(**TEMPLATE_EXAMPLE)
    except UndefinedError as error:
        line, column = 0, 0
        missing = re.search(r"no attribute '([^']+)'", error.message or "")
        for k, text in enumerate(source.splitlines()):
            at = text.find(f".{missing.group(1)}") if missing else -1
            if at >= 0:
                line, column = k, at + 1
                break
        return [(line, column, f"{error.message}; see 'Templates' in docs/flows.md")]
    except Exception as error:  # e.g. a filter the sandbox forbids: still the author's
        return [(0, 0, f"the template cannot be rendered: {error}")]
    return []


def _name_at(source: str, name: str) -> tuple[int, int]:
    """Where `name` is first used as a name in a template (0-based line, column)."""
    for lineno, kind, value in TEMPLATES.lex(source):
        if kind == "name" and value == name:
            text = source.splitlines()[lineno - 1]
            for match in re.finditer(rf"\b{re.escape(name)}\b", text):
                before = text[: match.start()]
                opened = max(before.rfind("{{"), before.rfind("{%"))
                if opened > max(before.rfind("}}"), before.rfind("%}")):
                    return lineno - 1, match.start()
            return lineno - 1, 0
    return 0, 0
