"""Writing messages: flow texts in the team's language, questions as forms, and summaries.

Everything a person reads is built here from the flow, the run and the system catalogue
(`i18n.py`). Summaries decide what of an answer may leave the database (R-PRV-3): a
`private` answer never appears in chat, a `chair` answer only in a message to the chair's
audience, a `team` answer in the team's thread; an `anonymous` answer never carries a
name, and anonymous answers are listed by value so that their order gives nobody away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from bot.core import i18n
from bot.core.effects import OptionView, QuestionView
from bot.core.events import AnswerKind
from bot.core.hints import how_to_answer
from bot.core.i18n import languages_to_try
from bot.core.model import (
    AnswerType,
    AskStep,
    CatalogueRef,
    CollectStep,
    Flow,
    Option,
    PhaseStep,
    Question,
    RoundStep,
    Step,
    SummaryBody,
    SummaryShow,
    Text,
    Visibility,
    step_kind_of,
)
from bot.core.run import Answer, AnswerValue, MemberState, Run
from bot.core.templates import TEMPLATES

# Read once: `AnswerKind.value` shadows `Enum.value`, so looking it up on the class goes
# through a descriptor and costs about a microsecond, on every answer shown.
_GIVEN: Final = AnswerKind.value

# --------------------------------------------------------------------------- texts


def text(value: Text | None, language: str) -> str:
    """A flow text in `language`: exact, then its base (`nl-BE` → `nl`), then Dutch.

    A plain string is Dutch. Catalogue references are resolved by the loader; one that
    reaches us anyway is shown as its key rather than failing the run.
    """
    if isinstance(value, dict):  # the usual case first: a checked pydantic class is slower
        exact = value.get(language)
        if exact is not None:
            return exact
    elif value is None:
        return ""
    elif isinstance(value, str):
        return value
    elif isinstance(value, CatalogueRef):
        return value.catalogue
    for lang in languages_to_try(language):
        if lang in value:
            return value[lang]
    return next(iter(value.values()), "")


@lru_cache(maxsize=1024)
def clock(moment: datetime, tz: str) -> str:
    """`HH:MM` on the team's wall clock."""
    return _hh_mm(moment.astimezone(_zone(tz)))


@lru_cache(maxsize=1024)
def when(moment: datetime, tz: str, language: str) -> str:
    """ "di 24-11 om 08:00" / "Tue 24/11 at 08:00" in the team's time zone."""
    local = moment.astimezone(_zone(tz))
    return i18n.t(
        "when",
        language,
        weekday=i18n.t(f"weekday.{local.weekday()}", language),
        day=local.day,
        month=local.month,
        time=_hh_mm(local),
    )


def _hh_mm(local: datetime) -> str:
    # strftime("%H:%M"), at a fifth of the cost: every phase and pause says a time.
    return f"{local.hour:02d}:{local.minute:02d}"


_ZONES: dict[str, ZoneInfo] = {}


def _zone(tz: str) -> ZoneInfo:
    zone = _ZONES.get(tz)
    if zone is None:
        zone = _ZONES[tz] = ZoneInfo(tz)
    return zone


# --------------------------------------------------------------------------- questions


def step_questions(step: Step) -> tuple[Question, ...]:
    """The questions a step asks: ask (one), collect, phase (optional), round (one)."""
    if isinstance(step, AskStep):
        return (step.ask.question,)
    if isinstance(step, CollectStep):
        return step.collect.questions
    if isinstance(step, PhaseStep):
        return step.phase.questions
    if isinstance(step, RoundStep):
        return (step.round.question,)
    return ()


