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
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.core import model
from bot.core.model import STEP_KINDS, AnswerType, CatalogueRef, Flow
from bot.core.problems import (
    Loc,
    Position,
    Problem,
    SourceMap,
    closest,
    sorted_problems,
    suggestion,
)
from bot.core.validate import stand_in_id, validate_flow

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

# key -> {language: text}
Catalogue = Mapping[str, Mapping[str, str]]


class FlowLoadError(Exception):
    """A flow (or catalogue) file has errors; `problems` lists all of them."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --------------------------------------------------------------------------- YAML

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

# A flow file is small; this bounds what a document full of nested aliases can expand to.
_MAX_VALUES = 200_000


class FlowYamlLoader(yaml.SafeLoader):
    """A SafeLoader that resolves plain scalars the YAML 1.2 way.

    YAML 1.1 (PyYAML's default) reads `yes`, `no`, `on`, `off`, `y` and `n` as booleans,
    `1:30` as the number 90 and `2026-12-01` as a date. In a flow those are words and
    texts, so only `true`/`false`, plain decimal numbers and `null`/`~` get a type here.
    """


FlowYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag in (_NULL, _MERGE)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowYamlLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
FlowYamlLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
FlowYamlLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def _mark(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class _TooLarge(Exception):
    pass


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, recording positions."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Loc, Position] = {}
        self.keys: dict[Loc, Position] = {}
        self.problems: list[Problem] = []
        self.count = 0

    def error(self, node: Node, message: str) -> None:
        line, column = _mark(node)
        self.problems.append(Problem(self.file, line, column, message))

    def build(self, node: Node, loc: Loc, active: frozenset[int]) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES:
            raise _TooLarge
        self.values.setdefault(loc, _mark(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if id(node) in active:
            self.error(
                node,
                "this alias refers to the mapping or list it is part of; "
                "a flow cannot contain itself",
            )
            return None
        inside = active | {id(node)}
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self.error(
                    node,
                    f"the YAML tag '{_short_tag(node.tag)}' cannot be used in a flow; remove it",
                )
            return [self.build(item, (*loc, i), inside) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                self.error(
                    node,
                    f"the YAML tag '{_short_tag(node.tag)}' cannot be used in a flow; remove it",
                )
            return self.mapping(node, loc, inside)
        return None

    def mapping(self, node: MappingNode, loc: Loc, active: frozenset[int]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "a key must be a plain word, not a list or a mapping")
                continue
            key = self.scalar(key_node)
            if key in first_line:
                self.error(
                    key_node,
                    f"'{key}' is written twice in this mapping (first on "
                    f"line {first_line[key]}); keep one of them",
                )
                continue
            first_line[key] = _mark(key_node)[0]
            self.keys.setdefault((*loc, key), _mark(key_node))
            out[key] = self.build(value_node, (*loc, key), active)
        # `<<: *defaults` merges another mapping in; keys written here win, as in YAML.
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.error(
                        source,
                        "'<<' must be followed by an alias of a mapping, e.g. '<<: *defaults'",
                    )
                    continue
                for key, value in self.build(source, loc, active).items():
                    out.setdefault(key, value)
        return out

    def scalar(self, node: ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            self.error(node, f"'{text}' is not a boolean; write true or false")
            return text
        if tag == _INT:
            try:
                return int(text)
            except ValueError:
                self.error(node, f"'{text}' is not a whole number")
                return text
        if tag == _FLOAT:
            try:
                return float(text)
            except ValueError:
                self.error(node, f"'{text}' is not a number")
                return text
        if tag != "!":
            self.error(
                node, f"the YAML tag '{_short_tag(tag)}' cannot be used in a flow; remove it"
            )
        return text


# What PyYAML says, and what a flow author can do about it.
_YAML_HINTS: tuple[tuple[str, str], ...] = (
    (
        "mapping values are not allowed here",
        "a ':' was not expected here; check the indentation of this line, and put a text "
        "that contains ': ' between quotes",
    ),
    (
        "found character '\\t' that cannot start any token",
        "a tab cannot be used for indentation; use spaces",
    ),
    (
        "could not find expected ':'",
        "expected 'key: value' here; check for a missing ':' or a line indented too far",
    ),
    (
        "did not find expected key",
        "this line is not lined up with the lines around it; check its indentation",
    ),
    (
        "did not find expected '-' indicator",
        "this line is not lined up with the list items around it; check its indentation",
    ),
    (
        "expected <block end>",
        "this line is not lined up with the lines around it; check its indentation",
    ),
    ("found unexpected end of stream", "the file ends inside a quoted text or a bracket; close it"),
    (
        "but found another document",
        "a flow file holds one flow; remove the '---' that starts a second document",
    ),
    ("found undefined alias", "this alias (*name) has no anchor (&name) before it"),
    (
        "while parsing a flow mapping",
        "inside { ... }, a text that contains ? : , [ ] { } or # must be between quotes, "
        'e.g. {nl: "Hoe gaat het?"}',
    ),
    (
        "while parsing a flow sequence",
        "inside [ ... ], a text that contains ? : , [ ] { } or # must be between quotes, "
        'e.g. ["ja, graag"]',
    ),
)


def _yaml_message(error: yaml.MarkedYAMLError) -> str:
    said = " ".join(part for part in (error.context, error.problem) if part)
    for needle, hint in _YAML_HINTS:
        if needle in said:
            return f"the YAML cannot be read: {hint}"
    return f"the YAML cannot be read: {said or error}"


def read_yaml(text: str, path: str) -> tuple[Any, SourceMap, list[Problem]]:
    """YAML text -> (plain data, where each part starts, problems).

    The data is None when the YAML cannot be read at all; the problems say why.
    """
    builder = _Builder(path)
    loader = FlowYamlLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, SourceMap(path), [Problem(path, line, column, _yaml_message(error))]
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        return (
            None,
            SourceMap(path),
            [
                Problem(
                    path,
                    line,
                    column,
                    f"the file contains a character that is not allowed in YAML ({error.reason}); "
                    "remove it",
                )
            ],
        )
    except RecursionError:
        return None, SourceMap(path), [Problem(path, 1, 1, "the YAML is nested too deeply")]
    finally:
        loader.dispose()
    if root is None:
        return None, SourceMap(path), [Problem(path, 1, 1, "the file is empty")]
    try:
        data = builder.build(root, (), frozenset())
    except (_TooLarge, RecursionError):
        return (
            None,
            SourceMap(path),
            [Problem(path, 1, 1, "the YAML expands to too many values (aliases inside aliases?)")],
        )
    source = SourceMap(path, builder.values, builder.keys)
    return data, source, builder.problems


# --------------------------------------------------------------------------- pydantic errors


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


def _show(value: Any) -> str:
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
    shown = _show(value)
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
    shown = _show(value)
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


def _step_kind_problems(data: Any, source: SourceMap) -> tuple[list[Problem], set[int]]:
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
                    (f"each step is a mapping with an 'id' and one of {listed}, not {_show(step)}"),
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


def _schema_problems(
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


# --------------------------------------------------------------------------- catalogue


def _resolve_texts(
    value: Any, loc: Loc, catalogue: Catalogue, source: SourceMap, problems: list[Problem]
) -> Any:
    """`value` with every catalogue reference replaced by its texts."""
    if isinstance(value, CatalogueRef):
        texts = catalogue.get(value.catalogue)
        if texts is None:
            problems.append(
                source.error(
                    (*loc, "catalogue"),
                    f"'{value.catalogue}' is not a key in the catalogue"
                    + (
                        suggestion(value.catalogue, catalogue)
                        or "; add it to flows/catalogue.yaml or write the text here"
                    ),
                )
            )
            return value
        return dict(texts)
    if isinstance(value, BaseModel):
        changed = {}
        for name, info in type(value).model_fields.items():
            old = getattr(value, name)
            new = _resolve_texts(old, (*loc, info.alias or name), catalogue, source, problems)
            if new is not old:
                changed[name] = new
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, tuple):
        items = tuple(
            _resolve_texts(v, (*loc, i), catalogue, source, problems) for i, v in enumerate(value)
        )
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        entries = {
            k: _resolve_texts(v, (*loc, k), catalogue, source, problems) for k, v in value.items()
        }
        return entries if any(entries[k] is not value[k] for k in value) else value
    return value


def check_catalogue(text: str, path: str) -> tuple[dict[str, dict[str, str]], list[Problem]]:
    """The shared catalogue (key -> {language: text}) and every problem in it.

    A plain string counts as Dutch, as in a flow. Entries with problems are left out.
    """
    data, source, problems = read_yaml(text, path)
    catalogue: dict[str, dict[str, str]] = {}
    if data is None:
        return catalogue, problems
    if not isinstance(data, dict):
        problems.append(
            source.error(
                (),
                "a catalogue is a mapping of keys to texts, e.g. "
                "'geen-oplossingen: {nl: ..., en: ...}'",
            )
        )
        return catalogue, sorted_problems(problems)
    for key, value in data.items():
        loc: Loc = (key,)
        if not isinstance(key, str):
            problems.append(
                source.error(loc, f"catalogue key {_show(key)} must be a word", key=True)
            )
            continue
        if isinstance(value, str):
            catalogue[key] = {"nl": value}
            continue
        if not isinstance(value, dict) or not value:
            problems.append(
                source.error(
                    loc,
                    f"'{key}' needs a text per language, e.g. "
                    "{nl: ..., en: ...}, not " + _show(value),
                )
            )
            continue
        bad = [
            lang for lang, t in value.items() if not isinstance(lang, str) or not isinstance(t, str)
        ]
        for lang in bad:
            problems.append(
                source.error(
                    (*loc, lang),
                    f"'{key}': the {lang} text must be a text, not {_show(value[lang])}",
                )
            )
        if "nl" not in value:
            problems.append(source.error(loc, f"'{key}' has no Dutch text; add 'nl: ...'"))
        if not bad and "nl" in value:
            catalogue[key] = {str(lang): str(t) for lang, t in value.items()}
    return catalogue, sorted_problems(problems)


def load_catalogue(text: str, path: str) -> dict[str, dict[str, str]]:
    """The shared catalogue; raises FlowLoadError listing every problem when it has errors."""
    catalogue, problems = check_catalogue(text, path)
    errors = tuple(p for p in problems if p.severity == "error")
    if errors:
        raise FlowLoadError(errors)
    return catalogue


# --------------------------------------------------------------------------- flows


@dataclass(frozen=True)
class FlowReading:
    """What reading one flow file gave: the flow (None when it could not be built), every
    problem in file order, and where each part of the file starts."""

    flow: Flow | None
    problems: list[Problem]
    source: SourceMap

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def read_flow(text: str, path: str, catalogue: Catalogue | None = None) -> FlowReading:
    """Read one flow file: YAML, model, catalogue texts and semantic checks."""
    data, source, problems = read_yaml(text, path)
    if data is None:
        return FlowReading(None, problems, source)
    if not isinstance(data, dict):
        problems.append(
            source.error(
                (), (f"a flow is a mapping with at least id, title and steps, not {_show(data)}")
            )
        )
        return FlowReading(None, sorted_problems(problems), source)
    kind_problems, bad_steps = _step_kind_problems(data, source)
    problems += kind_problems
    flow: Flow | None = None
    stand_ins: frozenset[int] = frozenset()
    try:
        flow = Flow.model_validate(data)
    except ValidationError as error:
        schema, failed, outside = _schema_problems(data, source, error, bad_steps)
        problems += schema
        if not outside:
            flow, stand_ins = _with_stand_ins(data, failed | bad_steps)
    if flow is None:
        return FlowReading(None, sorted_problems(problems), source)
    if catalogue is not None:
        flow = _resolve_texts(flow, (), catalogue, source, problems)
    assert isinstance(flow, Flow)
    problems += validate_flow(flow, source, stand_ins=stand_ins)
    # A flow built with stand-ins is not the flow the author wrote: never hand it out.
    built = None if stand_ins else flow
    return FlowReading(built, sorted_problems(problems), source)


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
