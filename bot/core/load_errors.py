"""Pydantic's errors about a flow, said again in a flow author's words (the loader's second pass).

Each error is put at the place in the file it concerns, with the step, question or case
it is in and the nearest valid name for a misspelt key. Where a value fits none of a
union's forms (a text, a trigger, a branch case), only the errors of the form the author
evidently meant are kept.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from bot.core import model
from bot.core.model import STEP_KINDS, AnswerType, Flow
from bot.core.problems import Loc, Problem, SourceMap, closest, describe, suggestion

__all__ = ["schema_problems", "step_kind_problems"]


# The union forms pydantic tried on the way to an error: (place in the data, form name).
_Branches = tuple[tuple[Loc, str], ...]


@dataclass(frozen=True)
class _Place:
    """A pydantic error location resolved against the model types."""

    loc: Loc  # the place in the data (union branch names removed)
    owner: type[BaseModel] | None  # the model holding the last key, if any
    expected: Any  # the type expected at that place
    branches: _Branches  # the union forms tried on the way
    at_key: bool  # the error is about a dict key, not its value


def _is_union(t: Any) -> bool:
    return get_origin(t) in (Union, types.UnionType)


def _strip(t: Any) -> Any:
    """The type without `Annotated[...]` and without `| None` (pydantic does not name
    those in error locations)."""
    while True:
        if get_origin(t) is Annotated:
            t = get_args(t)[0]
            continue
        if _is_union(t):
            members = [m for m in get_args(t) if m is not type(None)]
            if len(members) == 1:
                t = members[0]
                continue
        return t


def _branch_name(member: Any) -> str:
    if get_origin(member) is Annotated:
        for extra in member.__metadata__:
            if isinstance(extra, Tag):
                return extra.tag
        member = get_args(member)[0]
    if isinstance(member, type):
        return member.__name__
    origin = get_origin(member)
    return getattr(origin, "__name__", str(member))


def _branch(union: Any, name: str) -> Any:
    for member in get_args(union):
        label = _branch_name(member)
        if name == label or name.startswith(f"{label}["):
            return _strip(member)
    return Any


def _field(owner: type[BaseModel], key: object) -> Any:
    for name, info in owner.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _resolve(loc: tuple[int | str, ...]) -> _Place:
    t: Any = Flow
    data: list[object] = []
    branches: list[tuple[Loc, str]] = []
    owner: type[BaseModel] | None = None
    at_key = False
    for part in loc:
        t = _strip(t)
        if part == "[key]":
            at_key = True
            args = get_args(t)
            t = args[0] if args else Any
            continue
        if _is_union(t):
            # Pydantic names the union member it tried: a step kind, a model's class
            # name, or a type such as 'str' or 'dict[str,str]'.
            branches.append((tuple(data), str(part)))
            t = _branch(t, str(part))
            continue
        if isinstance(t, type) and issubclass(t, BaseModel):
            owner = t
            data.append(part)
            t = _field(t, part)
            continue
        owner = None
        data.append(part)
        origin, args = get_origin(t), get_args(t)
        if origin is tuple or origin is list:
            t = args[0] if args else Any
        elif origin is dict:
            t = args[1] if len(args) == 2 else Any
        else:
            t = Any
    return _Place(tuple(data), owner, _strip(t), tuple(branches), at_key)


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_dict or in_list):
            return None
        data = data[part]
    return data


_MODELS: dict[str, type[BaseModel]] = {
    name: value
    for name, value in vars(model).items()
    if isinstance(value, type) and issubclass(value, BaseModel)
}


def _keys_of(owner: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in owner.model_fields.items()]


@dataclass
class _Error:
    place: _Place
    kind: str  # pydantic's error type, or "union" for a union none of whose forms fit
    value: Any
    ctx: Mapping[str, Any]
    names: tuple[str, ...] = ()  # for "union": the forms that were tried


def _choose(errors: list[tuple[_Branches, _Error]], data: Any) -> list[_Error]:
    """Keep, at each union, only the errors of the form the author evidently meant.

    Pydantic reports, for a value that fits none of a union's forms, why it fails every
    one of them. An author who wrote `{nl: ..., en: ...}` meant a text per language, not a
    catalogue reference; an author who wrote `event: visit` meant an event trigger. A form
    is out when the value has the wrong shape for it (an error right at the union's
    place) or, for a model, when the value shares no key with it; of the rest, the one
    with the fewest errors wins. When no form is left, one error says what was expected.
    """
    out: list[_Error] = []
    groups: dict[Loc, dict[str, list[tuple[_Branches, _Error]]]] = {}
    for rest, error in errors:
        if not rest:
            out.append(error)
            continue
        (where, name), later = rest[0], rest[1:]
        groups.setdefault(where, {}).setdefault(name, []).append((later, error))
    for where, forms in groups.items():
        value = _at(data, where)
        fitting = {}
        for name, members in forms.items():
            if any(e.place.loc == where and not later for later, e in members):
                continue
            form = _MODELS.get(name)
            if (
                form is not None
                and isinstance(value, dict)
                and not set(map(str, value)) & set(_keys_of(form))
            ):
                continue
            fitting[name] = members
        if not fitting:
            place = _Place(where, None, None, (), False)
            out.append(_Error(place, "union", value, {}, tuple(forms)))
            continue
        best = min(fitting, key=lambda n: len(fitting[n]))
        out.extend(_choose(fitting[best], data))
    return out


# --------------------------------------------------------------------------- messages

_NOUNS: dict[str, str] = {
    "Flow": "the flow",
    "Permissions": "permissions",
    "SayBody": "say",
    "AskBody": "ask",
    "CollectBody": "collect",
    "PhaseBody": "phase",
    "RoundBody": "round",
    "SummaryBody": "summary",
    "BranchCase": "this branch case",
    "BranchOtherwise": "this branch case",
    "StartFlowBody": "start_flow",
    "WaitBody": "wait",
    "EndBody": "end",
    "Question": "this question",
    "Option": "this option",
    "Condition": "this condition",
    "CommandTrigger": "this trigger",
    "ScheduleTrigger": "this trigger",
    "EventTrigger": "this trigger",
    "AfterFlowTrigger": "this trigger",
    "CadenceTrigger": "this trigger",
    "Cadence": "cadence",
    "CatalogueRef": "a catalogue reference",
}

_EXAMPLES: dict[str, str] = {
    "id": "a short name in lower case, e.g. 'id: welkom'",
    "title": "e.g. 'title: {nl: ..., en: ...}'",
    "steps": "a list of steps",
    "text": "e.g. 'text: {nl: ..., en: ...}'",
    "duration": "e.g. 'duration: 25m'",
    "deadline": "e.g. 'deadline: 3d' or 'deadline: 2h before event'",
    "type": "one of " + ", ".join(t.value for t in AnswerType),
    "goto": "the id of the step to go to",
    "otherwise": "the id of the step to go to",
    "answer": "e.g. 'answer: check-in.spanning'",
    "questions": "a list of questions",
    "question": "e.g. 'question: {id: ..., type: text, text: ...}'",
    "flow": "the id of the flow to start",
    "catalogue": "the key of a text in flows/catalogue.yaml",
}


def _where(data: Any, loc: Loc) -> str:
    """Which step, question, option or case `loc` is in, e.g. "step 'stap-2', question
    'medewerker'": enough to recognise it without looking up the line."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        node = _at(node, (part,))
        before = loc[i - 1] if i else None
        if isinstance(part, int):
            ident = node.get("id") if isinstance(node, dict) else None
            name = f"'{ident}'" if isinstance(ident, str) else str(part + 1)
            if before == "steps":
                parts.append(f"step {name}")
            elif before == "questions":
                parts.append(f"question {name}")
            elif before == "options":
                parts.append(f"option {name}")
            elif before == "triggers":
                parts.append(f"trigger {part + 1}")
            elif before == "branch":
                parts.append(f"case {part + 1}")
        elif part == "question" and isinstance(node, dict) and isinstance(node.get("id"), str):
            parts.append(f"question '{node['id']}'")
    return ", ".join(parts)


