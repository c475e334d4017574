"""The shared text catalogue of the flows, and the catalogue references in a flow resolved
to their texts (the loader's third pass, before the semantic checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from bot.core.model import CatalogueRef
from bot.core.problems import (
    FlowLoadError,
    Loc,
    Problem,
    SourceMap,
    describe,
    sorted_problems,
    suggestion,
)
from bot.core.yaml_source import read_yaml

__all__ = ["Catalogue", "check_catalogue", "load_catalogue", "resolve_texts"]

# key -> {language: text}
Catalogue = Mapping[str, Mapping[str, str]]


def resolve_texts(
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
            new = resolve_texts(old, (*loc, info.alias or name), catalogue, source, problems)
            if new is not old:
                changed[name] = new
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, tuple):
        items = tuple(
            resolve_texts(v, (*loc, i), catalogue, source, problems) for i, v in enumerate(value)
        )
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        entries = {
            k: resolve_texts(v, (*loc, k), catalogue, source, problems) for k, v in value.items()
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
                source.error(loc, f"catalogue key {describe(key)} must be a word", key=True)
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
                    "{nl: ..., en: ...}, not " + describe(value),
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
                    f"'{key}': the {lang} text must be a text, not {describe(value[lang])}",
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