def with_options_from(
    flow: Flow,
    question: Question,
    answers: Mapping[str, Mapping[str, Mapping[str, Answer]]],
    members: Sequence[MemberState],
) -> Question:
    """`question` with its options, when they come from the answers to an earlier
    question (`options_from`): one per answer given so far, in roster order, labelled
    with the answer and who gave it (by value only, in text order, when that question is
    anonymous). A question with fixed options is returned as it is."""
    if question.options_from is None:
        return question
    step_id, _, question_id = question.options_from.partition(".")
    source = next(
        (
            q
            for s in flow.steps
            if s.id == step_id
            for q in step_questions(s)
            if q.id == question_id
        ),
        None,
    )
    given = answers.get(step_id, {}).get(question_id, {})
    found = [
        (m, str(a.value))
        for m in members
        if (a := given.get(m.id)) is not None and a.kind == _GIVEN and a.value not in (None, "")
    ]
    if source is not None and source.anonymous:
        labels = sorted(value for _, value in found)
        options = tuple(Option(id=f"{n}", text=label) for n, label in enumerate(labels, 1))
    else:
        options = tuple(Option(id=m.id, text=f"{value} ({m.name})") for m, value in found)
    return question.model_copy(update={"options": options})


def option_label(question: Question, option_id: str, language: str) -> str:
    for option in question.options:
        if option.id == option_id:
            return text(option.text, language)
    return option_id


def question_view(
    step_id: str,
    question: Question,
    language: str,
    answer: Answer | None = None,
) -> QuestionView:
    """A question as an adapter draws it, with the answer given so far (`current`)."""
    view = _blank_view(step_id, question, language)
    return view if answer is None else with_answer(view, answer, language)


def with_answer(view: QuestionView, answer: Answer, language: str) -> QuestionView:
    """`view` showing `answer` as its current value."""
    current: str | tuple[str, ...] | None = None
    if answer.kind != _GIVEN:
        current = _kind_word(answer.kind, language)
    elif isinstance(answer.value, tuple):
        current = answer.value
    elif answer.value is not None:
        current = str(answer.value)
    # A form is redrawn on every answer and once more when it closes, and each time it
    # shows the answers given before: the same view with the same current value.
    key = (id(view), current)
    hit = _ANSWERED.get(key)
    if hit is not None and hit[0] is view:
        return hit[1]
    if len(_ANSWERED) >= 4096:
        _ANSWERED.clear()
    # Spelled out rather than dataclasses.replace, which costs three times as much.
    v = view
    shown = QuestionView(
        v.step,
        v.id,
        v.type,
        v.text,
        v.help,
        v.options,
        v.min,
        v.max,
        v.labels,
        v.optional,
        v.not_applicable,
        current,
        v.hint,
    )
    _ANSWERED[key] = (view, shown)
    return shown


# Views with an answer, by (view, current value). The view is kept in the entry, so that
# its id cannot be taken by another object while the entry lives.
_ANSWERED: dict[tuple[int, str | tuple[str, ...] | None], tuple[QuestionView, QuestionView]] = {}

# Views of unanswered questions, by question object: a form is redrawn on every answer.
# The question is kept in the entry so that its id cannot be taken by another object.
_VIEWS: dict[tuple[int, str, str], tuple[Question, QuestionView]] = {}


def _blank_view(step_id: str, question: Question, language: str) -> QuestionView:
    key = (id(question), step_id, language)
    hit = _VIEWS.get(key)
    if hit is not None and hit[0] is question:
        return hit[1]
    if len(_VIEWS) >= 4096:
        _VIEWS.clear()
    view = QuestionView(
        step=step_id,
        id=question.id,
        type=question.type.value,
        text=text(question.text, language),
        help=text(question.help, language) if question.help is not None else None,
        options=tuple(OptionView(o.id, text(o.text, language)) for o in question.options),
        min=question.min,
        max=question.max,
        labels=tuple((k, text(v, language)) for k, v in sorted(question.labels.items())),
        optional=question.optional,
        not_applicable=question.not_applicable,
    )
    view = replace(view, hint=how_to_answer(view, language))
    _VIEWS[key] = (question, view)
    return view


