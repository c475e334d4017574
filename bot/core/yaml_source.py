"""Flow YAML into plain data, with where each key and value starts (the loader's first pass).

A safe loader that reads YAML 1.2 scalars (only `true`/`false` are booleans: `yes`, `no`,
`on`, `off`, `y`, `n` stay words, so an option id `ja` or a condition `equals: yes` means
what it says). The composed nodes become plain dicts and lists while the place of each
key and value is recorded in a `SourceMap`; a key written twice in one mapping, a YAML
tag, an alias that contains itself, and a document that expands to too many values are
problems. PyYAML's own errors are said again in words a flow author can act on.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.core.problems import Loc, Position, Problem, SourceMap

__all__ = ["FlowYamlLoader", "read_yaml"]

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

    It also notes where each alias (`*name`) is written, keyed by the mapping or list it
    stands in and its place there, so that a document whose aliases expand to too many
    values is reported at the alias to edit rather than at the top of the file.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # (id of the parent node, index or id of the key node) -> where the alias is.
        self.alias_marks: dict[tuple[int, object], Position] = {}

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if parent is not None and self.check_event(AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            where = id(index) if isinstance(index, Node) else index
            self.alias_marks[(id(parent), where)] = (mark.line + 1, mark.column + 1)
        return super().compose_node(parent, index)


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


def _block_start(node: ScalarNode) -> Position:
    """Where the text of a block scalar (`|` or `>`) starts: its first line that is not
    blank, at its indentation (the line after the `|`)."""
    mark = node.start_mark
    buffer = mark.buffer or ""
    lines = buffer[mark.pointer :].split("\n")[1:]
    for k, line in enumerate(lines):
        if line.strip():
            return mark.line + 2 + k, len(line) - len(line.lstrip(" ")) + 1
    return mark.line + 1, mark.column + 1


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class _TooLarge(Exception):
    """The document expands to more than `_MAX_VALUES` values; `alias` is where the
    outermost alias being expanded is written (None when no alias is involved)."""

    def __init__(self, alias: Position | None) -> None:
        super().__init__()
        self.alias = alias


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, recording positions."""

    def __init__(self, file: str, alias_marks: dict[tuple[int, object], Position]) -> None:
        self.file = file
        self.values: dict[Loc, Position] = {}
        self.keys: dict[Loc, Position] = {}
        self.blocks: dict[Loc, Position] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.alias_marks = alias_marks
        self.expanding: list[Position] = []  # the aliases being expanded, outermost first

    def child(
        self, parent: Node, where: object, node: Node, loc: Loc, active: frozenset[int]
    ) -> Any:
        """Build `node`, which stands at `where` in `parent`, noting an alias on the way."""
        alias = self.alias_marks.get((id(parent), where))
        if alias is None:
            return self.build(node, loc, active)
        self.expanding.append(alias)
        try:
            return self.build(node, loc, active)
        finally:
            self.expanding.pop()

    def error(self, node: Node, message: str) -> None:
        line, column = _mark(node)
        self.problems.append(Problem(self.file, line, column, message))

    def build(self, node: Node, loc: Loc, active: frozenset[int]) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES:
            raise _TooLarge(self.expanding[0] if self.expanding else None)
        self.values.setdefault(loc, _mark(node))
        if isinstance(node, ScalarNode):
            if node.style in ("|", ">"):
                self.blocks.setdefault(loc, _block_start(node))
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
            return [
                self.child(node, i, item, (*loc, i), inside) for i, item in enumerate(node.value)
            ]
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
        merges: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append((key_node, value_node))
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
            out[key] = self.child(node, id(key_node), value_node, (*loc, key), active)
        # `<<: *defaults` merges another mapping in; keys written here win, as in YAML.
        for key_node, merge in merges:
            listed = isinstance(merge, SequenceNode)
            sources = merge.value if listed else [merge]
            for i, source in enumerate(sources):
                if not isinstance(source, MappingNode):
                    self.error(
                        source,
                        "'<<' must be followed by an alias of a mapping, e.g. '<<: *defaults'",
                    )
                    continue
                parent, where = (merge, i) if listed else (node, id(key_node))
                for key, value in self.child(parent, where, source, loc, active).items():
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


def _opens_unclosed(error: yaml.MarkedYAMLError) -> bool:
    """Does the file end inside a quoted text or a bracket that `context_mark` opens?"""
    context, problem = error.context or "", error.problem or ""
    ends = "end of stream" in problem or "<stream end>" in problem
    return error.context_mark is not None and (
        "quoted scalar" in context or ("while parsing a flow" in context and ends)
    )


def _yaml_mark(error: yaml.MarkedYAMLError) -> Any:
    """Where a person must edit: where an unclosed quote or bracket opens, else where
    PyYAML noticed the problem."""
    if _opens_unclosed(error):
        return error.context_mark
    return error.problem_mark or error.context_mark


def _yaml_message(error: yaml.MarkedYAMLError) -> str:
    if _opens_unclosed(error):
        if "quoted scalar" in (error.context or ""):
            return (
                "the YAML cannot be read: this quoted text is never closed; "
                "add the closing quote where the text ends"
            )
        return (
            "the YAML cannot be read: this bracket is never closed; "
            "add the closing ] or } where the list or mapping ends"
        )
    said = " ".join(part for part in (error.context, error.problem) if part)
    for needle, hint in _YAML_HINTS:
        if needle in said:
            return f"the YAML cannot be read: {hint}"
    return f"the YAML cannot be read: {said or error}"


def read_yaml(text: str, path: str) -> tuple[Any, SourceMap, list[Problem]]:
    """YAML text -> (plain data, where each part starts, problems).

    The data is None when the YAML cannot be read at all; the problems say why.
    """
    loader = FlowYamlLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = _yaml_mark(error)
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
    builder = _Builder(path, loader.alias_marks)
    try:
        data = builder.build(root, (), frozenset())
    except _TooLarge as error:
        line, column = error.alias or (1, 1)
        return (
            None,
            SourceMap(path),
            [
                Problem(
                    path,
                    line,
                    column,
                    "the YAML expands to too many values: this alias repeats a part that "
                    "itself repeats others (aliases inside aliases); write the values out "
                    "or use fewer aliases",
                )
            ],
        )
    except RecursionError:
        return None, SourceMap(path), [Problem(path, 1, 1, "the YAML is nested too deeply")]
    source = SourceMap(path, builder.values, builder.keys, builder.blocks)
    return data, source, builder.problems