def _choices(expected: Any) -> list[str]:
    if (
        isinstance(expected, type)
        and issubclass(expected, str)
        and hasattr(expected, "__members__")
    ):
        return [str(m.value) for m in expected.__members__.values()]
    if get_origin(expected) is Literal:
        return [str(a) for a in get_args(expected)]
    return []


def _keys_hint(value: Any, keys: list[str]) -> str:
    """A suggestion for the first key of `value` that looks like a misspelling of one of
    `keys`."""
    if isinstance(value, dict):
        for key in value:
            close = closest(key, keys)
            if close and key not in keys:
                return f"; did you mean '{close}' instead of '{key}'?"
    return ""


def _union_message(names: tuple[str, ...], value: Any, subject: str) -> str:
    shown = describe(value)
    if "CatalogueRef" in names:
        return (
            f"{subject} must be a text, not {shown}: a plain text, a text per language "
            "such as {nl: ..., en: ...}, or {catalogue: key}"
        )
    if "CommandTrigger" in names:
        kinds = ["command", "schedule", "event", "after_flow", "cadence"]
        return (
            "a trigger needs one of command, schedule, event, after_flow or cadence, "
            f"e.g. '- command: intervisie'{_keys_hint(value, kinds)}"
        )
    if "BranchCase" in names:
        keys = ["when", "all", "any", "goto", "otherwise"]
        return (
            "a branch case is 'when: {answer: ..., equals: ...}' with 'goto: <step id>',"
            f" or 'otherwise: <step id>'{_keys_hint(value, keys)}"
        )
    if "StartFlowBody" in names:
        return (
            "start_flow takes the id of a flow, or {flow: <id>, participants: same}, "
            f"not {shown}{_keys_hint(value, ['flow', 'participants'])}"
        )
    words = {"str": "a word", "int": "a whole number", "bool": "true or false", "float": "a number"}
    wanted = [words.get(n, n) for n in names]
    listed = ", ".join(wanted[:-1]) + " or " + wanted[-1] if len(wanted) > 1 else wanted[0]
    return f"{subject} must be {listed}, not {shown}"