def with_people(view: QuestionView, members: Sequence[MemberState], language: str) -> QuestionView:
    """A people question's view with the team's present members as its numbered options,
    so that the form can say who to choose from (and the answer may give a number)."""
    present = tuple(OptionView(m.id, m.name) for m in members if not m.left)
    if view.options == present:
        return view
    shown = replace(view, options=present)
    return replace(shown, hint=how_to_answer(shown, language))


def form_lines(
    questions: Sequence[Question],
    language: str,
    address: str,
    intro: Text | None = None,
    lead: str | None = None,
    closed: bool = False,
) -> list[str]:
    """A form's text line by line, but for its deadline (which differs from run to run,
    so that the rest can be drawn once per flow)."""
    lines: list[str] = []
    if lead:
        lines.append(lead)
    if intro is not None:
        lines.append(text(intro, language))
    numbered = len(questions) > 1
    for i, q in enumerate(questions, 1):
        line = text(q.text, language)
        if q.optional:
            line += " " + i18n.t("form.optional", language, address)
        lines.append(f"{i}. {line}" if numbered else line)
    if closed:
        lines.append(i18n.t("form.closed", language, address))
    return lines


def display_value(
    question: Question,
    answer: Answer,
    members: Sequence[MemberState],
    language: str,
) -> str:
    """An answer as people read it: option labels, ja/nee, names, a local date."""
    if answer.kind != _GIVEN:
        return _kind_word(answer.kind, language)
    return _display(question, answer.value, members, language)


def _display(
    question: Question, value: AnswerValue, members: Sequence[MemberState], language: str
) -> str:
    if value is None:
        return ""
    kind = question.type
    if kind == AnswerType.choice and isinstance(value, str):
        return option_label(question, value, language)
    if kind == AnswerType.multi and isinstance(value, tuple):
        return ", ".join(option_label(question, v, language) for v in value)
    if kind == AnswerType.people and isinstance(value, tuple):
        names = {m.id: m.name for m in members}
        return i18n.join((names.get(v, v) for v in value), language)
    if kind == AnswerType.yesno:
        return i18n.t("answer.yes" if value == "yes" else "answer.no", language)
    if kind == AnswerType.scale and isinstance(value, int):
        label = question.labels.get(value)
        return f"{value} ({text(label, language)})" if label is not None else str(value)
    if kind == AnswerType.date and isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
        if language.split("-", 1)[0] == "en":
            return day.isoformat()
        return f"{day.day}-{day.month}-{day.year}"
    if isinstance(value, float) and not language.startswith("en"):
        return str(value).replace(".", ",")
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def _kind_word(kind: AnswerKind, language: str) -> str:
    return i18n.t(
        "answer.skipped" if kind == AnswerKind.skip else "answer.not_applicable", language
    )


# --------------------------------------------------------------------------- who reads what


@dataclass(frozen=True, slots=True)
class Audience:
    """Who will read a message, as far as answers are concerned."""

    sees: frozenset[Visibility]
    sees_missing: bool  # may be told who has not answered (else only how many)
    reader: str | None = None  # the one person reading, when it is one (the starter)


TEAM = frozenset({Visibility.team})
CHAIR = frozenset({Visibility.team, Visibility.chair})


def member_roles(member: MemberState) -> frozenset[str]:
    """A member's roles, including `member`, which everyone in a team holds."""
    return _with_member(member.roles)


@lru_cache(maxsize=1024)
def _with_member(roles: tuple[str, ...]) -> frozenset[str]:
    # Cached: a team has few different sets of roles, and they are asked for on every
    # form, reminder and bell.
    return frozenset(roles) | {"member"}


