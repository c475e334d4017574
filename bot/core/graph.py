"""A flow drawn as a Mermaid flowchart: one node per step, its ways on, and the end.

Pure. `samen flows graph` prints it; paste it into any Mermaid viewer (GitHub renders it
in a ```mermaid block) to see the shape of a flow and its branches.
"""

from __future__ import annotations

from bot.core.model import (
    DEFAULT_LANGUAGE,
    AskStep,
    BranchCase,
    BranchStep,
    CatalogueRef,
    CollectStep,
    Condition,
    EndStep,
    Flow,
    PhaseStep,
    RoundStep,
    SayStep,
    StartFlowBody,
    StartFlowStep,
    Step,
    SummaryStep,
    Text,
    WaitStep,
    step_kind_of,
)

__all__ = ["to_mermaid"]

_MAX_LABEL = 40

# The name of each step kind as a team reads it.
_KINDS: dict[str, dict[str, str]] = {
    "nl": {
        "say": "bericht",
        "ask": "vraag",
        "collect": "uitvraag",
        "phase": "fase",
        "round": "rondje",
        "summary": "samenvatting",
        "branch": "keuze",
        "start_flow": "start flow",
        "wait": "wacht",
        "end": "einde",
    },
    "en": {
        "say": "message",
        "ask": "question",
        "collect": "collect",
        "phase": "phase",
        "round": "round",
        "summary": "summary",
        "branch": "branch",
        "start_flow": "start flow",
        "wait": "wait",
        "end": "end",
    },
}
_WORDS: dict[str, dict[str, str]] = {
    "nl": {
        "end": "einde",
        "otherwise": "anders",
        "all": "iedereen",
        "and": "en",
        "or": "of",
        "answered": "beantwoord",
        "unanswered": "niet beantwoord",
        "question": "vraag",
        "questions": "vragen",
        "deadline": "tot",
        "for": "wacht",
        "until": "tot",
        "missing": "onbekend",
    },
    "en": {
        "end": "end",
        "otherwise": "otherwise",
        "all": "everyone",
        "and": "and",
        "or": "or",
        "answered": "answered",
        "unanswered": "not answered",
        "question": "question",
        "questions": "questions",
        "deadline": "until",
        "for": "wait",
        "until": "until",
        "missing": "unknown",
    },
}


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language.split("-")[0], _WORDS["en"])


def _text(value: Text | None, language: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, CatalogueRef):
        return value.catalogue
    base = language.split("-")[0]
    for lang in (language, base, DEFAULT_LANGUAGE):
        if lang in value:
            return value[lang]
    return next(iter(value.values()), "")


def _short(text: str, limit: int = _MAX_LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quote(label: str) -> str:
    """A Mermaid string: in double quotes, with the characters Mermaid reads as markup
    written as entity codes (`#` first, since the codes themselves start with it)."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        label = label.replace(char, code)
    return f'"{label}"'


def _detail(step: Step, language: str) -> str:
    words = _words(language)
    if isinstance(step, PhaseStep):
        return f"{_short(_text(step.phase.title, language))} ({step.phase.duration})"
    if isinstance(step, SayStep):
        return _short(_text(step.say.text, language))
    if isinstance(step, AskStep):
        return _short(_text(step.ask.question.text, language))
    if isinstance(step, RoundStep):
        return _short(_text(step.round.question.text, language))
    if isinstance(step, CollectStep):
        count = len(step.collect.questions)
        noun = words["question"] if count == 1 else words["questions"]
        return f"{count} {noun}, {words['deadline']} {step.collect.deadline}"
    if isinstance(step, SummaryStep):
        return _short(_text(step.summary.title, language))
    if isinstance(step, StartFlowStep):
        target = step.start_flow
        return target.flow if isinstance(target, StartFlowBody) else target
    if isinstance(step, WaitStep):
        if step.wait.for_ is not None:
            return step.wait.for_
        return f"{words['until']} {step.wait.until}"
    if isinstance(step, EndStep) and step.end is not None:
        return _short(_text(step.end.text, language))
    return ""


def _condition(c: Condition, language: str) -> str:
    words = _words(language)
    if c.equals is not None:
        test = f"= {c.equals}"
    elif c.in_ is not None:
        test = "in " + ", ".join(str(v) for v in c.in_)
    elif c.at_least is not None:
        test = f"≥ {c.at_least}"
    elif c.at_most is not None:
        test = f"≤ {c.at_most}"
    elif c.answered is not None:
        test = words["answered"] if c.answered else words["unanswered"]
    else:
        test = "?"
    who = f" ({words['all']})" if c.who == "all" else ""
    return f"{c.answer} {test}{who}"


def _case(case: BranchCase, language: str) -> str:
    words = _words(language)
    if case.when is not None:
        return _condition(case.when, language)
    if case.all is not None:
        return f" {words['and']} ".join(_condition(c, language) for c in case.all)
    if case.any is not None:
        return f" {words['or']} ".join(_condition(c, language) for c in case.any)
    return "?"


def to_mermaid(
    flow: Flow, language: str = DEFAULT_LANGUAGE, broken: frozenset[str] = frozenset()
) -> str:
    """A `flowchart TD` of `flow`, with labels in `language` (falling back to Dutch); the
    steps named in `broken` (those with errors) are drawn in red."""
    words = _words(language)
    kinds = _KINDS.get(language.split("-")[0], _KINDS["en"])
    node = {step.id: f"s{i}" for i, step in reversed(list(enumerate(flow.steps)))}
    lines = ["flowchart TD"]
    missing: dict[str, str] = {}

    def ref(target: str | None) -> str:
        if target is None:
            return "END"
        if target in node:
            return node[target]
        # A target that is not a step (the validator reports it) still gets drawn.
        return missing.setdefault(target, f"x{len(missing)}")

    edges: list[str] = []

    def edge(source: str, target: str | None, label: str = "") -> None:
        arrow = f" -->|{_quote(_short(label, 60))}| " if label else " --> "
        edges.append(f"    {source}{arrow}{ref(target)}")

    for i, step in enumerate(flow.steps):
        me = f"s{i}"
        kind = step_kind_of(step) or "step"
        detail = _detail(step, language)
        label = f"{kinds.get(kind, kind)} {step.id}" + (f": {detail}" if detail else "")
        mark = ":::broken" if step.id in broken else ""
        if isinstance(step, BranchStep):
            lines.append(f"    {me}{{{_quote(label)}}}{mark}")
        else:
            lines.append(f"    {me}[{_quote(label)}]{mark}")
        if isinstance(step, EndStep):
            edge(me, None)
            continue
        if isinstance(step, BranchStep):
            otherwise = False
            for case in step.branch:
                if isinstance(case, BranchCase):
                    edge(me, case.goto, _case(case, language))
                else:
                    edge(me, case.otherwise, words["otherwise"])
                    otherwise = True
                    break
            if otherwise:
                continue
            edge(me, flow.next_step_id(step.id), words["otherwise"])
            continue
        edge(me, flow.next_step_id(step.id))
    lines.append(f"    END([{_quote(words['end'])}])")
    for target, ident in missing.items():
        unknown = f"{words['missing']}: {target}"
        lines.append(f"    {ident}[{_quote(unknown)}]")
    if broken & set(node):
        edges.append("    classDef broken stroke:#c00,stroke-width:3px,color:#c00")
    return "\n".join(lines + edges) + "\n"