def _message(error: _Error) -> tuple[str, Loc, bool]:
    """(message, place, at_key) for one remaining pydantic error."""
    place, kind, value = error.place, error.kind, error.value
    loc = place.loc
    last = loc[-1] if loc else ""
    if place.at_key:
        subject = "this key"
    elif isinstance(last, str) and last:
        subject = f"'{last}'"
    else:
        subject = "this value"
    if kind == "union":
        return _union_message(error.names, value, subject), loc, False
    noun = _NOUNS.get(place.owner.__name__, "this part") if place.owner else "this part"
    if place.owner is not None and place.owner.__name__.endswith("Step"):
        noun = "the step"
    if kind == "missing":
        example = _EXAMPLES.get(str(last))
        hint = f" ({example})" if example else ""
        return f"{noun} needs '{last}'{hint}; add it", loc, False
    if kind == "extra_forbidden":
        allowed = _keys_of(place.owner) if place.owner else []
        hint = suggestion(last, allowed)
        if not hint and allowed:
            hint = "; allowed here: " + ", ".join(allowed)
        return f"unknown key '{last}' in {noun}{hint}", loc, True
    shown = describe(value)
    at_key = place.at_key
    if kind == "invalid_key":
        return f"the key {shown} is not a word; keys here are words such as 'title'", loc, True
    if kind in ("string_type", "string_sub_type"):
        return f"{subject} must be a text, not {shown}", loc, at_key
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{subject} must be a whole number, not {shown}", loc, at_key
    if kind in ("float_type", "float_parsing"):
        return f"{subject} must be a number, not {shown}", loc, at_key
    if kind in ("bool_type", "bool_parsing"):
        return f"{subject} must be true or false, not {shown}", loc, at_key
    if kind in ("enum", "literal_error"):
        allowed = _choices(place.expected) or [str(error.ctx.get("expected", ""))]
        return (
            (
                f"{subject} cannot be {shown}; use one of: {', '.join(allowed)}"
                f"{suggestion(value, allowed)}"
            ),
            loc,
            at_key,
        )
    if kind in ("tuple_type", "list_type"):
        example = f"; write e.g. [{value}]" if isinstance(value, str | int) else ""
        return f"{subject} must be a list, not {shown}{example}", loc, at_key
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return (f"{subject} must be a mapping (lines of 'key: value'), not {shown}", loc, at_key)
    if kind == "too_short":
        if loc == ("steps",):
            return "a flow needs at least one step", loc, False
        return f"{subject} needs at least {error.ctx.get('min_length', 1)} items", loc, False
    if kind in ("greater_than_equal", "greater_than"):
        bound = error.ctx.get("ge", error.ctx.get("gt"))
        return f"{subject} must be at least {bound}, not {shown}", loc, at_key
    return f"{subject} cannot be {shown}", loc, at_key