def audience(flow: Flow, run: Run, to: str) -> Audience:
    """The audience of a message sent to `to` (thread, channel, starter or a role).

    The thread and channel are the team. A role named in `permissions.see_answers` is
    the chair's audience. The starter is one person: the chair's audience only if they
    hold a role that may see answers. `private` answers are never in anyone's audience.
    """
    perms = flow.permissions
    if to in ("thread", "channel"):
        return Audience(TEAM, "member" in perms.see_missing)
    if to == "starter":
        starter = run.member(run.started_by) if run.started_by else None
        roles = member_roles(starter) if starter is not None else frozenset()
        return Audience(
            CHAIR if roles & set(perms.see_answers) else TEAM,
            bool(roles & set(perms.see_missing)),
            run.started_by,
        )
    sees_missing = to in perms.see_missing or "member" in perms.see_missing
    return Audience(CHAIR if to in perms.see_answers else TEAM, sees_missing)


# Roles given for one run by people questions (`gives_role`): role -> member ids.
GivenRoles = Mapping[str, frozenset[str]]

_ROLE_QUESTIONS: dict[int, tuple[Flow, tuple[tuple[str, str, str], ...]]] = {}


def _role_questions(flow: Flow) -> tuple[tuple[str, str, str], ...]:
    """(step id, question id, role) of every question in `flow` that gives a role."""
    hit = _ROLE_QUESTIONS.get(id(flow))
    if hit is not None and hit[0] is flow:
        return hit[1]
    if len(_ROLE_QUESTIONS) >= 256:
        _ROLE_QUESTIONS.clear()
    found = tuple(
        (s.id, q.id, q.gives_role) for s in flow.steps for q in step_questions(s) if q.gives_role
    )
    _ROLE_QUESTIONS[id(flow)] = (flow, found)
    return found


def given_roles(
    flow: Flow, answers: Mapping[str, Mapping[str, Mapping[str, Answer]]]
) -> GivenRoles:
    """The roles this run's answers gave: once a question with `gives_role` is answered
    (a people question, or a choice among the team's answers to an earlier question), the
    people chosen (in every answer to it) hold that role in this run, and only they,
    whatever roles the team gave."""
    given: dict[str, frozenset[str]] = {}
    for step_id, question_id, role in _role_questions(flow):
        chosen: set[str] = set()
        for answer in answers.get(step_id, {}).get(question_id, {}).values():
            # A people answer is a tuple of member ids; a choice among the team's own
            # answers (`options_from`) is the id of the member whose answer was chosen.
            if isinstance(answer.value, tuple):
                chosen.update(answer.value)
            elif isinstance(answer.value, str):
                chosen.add(answer.value)
        if chosen:
            given[role] = given.get(role, frozenset()) | chosen
    return given


def roles_in_run(member: MemberState, given: GivenRoles) -> frozenset[str]:
    """A member's roles in a run: the team's, with the roles the run gave in their place."""
    roles = member_roles(member)
    if not given:
        return roles
    return (roles - given.keys()) | {role for role, ids in given.items() if member.id in ids}


def holders(
    members: Iterable[MemberState],
    participants: Iterable[str] | None,
    roles: Iterable[str],
    given: GivenRoles | None = None,
    excluded: Iterable[str] = (),
) -> list[MemberState]:
    """Members holding one of `roles` and none of `excluded` (in roster order), within
    the run's `participants` when it has a fixed set, and still in the team; `given` are
    the roles the run gave. Absent members are included."""
    wanted = frozenset(roles)
    unwanted = frozenset(excluded)
    fixed = frozenset(participants) if participants is not None else None
    found = []
    for m in members:
        if m.left or (fixed is not None and m.id not in fixed):
            continue
        held = roles_in_run(m, given) if given else member_roles(m)
        if wanted & held and not unwanted & held:
            found.append(m)
    return found


def step_roles(flow: Flow, step: Step) -> tuple[str, ...]:
    """The roles whose holders a step asks: its `to`, else the flow's participants."""
    if isinstance(step, CollectStep):
        return step.collect.to or flow.participants
    if isinstance(step, RoundStep):
        return step.round.to or flow.participants
    if isinstance(step, PhaseStep):
        return step.phase.to or flow.participants
    if isinstance(step, AskStep) and step.ask.to not in ("starter", "thread", "channel"):
        return (step.ask.to,)
    return ()


