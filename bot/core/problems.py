"""Problems found in a flow file, and the map from places in the file to line:column.

The loader records where every key and value of a flow file starts; the loader and the
validator turn what they find into `Problem`s that point at the exact place, so that an
author can go there in an editor (`flows/x.yaml:12:15: error: ...`). `FlowLoadError`
carries them out of the loader; `closest`, `suggestion` and `describe` are the words the
messages share.

Every pass of the loader and the validator uses this module; `loader.py` re-exports
`Problem` and `FlowLoadError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

# A place in a flow document: the keys and list indices from the top, e.g.
# ('steps', 3, 'phase', 'duration'). Keys are whatever YAML made of them (mostly str).
Loc = tuple[object, ...]

# 1-based (line, column), like compilers and editors.
Position = tuple[int, int]


@dataclass(frozen=True)
class Problem:
    """One thing wrong (error) or suspicious (warning) in a flow file."""

    path: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.message}"


class FlowLoadError(Exception):
    """A flow (or catalogue) file has errors; `problems` lists all of them."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class SourceMap:
    """Where each value (and each mapping key) of one YAML document starts, and where the
    text of each block scalar (`|` or `>`) starts, on the line after its indicator."""

    file: str
    values: Mapping[Loc, Position] = field(default_factory=dict)
    keys: Mapping[Loc, Position] = field(default_factory=dict)
    blocks: Mapping[Loc, Position] = field(default_factory=dict)

    def text_position(self, loc: Loc, line: int, column: int) -> Position:
        """The file position of (0-based) `line` and `column` inside the text at `loc`:
        exact for a block scalar, on the value's own line for an inline one."""
        if loc in self.blocks:
            first, indent = self.blocks[loc]
            return first + line, indent + column
        at_line, at_column = self.position(loc)
        return at_line + line, (at_column if line else at_column + column)

    def position(self, loc: Loc, *, key: bool = False) -> Position:
        """The start of the value at `loc`, or of its key when `key` is set.

        A place that is not in the file (a missing field, a default) falls back to the
        nearest enclosing value that is, so every problem still gets a line and column.
        """
        if key and loc in self.keys:
            return self.keys[loc]
        probe = loc
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def problem(
        self, loc: Loc, message: str, severity: Severity = "error", *, key: bool = False
    ) -> Problem:
        line, column = self.position(loc, key=key)
        return Problem(self.file, line, column, message, severity)

    def error(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        return self.problem(loc, message, "error", key=key)

    def warning(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        return self.problem(loc, message, "warning", key=key)


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """In file order, without repeats (two checks may find the same thing)."""
    seen: set[Problem] = set()
    unique = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return sorted(unique, key=lambda p: (p.path, p.line, p.column))


def closest(word: object, candidates: Iterable[object]) -> str | None:
    """The candidate most like `word` (a misspelling of it), or None when none is close."""
    names = sorted({str(c) for c in candidates} - {str(word)})
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return close[0] if close else None


def suggestion(word: object, candidates: Iterable[object]) -> str:
    """ "; did you mean 'x'?" for the closest candidate, or "" when none is close."""
    close = closest(word, candidates)
    return f"; did you mean '{close}'?" if close else ""


def describe(value: Any) -> str:
    """A value as a message names it: 'ja', the number 3, a list, nothing."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return f"'{shown}'"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