def step_kind_problems(data: Any, source: SourceMap) -> tuple[list[Problem], set[int]]:
    """One clear problem per step that has no kind, or more than one, or is no mapping."""
    problems: list[Problem] = []
    bad: set[int] = set()
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        return problems, bad
    listed = ", ".join(STEP_KINDS)
    for i, step in enumerate(steps):
        loc: Loc = ("steps", i)
        if not isinstance(step, dict):
            bad.add(i)
            problems.append(
                source.error(
                    loc,
                    f"each step is a mapping with an 'id' and one of {listed}, "
                    f"not {describe(step)}",
                )
            )
            continue
        kinds = [k for k in step if k in STEP_KINDS]
        if len(kinds) == 1:
            continue
        bad.add(i)
        ident = step.get("id")
        name = f"step '{ident}'" if isinstance(ident, str) else f"step {i + 1}"
        if not kinds:
            hint = ""
            for key in step:
                close = closest(key, STEP_KINDS) if key not in ("id", "next") else None
                if close and not hint:
                    hint = f"; '{key}' is not a kind: did you mean '{close}'?"
            problems.append(
                source.error(loc, f"{name} needs exactly one of {listed}; found none{hint}")
            )
        else:
            found = " and ".join(kinds) if len(kinds) == 2 else ", ".join(kinds)
            both = "both " if len(kinds) == 2 else ""
            problems.append(
                source.error(
                    (*loc, kinds[1]),
                    f"{name} needs exactly one of {listed}; found {both}{found}: "
                    "split it into separate steps",
                    key=True,
                )
            )
    return problems, bad


def schema_problems(
    data: Any, source: SourceMap, error: ValidationError, skip_steps: set[int]
) -> tuple[list[Problem], set[int], bool]:
    """Problems for pydantic's errors; also which steps failed and whether anything outside
    the steps did."""
    raw: list[tuple[_Branches, _Error]] = []
    for item in error.errors(include_url=False):
        if item["type"].startswith("union_tag_"):
            continue  # the step-kind check says this more clearly
        place = _resolve(tuple(item["loc"]))
        if item["type"] == "too_short" and place.loc == ("steps",):
            steps = _at(data, ("steps",))
            if isinstance(steps, list) and steps:
                continue  # pydantic counts the steps that failed as missing
        raw.append(
            (place.branches, _Error(place, item["type"], item.get("input"), item.get("ctx") or {}))
        )
    chosen = _choose(raw, data)
    # A misspelt key is reported once, as unknown with a suggestion, not a second time as
    # the field it was meant to be that is now missing.
    misspelt = {
        (e.place.loc[:-1], closest(e.place.loc[-1], _keys_of(e.place.owner)))
        for e in chosen
        if e.kind == "extra_forbidden" and e.place.owner and e.place.loc
    }
    problems = []
    failed_steps: set[int] = set()
    outside = False
    for e in chosen:
        if (
            e.kind == "missing"
            and e.place.loc
            and ((e.place.loc[:-1], str(e.place.loc[-1])) in misspelt)
        ):
            continue
        loc = e.place.loc
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            if loc[1] in skip_steps:
                continue
            failed_steps.add(loc[1])
        else:
            outside = True
        message, where, at_key = _message(e)
        context = _where(data, where if not at_key else where[:-1])
        if context:
            message = f"{context}: {message}"
        problems.append(source.error(where, message, key=at_key))
    return problems, failed_steps, outside
