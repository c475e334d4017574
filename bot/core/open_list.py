"""What a person still has to answer: per open form, the question numbers left.

Pure: from a flow and its run to plain values and one message, so that `/samen open` in
the team's channel and in a private chat give the same list. The numbers are the form's
own (1 for its first question), required questions first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core import i18n
from bot.core.model import CollectStep, Flow, RoundStep
from bot.core.render import step_questions, text, when
from bot.core.run import Run, RunStatus


@dataclass(frozen=True, slots=True)
class OpenForm:
    """One form a person may still answer: its title and the numbers left."""

    title: str
    required: tuple[int, ...]  # numbers of required questions not answered yet
    optional: tuple[int, ...]  # numbers of optional ones not answered (nor skipped)
    closes_at: datetime | None = None


def open_form(flow: Flow, run: Run, member_id: str) -> OpenForm | None:
    """The form of `run`'s current step as far as `member_id` still has to answer it;
    None when nothing is open for them (not asked, all answered, or "klaar" said)."""
    state = run.state
    step = next((s for s in flow.steps if s.id == run.step), None)
    if run.status != RunStatus.active or state is None or step is None:
        return None
    questions = step_questions(step)
    if not questions:
        return None
    if isinstance(step, RoundStep):
        turn = state.order[state.index] if state.index < len(state.order) else None
        if turn != member_id:
            return None
    elif member_id not in state.recipients or member_id in state.done:
        return None
    stored = run.answers.get(step.id, {})
    left = [(n, q) for n, q in enumerate(questions, 1) if member_id not in stored.get(q.id, {})]
    required = tuple(n for n, q in left if not q.optional)
    optional = tuple(n for n, q in left if q.optional)
    if not required and not optional:
        return None
    closes_at = state.closes_at if isinstance(step, CollectStep) else None
    return OpenForm(text(flow.title, run.language), required, optional, closes_at)


def describe_open(forms: Sequence[OpenForm], tz: str, language: str, address: str = "je") -> str:
    """The reply to `/samen open`: a line per form, required numbers first."""
    if not forms:
        return i18n.t("open.none", language, address)
    lines = [i18n.t("open.title", language, address)]
    for form in forms:
        parts = []
        if form.required:
            numbers = i18n.join((str(n) for n in form.required), language)
            key = "open.required.one" if len(form.required) == 1 else "open.required.many"
            parts.append(i18n.t(key, language, address, numbers=numbers))
        if form.optional:
            numbers = i18n.join((str(n) for n in form.optional), language)
            parts.append(i18n.t("open.optional", language, address, numbers=numbers))
        line = f"• {form.title}: " + "; ".join(parts)
        if form.closes_at is not None:
            line += " " + i18n.t(
                "open.closes", language, address, when=when(form.closes_at, tz, language)
            )
        lines.append(line)
    return "\n".join(lines)