def step_excluded(step: Step) -> tuple[str, ...]:
    """The roles a step leaves out (its `except`)."""
    body = getattr(step, step_kind_of(step) or "", None)
    return tuple(getattr(body, "except_", ()))


# --------------------------------------------------------------------------- summaries

_COMPILED: dict[str, Any] = {}
_DIVERGENT_TYPES = frozenset(
    {AnswerType.choice, AnswerType.yesno, AnswerType.scale, AnswerType.multi}
)


def summary_data(flow: Flow, run: Run, body: SummaryBody, seen_by: Audience) -> dict[str, Any]:
    """What a summary may show this audience, as plain data (also a template's variables).

    `questions`: [{text, answers: [{name, value}], answered: [names], hidden: n,
    divergent: [{value, count}]}]; `missing` (names, empty if the audience may not
    see them) and `missing_count`; `absent`; `left` (asked, then left the team);
    `process_bells`.
    """
    language = run.language
    steps = [s for s in flow.steps if step_questions(s)]
    if body.of:
        chosen = set(body.of)
        steps = [s for s in steps if s.id in chosen]
    steps = [s for s in steps if s.id in run.asked or s.id in run.answers]
    questions: list[dict[str, Any]] = []
    missing: set[str] = set()
    absent: set[str] = set()
    gone: set[str] = set()
    given = given_roles(flow, run.answers)
    for step in steps:
        stored = run.answers.get(step.id, {})
        for q in step_questions(step):
            q = with_options_from(flow, q, run.answers, run.members)
            questions.append(_question_entry(q, stored.get(q.id, {}), run, seen_by, language))
        required = [q.id for q in step_questions(step) if not q.optional]
        asked = set(run.asked.get(step.id, ()))
        eligible = {
            m.id
            for m in holders(
                run.members,
                run.participants,
                step_roles(flow, step),
                given,
                step_excluded(step),
            )
        }
        for m in run.members:
            if m.left and m.id in asked:
                gone.add(m.id)  # asked, then left the team: said once, not as missing
            if m.left or (m.id not in asked and m.id not in eligible):
                continue
            if m.absent:
                absent.add(m.id)
            elif m.id in asked and any(m.id not in stored.get(q, {}) for q in required):
                missing.add(m.id)
    missing -= absent
    return {
        "questions": questions,
        "missing": [m.name for m in run.members if m.id in missing] if seen_by.sees_missing else [],
        "missing_count": len(missing),
        "absent": [m.name for m in run.members if m.id in absent],
        "left": [m.name for m in run.members if m.id in gone],
        "process_bells": run.process_bells,
    }


def _question_entry(
    q: Question, stored: dict[str, Answer], run: Run, seen_by: Audience, language: str
) -> dict[str, Any]:
    given = [(m, stored[m.id]) for m in run.members if m.id in stored]
    visible = q.visibility in seen_by.sees
    answers: list[dict[str, Any]] = []
    answered: list[str] = []
    divergent: list[dict[str, Any]] = []
    # Fewer answers than the minimum point to their authors, unless the one who reads is
    # the only one who answered (their own summary).
    own = seen_by.reader is not None and {m.id for m, _ in given} <= {seen_by.reader}
    too_few = q.anonymous and len(given) < q.anonymous_min and not own
    if visible and too_few:
        pass  # neither values nor their spread: in a small group they point to someone
    elif visible:
        shown = [(m, display_value(q, a, run.members, language)) for m, a in given]
        if q.anonymous:
            answers = [{"name": None, "value": v} for v in sorted(v for _, v in shown)]
        else:
            answers = [{"name": m.name, "value": v} for m, v in shown]
        if q.type in _DIVERGENT_TYPES:
            divergent = _divergence(q, [a for _, a in given], language)
    elif not q.anonymous:
        answered = [m.name for m, _ in given]
    return {
        "text": text(q.text, language),
        "answers": answers,
        "answered": answered,
        "hidden": 0 if visible else len(given),
        "divergent": divergent,
        # An anonymous question with fewer answers than its minimum: the summary says so.
        "too_few": q.anonymous_min if visible and too_few and given else 0,
    }


