"""Flow texts in the team's form of address: the "u" variant of a text for teams that say "u".

A flow text may carry, next to `nl`, an `nl@u` variant (and `en@u`, `nl-BE@u`, ... where
a language has one): `{nl: "Hoe zit je erbij?", nl@u: "Hoe zit u erbij?", en: ...}`. A team
set to address people with "u" (`/samen aanspreekvorm u`) reads the variant wherever one
is given, and the plain text elsewhere; a "je" team never sees a variant. This matches how
the system catalogue (`i18n.py`) chooses its `nl@u` sentences.

The engine asks for `addressed(flow, run.address)` on every event, so every text it
renders — prompts, forms, summaries, closing words — is already in the right form; the
rest of the core needs to know nothing about address. A flow without any variant is
returned as itself.
"""

from __future__ import annotations

from typing import Any, Final

from bot.core.model import Flow

U: Final = "u"
SUFFIX: Final = "@u"

# Keyed on the object, like the engine's step index: (flow, its "u" version).
_ADDRESSED: dict[int, tuple[Flow, Flow]] = {}


def addressed(flow: Flow, address: str) -> Flow:
    """`flow` with every text that has a "u" variant replaced by it, for a "u" team."""
    if address != U:
        return flow
    hit = _ADDRESSED.get(id(flow))
    if hit is not None and hit[0] is flow:
        return hit[1]
    if len(_ADDRESSED) >= 256:
        _ADDRESSED.clear()
    dumped = flow.model_dump(mode="python", by_alias=True)
    changed, swapped = _swap(dumped)
    result = Flow.model_validate(swapped) if changed else flow
    _ADDRESSED[id(flow)] = (flow, result)
    return result


def is_variant(key: object) -> bool:
    """Is this key of a text the "u" variant of a language (`nl@u`)?"""
    return isinstance(key, str) and key.endswith(SUFFIX) and len(key) > len(SUFFIX)


def base_language(key: str) -> str:
    """`nl@u` -> `nl`."""
    return key[: -len(SUFFIX)] if is_variant(key) else key


def _swap(value: Any) -> tuple[bool, Any]:
    if isinstance(value, dict):
        variants = [k for k in value if is_variant(k)]
        changed = bool(variants)
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if is_variant(k):
                continue
            inner_changed, inner = _swap(v)
            changed = changed or inner_changed
            out[k] = inner
        for k in variants:
            out[base_language(k)] = value[k]
        return changed, out
    if isinstance(value, list | tuple):
        parts = [_swap(v) for v in value]
        return any(c for c, _ in parts), type(value)(v for _, v in parts)
    return False, value
