"""Flow files from YAML text to `Flow` values, with every problem at its file:line:column.

Pure: the caller reads the file and passes its text; `path` is only used in messages.

Reading happens in three passes, so that an author sees every problem at once:

1. YAML is composed into nodes with a safe loader that reads YAML 1.2 scalars (only
   `true`/`false` are booleans: `yes`, `no`, `on`, `off`, `y`, `n` stay words, so an
   option id `ja` or a condition `equals: yes` means what it says). The nodes are turned
   into plain dicts and lists while recording where each key and value starts; a key
   written twice in one mapping is an error at the second one.
2. The plain data is validated by the pydantic models in `model.py`. Each pydantic error
   is translated into plain words at the place in the file it concerns, with the nearest
   valid name suggested for a misspelt key.
3. The semantic checks of `validate.py` (targets, reachability, durations, texts per
   language, roles, ...) run on the resulting `Flow`. When only some steps are broken,
   those steps are replaced by stand-ins so that the checks still run on the rest.

The passes live in their own modules: `bot.core.yaml_source` (YAML with positions),
`bot.core.load_errors` (pydantic's errors in an author's words) and `bot.core.texts`
(the catalogue); this module puts them together and keeps the names the shell uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.core.load_errors import schema_problems, step_kind_problems
from bot.core.model import Flow
from bot.core.problems import FlowLoadError, Problem, SourceMap, describe, sorted_problems
from bot.core.texts import Catalogue, check_catalogue, load_catalogue, resolve_texts
from bot.core.validate import stand_in_id, validate_flow
from bot.core.yaml_source import read_yaml

__all__ = [
    "Catalogue",
    "FlowLoadError",
    "FlowReading",
    "Problem",
    "check_catalogue",
    "check_flow",
    "load_catalogue",
    "load_flow",
    "read_flow",
    "read_yaml",
]


@dataclass(frozen=True)
class FlowReading:
    """What reading one flow file gave: the flow (None when it could not be built), every
    problem in file order, and where each part of the file starts."""

    flow: Flow | None
    problems: list[Problem]
    source: SourceMap
    # The flow with harmless stand-ins for its broken steps, to draw (never to run).
    drawable: Flow | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def broken_steps(self, errors: Sequence[Problem] | None = None) -> frozenset[str]:
        """The ids of the steps `errors` (default: this reading's) point into, to mark
        them in a drawing."""
        flow = self.drawable
        if flow is None:
            return frozenset()
        starts = [
            (self.source.position(("steps", i))[0], step.id) for i, step in enumerate(flow.steps)
        ]
        first_step = starts[0][0] if starts else 0
        broken = set()
        for problem in self.errors if errors is None else errors:
            if problem.line < first_step:
                continue
            owner = max((s for s in starts if s[0] <= problem.line), default=None)
            if owner is not None:
                broken.add(owner[1])
        return frozenset(broken)


def read_flow(text: str, path: str, catalogue: Catalogue | None = None) -> FlowReading:
    """Read one flow file: YAML, model, catalogue texts and semantic checks."""
    data, source, problems = read_yaml(text, path)
    if data is None:
        return FlowReading(None, problems, source)
    if not isinstance(data, dict):
        problems.append(
            source.error(
                (), (f"a flow is a mapping with at least id, title and steps, not {describe(data)}")
            )
        )
        return FlowReading(None, sorted_problems(problems), source)
    kind_problems, bad_steps = step_kind_problems(data, source)
    problems += kind_problems
    flow: Flow | None = None
    stand_ins: frozenset[int] = frozenset()
    try:
        flow = Flow.model_validate(data)
    except ValidationError as error:
        schema, failed, outside = schema_problems(data, source, error, bad_steps)
        problems += schema
        if not outside:
            flow, stand_ins = _with_stand_ins(data, failed | bad_steps)
    if flow is None:
        return FlowReading(None, sorted_problems(problems), source)
    if catalogue is not None:
        flow = resolve_texts(flow, (), catalogue, source, problems)
    assert isinstance(flow, Flow)
    problems += validate_flow(flow, source, stand_ins=stand_ins)
    # A flow built with stand-ins is not the flow the author wrote: never hand it out.
    built = None if stand_ins else flow
    return FlowReading(built, sorted_problems(problems), source, flow)


def _with_stand_ins(data: dict[Any, Any], failed: set[int]) -> tuple[Flow | None, frozenset[int]]:
    steps = data.get("steps")
    if not failed or not isinstance(steps, list):
        return None, frozenset()
    languages = data.get("languages")
    langs = (
        [x for x in languages if isinstance(x, str)] if isinstance(languages, list) else []
    ) or ["nl"]
    kept = [_stand_in(i, step, langs) if i in failed else step for i, step in enumerate(steps)]
    try:
        return Flow.model_validate({**data, "steps": kept}), frozenset(failed)
    except ValidationError:
        return None, frozenset()


def _stand_in(index: int, step: Any, languages: list[str]) -> dict[str, Any]:
    """A harmless step with the same id and next, so checks on the rest can still run.

    A step without a usable id gets one no author can write or refer to, so that it
    keeps its place (and every later step its line numbers) without clashing."""
    ident = step.get("id") if isinstance(step, dict) else None
    stand_in: dict[str, Any] = {
        "id": ident if isinstance(ident, str) else stand_in_id(index),
        "say": {"text": dict.fromkeys(languages, "")},
    }
    if isinstance(step, dict) and isinstance(step.get("next"), str):
        stand_in["next"] = step["next"]
    return stand_in


def check_flow(
    text: str, path: str, catalogue: Catalogue | None = None
) -> tuple[Flow | None, list[Problem]]:
    """The flow and ALL problems (errors and warnings) in file order.

    The flow is None when the file could not be turned into one. A flow is returned even
    when the semantic checks found errors (so that it can still be drawn); use
    `load_flow` where only a correct flow will do.
    """
    reading = read_flow(text, path, catalogue)
    return reading.flow, reading.problems


def load_flow(text: str, path: str, catalogue: Catalogue | None = None) -> Flow:
    """The flow; raises FlowLoadError listing every error when there is any."""
    reading = read_flow(text, path, catalogue)
    if reading.errors or reading.flow is None:
        raise FlowLoadError(tuple(reading.errors))
    return reading.flow