def _divergence(q: Question, given: list[Answer], language: str) -> list[dict[str, Any]]:
    """Distinct values with counts, when the answers are not all the same."""
    values = [a.value for a in given if a.kind == _GIVEN]
    if len(values) < 2 or len(set(values)) < 2:
        return []
    counts: Counter[str] = Counter()
    order: list[str] = []
    for value in values:
        parts = value if isinstance(value, tuple) else (value,)
        for part in parts:
            label = (
                _display(q, part, (), language)
                if q.type != AnswerType.multi
                else option_label(q, str(part), language)
            )
            if label not in counts:
                order.append(label)
            counts[label] += 1
    ranked = sorted(order, key=lambda label: (-counts[label], order.index(label)))
    return [{"value": label, "count": counts[label]} for label in ranked]


def render_summary(flow: Flow, run: Run, body: SummaryBody, seen_by: Audience) -> str:
    """A summary as text for `seen_by`: its `template` if it has one (sandboxed), else
    the standard layout. A broken template never breaks the run: the standard layout is
    used with a short notice."""
    language, address = run.language, run.address
    data = summary_data(flow, run, body, seen_by)
    title = (
        text(body.title, language)
        if body.title is not None
        else i18n.t("summary.title", language, address)
    )
    if body.template is not None:
        source = text(body.template, language)
        try:
            compiled = _COMPILED.get(source)
            if compiled is None:
                compiled = _COMPILED[source] = TEMPLATES.from_string(source)
            return str(compiled.render(title=title, **data)).strip()
        except Exception:  # an author's template must never crash a team's run
            notice = i18n.t("summary.template_error", language, address)
            return _standard(title, body, data, language, address) + "\n\n" + notice
    return _standard(title, body, data, language, address)


def _standard(
    title: str, body: SummaryBody, data: dict[str, Any], language: str, address: str
) -> str:
    show = set(body.show)
    blocks = [f"📋 {title}"]
    for q in data["questions"]:
        lines: list[str] = []
        if SummaryShow.answers in show:
            lines += [
                f"• {a['name']}: {a['value']}" if a["name"] else f"• {a['value']}"
                for a in q["answers"]
            ]
            lines += [f"• {name}: {i18n.t('summary.answered', language)}" for name in q["answered"]]
            if q["hidden"] and not q["answered"]:
                lines.append(f"• {i18n.count('answers', q['hidden'], language)}")
            if q["hidden"]:
                lines.append(i18n.t("summary.hidden", language))
            if q.get("too_few"):
                lines.append(f"• {i18n.t('summary.too_few_anonymous', language, n=q['too_few'])}")
            if not lines:
                lines.append(f"• {i18n.t('summary.no_answers', language)}")
        if SummaryShow.divergence in show and q["divergent"]:
            values = ", ".join(f"{d['value']} ({d['count']})" for d in q["divergent"])
            lines.append(i18n.t("summary.divergent", language, values=values))
        if lines:
            blocks.append("\n".join([q["text"], *lines]))
    tail: list[str] = []
    if SummaryShow.missing in show:
        if data["missing"]:
            tail.append(
                i18n.t("summary.missing", language, names=i18n.join(data["missing"], language))
            )
        elif data["missing_count"]:
            tail.append(i18n.count("summary.missing_count", data["missing_count"], language))
        if data["absent"]:
            tail.append(
                i18n.t("summary.absent", language, names=i18n.join(data["absent"], language))
            )
        if data["left"]:
            tail.append(i18n.t("summary.left", language, names=i18n.join(data["left"], language)))
    if SummaryShow.process_bells in show:
        tail.append(i18n.count("summary.process_bells", data["process_bells"], language))
    if tail:
        blocks.append("\n".join(tail))
    return "\n\n".join(blocks)
