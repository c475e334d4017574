"""Semantic checks on a parsed flow: step targets, reachability, ends, times, texts, roles.

Pure. `validate_flow` takes a `Flow` that the models accepted and the `SourceMap` of its
file, and returns every problem at the line:column of the value it concerns. The checks
are the ones a model cannot express: that a `goto` names a step that exists, that every
step can be reached and every path ends, that durations and cron expressions can be read,
that every text exists in every declared language, that every role is declared, and so on.

How a run moves, and so what "reachable" and "ends" mean here:

- A run starts at the first step. After a step it goes to that step's `next`, else to the
  following step in the list; after the last step the run ends.
- An `end` step ends the run; it never goes on (a step after it is reached only when a
  `next`, `goto` or `otherwise` points at it).
- A `branch` goes to the `goto` of the first case that holds, else to its `otherwise`.
  When it has no `otherwise` and no case holds, the run goes on as after any other step
  (its `next`, else the following step) — which is why a branch without `otherwise` is a
  warning: that way on is easy to miss. With an `otherwise`, the branch's `next` and the
  following step are never taken from it.
- A step that no path from the first step reaches is an error; so is a loop that no path
  leaves (every path from some reached step comes back to it and never ends).
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from bot.core.address import base_language, is_variant
from bot.core.commands import samen_words
from bot.core.model import (
    BUILTIN_ROLES,
    DEFAULT_LANGUAGE,
    AnswerType,
    AskStep,
    BranchCase,
    BranchOtherwise,
    BranchStep,
    CadenceTrigger,
    CatalogueRef,
    CollectStep,
    CommandTrigger,
    Condition,
    EndStep,
    EventTrigger,
    Flow,
    PhaseStep,
    Question,
    RoundStep,
    ScheduleTrigger,
    StartFlowBody,
    StartFlowStep,
    Step,
    SummaryStep,
    Visibility,
    WaitStep,
    step_kind_of,
)
from bot.core.problems import Loc, Problem, SourceMap, suggestion
from bot.core.render import step_questions as render_questions
from bot.core.templates import template_problems
from bot.core.timing import (
    Duration,
    Offset,
    TimingError,
    check_cron,
    parse_deadline,
    parse_duration,
    parse_offset,
)
from bot.core.validate_questions import QuestionChecks, nearest_ids, question_loc, words

__all__ = ["DESTINATIONS", "FLOW_ID", "STEP_ID", "file_stem", "stand_in_id", "validate_flow"]

FLOW_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Z]{2})?$")
# A command word is typed after `/samen start`: one word, as people type it.
COMMAND_WORD = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")

# Where a message can go besides a role (see `Target` in model.py).
DESTINATIONS = frozenset({"thread", "channel", "starter"})

# The words a yes/no answer compares equal to (as the engine reads answers).
_YES_NO_WORDS = frozenset({"yes", "no", "ja", "nee", "y", "n", "j", "true", "false"})

# Whatever `next` resolves to when the run ends there.
_END = None


def file_stem(path: str) -> str | None:
    """'flows/x.yaml' -> 'x'; None for a path that is not a .yaml/.yml file."""
    name = re.split(r"[\\/]", path)[-1]
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def stand_in_id(index: int) -> str:
    """The id the loader gives a broken step that has no usable id of its own: one that no
    author can refer to, so that it never clashes or gets suggested."""
    return f"(step {index + 1})"


def validate_flow(
    flow: Flow, source: SourceMap, *, stand_ins: frozenset[int] = frozenset()
) -> list[Problem]:
    """Every semantic problem in `flow`, errors and warnings, at their places in the file.

    `stand_ins` are the indices of steps the loader replaced because they were broken
    (already reported); they are not checked, and neither are reachability and loops,
    which would be guesses without them.
    """
    checker = _Checker(flow, source, stand_ins)
    checker.run()
    return checker.problems


def _is_text(annotation: Any) -> bool:
    """Is this field type `Text` (or `Text | None`)?"""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            members = get_args(annotation)
            if CatalogueRef in members:
                return True
            if len(members) != 2 or type(None) not in members:
                return False
            annotation = next(m for m in members if m is not type(None))
        else:
            return False


def _texts(value: BaseModel, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    """Every user-facing text in `value` (titles, prompts, options, labels, ...)."""
    for name, info in type(value).model_fields.items():
        item = getattr(value, name)
        if item is None:
            continue
        here: Loc = (*loc, info.alias or name)
        annotation = info.annotation
        origin, args = get_origin(annotation), get_args(annotation)
        if _is_text(annotation):
            yield here, item
        elif origin is tuple and args and _is_text(args[0]):
            yield from (((*here, k), text) for k, text in enumerate(item))
        elif origin is dict and len(args) == 2 and _is_text(args[1]):
            yield from (((*here, k), text) for k, text in item.items())
        elif isinstance(item, BaseModel):
            yield from _texts(item, here)
        elif isinstance(item, tuple):
            for k, part in enumerate(item):
                if isinstance(part, BaseModel):
                    yield from _texts(part, (*here, k))


class _Checker(QuestionChecks):
    def __init__(self, flow: Flow, source: SourceMap, stand_ins: frozenset[int]) -> None:
        self.flow = flow
        super().__init__(source)
        self.stand_ins = stand_ins
        self.ids = [s.id for s in flow.steps]
        self.index: dict[str, int] = {}
        for i, step_id in enumerate(self.ids):
            self.index.setdefault(step_id, i)
        self.stand_in_ids = {self.ids[i] for i in stand_ins}
        self.roles = set(flow.roles) | BUILTIN_ROLES
        self.has_event_trigger = any(isinstance(t, EventTrigger) for t in flow.triggers)
        self.answers = self._answer_refs()

    # ----------------------------------------------------------------- helpers

    def named(self, i: int) -> str:
        return f"step '{self.ids[i]}'"

    def duration(self, text: str, loc: Loc, what: str) -> Duration | None:
        try:
            return parse_duration(text)
        except TimingError as error:
            self.error(loc, f"{what}: {error}")
            return None

    def steps(self) -> Iterator[tuple[int, Step, Loc]]:
        for i, step in enumerate(self.flow.steps):
            if i not in self.stand_ins:
                yield i, step, ("steps", i)

    # ----------------------------------------------------------------- run

    def run(self) -> None:
        self.check_flow_id()
        self.check_languages()
        self.check_triggers()
        unique_ids = self.check_step_ids()
        self.check_targets()
        # With a step id written twice, every `next` and `goto` to it is ambiguous: the
        # graph checks would report loops and unreached steps that are only echoes of it.
        if not self.stand_ins and unique_ids:
            self.check_graph()
        self.check_roles()
        self.check_options_from()
        self.check_texts()
        for i, step, loc in self.steps():
            self.check_step(i, step, loc)

    # ----------------------------------------------------------------- flow

    def check_flow_id(self) -> None:
        flow_id = self.flow.id
        stem = file_stem(self.source.file)
        if not FLOW_ID.match(flow_id):
            example = stem if stem and FLOW_ID.match(stem) else "intervisie-complexe-casuistiek"
            self.error(
                ("id",),
                f"the flow id '{flow_id}' must be lower-case words joined by "
                f"'-', e.g. '{example}' (and the file named after it)",
            )
        elif stem is not None and stem != flow_id:
            self.error(
                ("id",),
                f"the flow id '{flow_id}' differs from the file name "
                f"'{stem}.yaml'; a flow file is named after its id: rename "
                f"the file to '{flow_id}.yaml' or write 'id: {stem}'",
            )

    def check_languages(self) -> None:
        languages = self.flow.languages
        if DEFAULT_LANGUAGE not in languages:
            self.error(
                ("languages",),
                "Dutch must be one of the languages: write "
                f"languages: [nl{''.join(', ' + x for x in languages)}]",
            )
        for k, language in enumerate(languages):
            if not _LANGUAGE.match(language):
                self.error(
                    ("languages", k),
                    f"'{language}' is not a language code; write e.g. nl, en or nl-BE",
                )

    def check_triggers(self) -> None:
        for k, trigger in enumerate(self.flow.triggers):
            loc: Loc = ("triggers", k)
            if isinstance(trigger, CommandTrigger):
                self.check_command(trigger.command, (*loc, "command"))
            elif isinstance(trigger, ScheduleTrigger):
                try:
                    check_cron(trigger.schedule)
                except TimingError as error:
                    self.error((*loc, "schedule"), f"schedule: {error}")
            elif isinstance(trigger, EventTrigger):
                if trigger.before is not None and trigger.after is not None:
                    self.error(
                        (*loc, "after"),
                        "an event trigger starts either 'before' or "
                        "'after' the event, not both; keep one",
                    )
                for side in ("before", "after"):
                    value = getattr(trigger, side)
                    if value is not None:
                        self.duration(value, (*loc, side), side)
            elif isinstance(trigger, CadenceTrigger):
                cadence = trigger.cadence
                for j, at in enumerate(cadence.at):
                    self.duration(at, (*loc, "cadence", "at", j), "cadence at")
                if cadence.then_every is not None:
                    every = self.duration(
                        cadence.then_every, (*loc, "cadence", "then_every"), "then_every"
                    )
                    if every is not None and every.amount <= 0:
                        self.error(
                            (*loc, "cadence", "then_every"), "then_every must be longer than 0"
                        )
                if not cadence.at and cadence.then_every is None:
                    self.error(
                        (*loc, "cadence"),
                        "a cadence needs 'at' (e.g. [12 months]) or 'then_every' (e.g. 6 months)",
                    )

    def check_command(self, word: str, loc: Loc) -> None:
        if not COMMAND_WORD.match(word):
            plain = re.sub(r"[^a-z0-9]+", "-", word.lower()).strip("-") or "intervisie"
            self.error(
                loc,
                f"the command word '{word}' must be one word of lower-case letters, digits, "
                f"'-' and '_' (no spaces, no '/'), as people type it after '/samen start'; "
                f"e.g. '{plain}'",
            )
        elif word in samen_words():
            self.error(
                loc,
                f"'{word}' is one of Samen's own words (/samen {word}), so '/samen start "
                f"{word}' would be confused with it; choose another command word, e.g. the "
                "flow's own name",
            )

    # ----------------------------------------------------------------- steps and targets

    def check_step_ids(self) -> bool:
        """Report bad and repeated step ids; True when every id is used once."""
        first_line: dict[str, int] = {}
        unique = True
        # Stand-ins take part: a broken step still owns its id.
        for i, step in enumerate(self.flow.steps):
            loc: Loc = ("steps", i, "id")
            if i not in self.stand_ins and not STEP_ID.match(step.id):
                self.error(
                    loc,
                    f"step id '{step.id}' may only hold lower-case letters, "
                    "digits, '-' and '_', e.g. 'stap-1'",
                )
            if step.id in first_line:
                unique = False
                self.error(
                    loc,
                    f"step id '{step.id}' is already used on line "
                    f"{first_line[step.id]}; give each step its own id",
                )
            else:
                first_line[step.id] = self.source.position(loc)[0]
        return unique

    def target(self, target: str, loc: Loc, what: str) -> None:
        if target in self.index:
            return
        candidates = [s for i, s in enumerate(self.ids) if s != stand_in_id(i)]
        self.error(
            loc, f"{what}: {target}' names no step of this flow{nearest_ids(target, candidates)}"
        )

    def check_targets(self) -> None:
        for i, step, loc in self.steps():
            if step.next is not None:
                self.target(step.next, (*loc, "next"), f"{self.named(i)}: 'next")
                if isinstance(step, EndStep):
                    self.warning(
                        (*loc, "next"),
                        f"{self.named(i)} ends the run, so its 'next' is never used; remove it",
                    )
            if isinstance(step, BranchStep):
                for c, case in enumerate(step.branch):
                    if isinstance(case, BranchCase):
                        self.target(
                            case.goto, (*loc, "branch", c, "goto"), f"{self.named(i)}: 'goto"
                        )
                    else:
                        self.target(
                            case.otherwise,
                            (*loc, "branch", c, "otherwise"),
                            f"{self.named(i)}: 'otherwise",
                        )
            if isinstance(step, SummaryStep):
                for k, name in enumerate(step.summary.of):
                    self.target(name, (*loc, "summary", "of", k), f"{self.named(i)}: 'of")

    def successors(self, i: int) -> list[tuple[str | None, Loc]]:
        """Where the run can go after step i (None: the run ends), and which value says so."""
        step = self.flow.steps[i]
        loc: Loc = ("steps", i)
        if isinstance(step, EndStep):
            return []
        out: list[tuple[str | None, Loc]] = []
        if isinstance(step, BranchStep):
            for c, case in enumerate(step.branch):
                if isinstance(case, BranchCase):
                    out.append((case.goto, (*loc, "branch", c, "goto")))
                else:
                    out.append((case.otherwise, (*loc, "branch", c, "otherwise")))
                    return out  # cases after `otherwise` are never tried
        if step.next is not None:
            out.append((step.next, (*loc, "next")))
        else:
            out.append((self.ids[i + 1] if i + 1 < len(self.ids) else _END, loc))
        return out

    def check_graph(self) -> None:
        count = len(self.flow.steps)
        edges = {
            i: [
                (self.index.get(t) if t is not None else None, where)
                for t, where in self.successors(i)
            ]
            for i in range(count)
        }
        reached = {0}
        todo = [0]
        while todo:
            for j, _ in edges[todo.pop()]:
                if j is not None and j not in reached:
                    reached.add(j)
                    todo.append(j)
        for i in range(count):
            if i not in reached:
                self.error(
                    ("steps", i),
                    f"{self.named(i)} is never reached: "
                    f"{self.unreached_reason(i)}; point a 'next' or "
                    "'goto' at it, or remove it",
                )
        # An unknown target is reported above and counted as an end, so as not to report
        # the same mistake twice.
        ends: set[int] = set()
        changed = True
        while changed:
            changed = False
            for i in range(count):
                if i in ends:
                    continue
                step_ends = isinstance(self.flow.steps[i], EndStep)
                if step_ends or any(j is None or j in ends for j, _ in edges[i]):
                    ends.add(i)
                    changed = True
        trapped = sorted(reached - ends)
        for group in self.loops(trapped, edges):
            self.report_loop(group, edges)

    def unreached_reason(self, i: int) -> str:
        if i == 0:
            return "it is the first step"
        before = self.flow.steps[i - 1]
        if isinstance(before, EndStep):
            return f"the step before it ('{before.id}') ends the run"
        if isinstance(before, BranchStep) and any(
            isinstance(c, BranchOtherwise) for c in before.branch
        ):
            return f"the branch before it ('{before.id}') always goes elsewhere"
        if before.next is not None:
            return f"the step before it ('{before.id}') goes on to '{before.next}'"
        return "no step leads to it"

    @staticmethod
    def loops(
        trapped: list[int], edges: dict[int, list[tuple[int | None, Loc]]]
    ) -> list[list[int]]:
        """The trapped steps grouped by the loops they belong to."""
        group_of = {i: i for i in trapped}

        def root(i: int) -> int:
            while group_of[i] != i:
                i = group_of[i]
            return i

        for i in trapped:
            for j, _ in edges[i]:
                if j is not None and j in group_of:
                    group_of[root(j)] = root(i)
        groups: dict[int, list[int]] = {}
        for i in trapped:
            groups.setdefault(root(i), []).append(i)
        return sorted(groups.values())

    def report_loop(self, group: list[int], edges: dict[int, list[tuple[int | None, Loc]]]) -> None:
        members = set(group)
        # Point at the value that sends the run back: a jump to an earlier (or the same)
        # step, preferably one written in the file rather than the implicit "go on".
        back = [
            (where, i)
            for i in group
            for j, where in edges[i]
            if j is not None and j in members and j <= i
        ]
        back.sort(key=lambda item: (len(item[0]) <= 2, item[1]))
        where = back[0][0] if back else ("steps", group[0])
        names = [self.ids[i] for i in group]
        if len(names) == 1:
            what = f"step '{names[0]}' comes back to itself forever"
        else:
            what = f"steps {words(names)} go round in a loop that never ends"
        self.error(
            where,
            f"{what}: no way out of it reaches an 'end' step or the end of the "
            "flow; add a branch case that leaves the loop, or an 'end' step",
        )

    # ----------------------------------------------------------------- roles and texts

    def role(self, role: str, loc: Loc, *, destination: bool = False) -> None:
        if role in self.roles or (destination and role in DESTINATIONS):
            return
        candidates = self.roles | (DESTINATIONS if destination else set())
        declared = ", ".join(sorted({*self.flow.roles, role}))
        also = " (or 'thread', 'channel', 'starter')" if destination else ""
        self.error(
            loc,
            f"role '{role}' is not declared in this flow"
            f"{suggestion(role, candidates)}; declare it at the top: "
            f"roles: [{declared}]{also}",
        )

    def check_roles(self) -> None:
        if "participants" in self.flow.model_fields_set:
            for k, role in enumerate(self.flow.participants):
                self.role(role, ("participants", k))
        if "permissions" in self.flow.model_fields_set:
            permissions = self.flow.permissions
            for name in sorted(permissions.model_fields_set):
                for k, role in enumerate(getattr(permissions, name)):
                    self.role(role, ("permissions", name, k))
        givers = self.role_givers()
        for i, step, loc in self.steps():
            kind = step_kind_of(step) or ""
            body = getattr(step, kind, None)
            to = getattr(body, "to", None)
            if isinstance(to, str):
                self.role(to, (*loc, kind, "to"), destination=True)
                included: tuple[str, ...] = (to,) if to not in DESTINATIONS else ()
                if to in ("thread", "channel") and tuple(getattr(body, "except_", ())):
                    self.error(
                        (*loc, kind, "except"),
                        f"{self.named(i)}: 'except' leaves people out of a message to them "
                        f"in person; a message to the {to} is seen by all. Write e.g. "
                        "'to: member' with 'except: [presenter]' for a private message to "
                        "everyone else",
                    )
            elif isinstance(to, tuple):
                for k, role in enumerate(to):
                    self.role(role, (*loc, kind, "to", k))
                included = to or self.flow.participants
            else:
                continue
            excluded = getattr(body, "except_", ())
            for k, role in enumerate(excluded):
                self.role(role, (*loc, kind, "except", k))
            if included and excluded and ("member" in excluded or set(included) <= set(excluded)):
                self.error(
                    (*loc, kind, "except"),
                    f"{self.named(i)}: 'except' leaves out everyone 'to' names, so this step "
                    "can never reach anyone; leave out fewer roles",
                )
            for role in sorted({*included, *excluded} & givers.keys()):
                if not any(i in self.after.get(g, set()) for g in givers[role]):
                    where = ", ".join(f"'{self.ids[g]}'" for g in givers[role])
                    self.warning(
                        (*loc, kind, "except" if role in excluded else "to"),
                        f"{self.named(i)}: the role '{role}' is given in this run by "
                        f"{where}, which does not come before this step, so only those the "
                        "team gave the role count here; move the question earlier",
                    )
        for i, step, loc in self.steps():
            for k, question in enumerate(render_questions(step)):
                if question.gives_role is None:
                    continue
                here = (*loc, *question_loc(step, k), "gives_role")
                source = self.answers.get(question.options_from or "")
                among_team = source is not None and not source.anonymous
                if question.type != AnswerType.people and not among_team:
                    self.error(
                        here,
                        f"{self.named(i)}, question '{question.id}': only a people question, "
                        "or a choice among the team's answers ('options_from' a question that "
                        "is not anonymous), can give a role",
                    )
                self.role(question.gives_role, here)

    def check_options_from(self) -> None:
        """`options_from` names an earlier text question whose answers the team may see."""
        for i, step, loc in self.steps():
            for k, question in enumerate(render_questions(step)):
                ref = question.options_from
                if ref is None:
                    continue
                here = (*loc, *question_loc(step, k), "options_from")
                source = self.answers.get(ref)
                texts = [r for r, q in self.answers.items() if q.type == AnswerType.text]
                if source is None or "." not in ref:
                    self.error(
                        here,
                        f"{self.named(i)}: '{ref}' is not a question of this flow"
                        + (suggestion(ref, texts) or "; write 'step.question'"),
                    )
                    continue
                name = f"{self.named(i)}, question '{question.id}'"
                if source.type != AnswerType.text:
                    self.error(
                        here,
                        f"{name}: options come from the answers to a text question, "
                        f"and '{ref}' is {source.type.value}",
                    )
                elif source.visibility != Visibility.team:
                    self.error(
                        here,
                        f"{name}: the answers to '{ref}' are {source.visibility.value}, and "
                        "as options they would be shown to whoever answers this question; "
                        "give that question 'visibility: team'",
                    )
                giver = self.index.get(ref.split(".")[0])
                if giver is not None and i not in self.reachable_from(giver):
                    self.error(
                        here,
                        f"{name}: '{ref}' is not asked before this step, so there would be "
                        "no options; ask it earlier",
                    )

    def reachable_from(self, start: int) -> set[int]:
        """The steps a run can reach after step `start`."""
        seen: set[int] = set()
        todo = [start]
        while todo:
            for target, _ in self.successors(todo.pop()):
                j = self.index.get(target) if target is not None else None
                if j is not None and j not in seen:
                    seen.add(j)
                    todo.append(j)
        return seen

    def role_givers(self) -> dict[str, list[int]]:
        """Role -> the steps whose people question gives it for the run; also fills
        `self.after` (the steps each of those can lead to)."""
        givers: dict[str, list[int]] = {}
        for i, step, _ in self.steps():
            for question in render_questions(step):
                if question.gives_role is not None:
                    givers.setdefault(question.gives_role, []).append(i)
        self.after = {g: self.reachable_from(g) for found in givers.values() for g in found}
        return givers

    def check_texts(self) -> None:
        languages = self.flow.languages
        for loc, text in _texts(self.flow, ()):
            if loc[:1] == ("steps",) and loc[1] in self.stand_ins:
                continue
            if isinstance(text, CatalogueRef):
                continue  # its texts are checked in the catalogue
            have = {DEFAULT_LANGUAGE} if isinstance(text, str) else set(text)
            for key in sorted(k for k in have if is_variant(k)):
                base = base_language(key)
                if base not in languages:
                    self.error(
                        loc,
                        f"'{key}' is the \"u\" form of '{base}', which is not one of the "
                        f"flow's languages ({', '.join(languages)}); write it as "
                        f"'{languages[0]}@u' or add '{base}' to languages",
                    )
                elif base not in have:
                    self.error(
                        loc,
                        f"this text has a \"u\" form '{key}' but no '{base}' text; "
                        f"add '{base}: ...' for teams that say \"je\"",
                    )
            have = {base_language(k) for k in have}
            # A regional variant (nl-BE) falls back to its language (nl) when it has no
            # text of its own, so only a missing base language is a problem.
            missing = [
                lang for lang in languages if lang not in have and lang.split("-")[0] not in have
            ]
            if not missing:
                continue
            declared = ", ".join(languages)
            if isinstance(text, str):
                self.error(
                    loc,
                    f"this text is only in Dutch, but the flow's languages are "
                    f"{declared}; write it per language: "
                    "{" + ", ".join(f"{lang}: ..." for lang in languages) + "}",
                )
            else:
                self.error(
                    loc,
                    f"this text has no {words(missing)} version, but the flow's "
                    f"languages are {declared}; add "
                    + ", ".join(f"'{lang}: ...'" for lang in missing),
                )

    # ----------------------------------------------------------------- per step

    def check_step(self, i: int, step: Step, loc: Loc) -> None:
        kind = step_kind_of(step) or ""
        body: Loc = (*loc, kind)
        name = self.named(i)
        if isinstance(step, AskStep):
            self.check_question(step.ask.question, (*body, "question"), name)
            if step.ask.timeout is not None:
                self.duration(step.ask.timeout, (*body, "timeout"), f"{name}: timeout")
        elif isinstance(step, CollectStep):
            self.check_collect(step, body, name)
        elif isinstance(step, PhaseStep):
            self.check_phase(step, body, name)
        elif isinstance(step, RoundStep):
            self.check_question(step.round.question, (*body, "question"), name)
            if step.round.turn is not None:
                self.duration(step.round.turn, (*body, "turn"), f"{name}: turn")
        elif isinstance(step, BranchStep):
            self.check_branch(i, step, body, name)
        elif isinstance(step, StartFlowStep):
            target = step.start_flow
            flow_id = target.flow if isinstance(target, StartFlowBody) else target
            where = (*body, "flow") if isinstance(target, StartFlowBody) else body
            if not FLOW_ID.match(flow_id):
                self.error(
                    where,
                    f"{name}: '{flow_id}' is not a flow id; flow ids are "
                    "lower-case words joined by '-'",
                )
        elif isinstance(step, WaitStep):
            self.check_wait(step, body, name)
        elif isinstance(step, SummaryStep):
            self.check_template(step, body, name)

    def check_collect(self, step: CollectStep, body: Loc, name: str) -> None:
        collect = step.collect
        self.check_questions(collect.questions, (*body, "questions"), name)
        try:
            deadline: Duration | Offset | None = parse_deadline(collect.deadline)
        except TimingError as error:
            self.error((*body, "deadline"), f"{name}: deadline: {error}")
            deadline = None
        if isinstance(deadline, Offset):
            self.event_offset(deadline, (*body, "deadline"), f"{name}: the deadline")
            self.deadline_after_start(deadline, (*body, "deadline"), name)
        elif isinstance(deadline, Duration) and deadline.amount <= 0:
            self.warning(
                (*body, "deadline"),
                f"{name}: a deadline of {collect.deadline} closes the collection as it opens, "
                "before anyone had the chance to answer; give people time, e.g. 1d",
            )
        for k, text in enumerate(collect.reminders):
            reminder = self.duration(text, (*body, "reminders", k), f"{name}: reminder")
            if (
                isinstance(deadline, Duration)
                and reminder is not None
                and (reminder.approx() >= deadline.approx())
            ):
                self.warning(
                    (*body, "reminders", k),
                    f"{name}: the reminder {text} before the deadline is not shorter "
                    f"than the deadline itself ({collect.deadline} after the step "
                    "starts), so it would come at once; use a shorter time",
                )

    def check_phase(self, step: PhaseStep, body: Loc, name: str) -> None:
        phase = step.phase
        length = self.duration(phase.duration, (*body, "duration"), f"{name}: duration")
        if length is not None and length.amount <= 0:
            self.error((*body, "duration"), f"{name}: a phase must last longer than 0")
            length = None
        explicit = "warnings" in phase.model_fields_set
        for k, text in enumerate(phase.warnings):
            where: Loc = (*body, "warnings", k) if explicit else (*body, "duration")
            warning = self.duration(text, where, f"{name}: warning")
            if length is None or warning is None or warning.approx() < length.approx():
                continue
            if explicit:
                self.error(
                    where,
                    f"{name}: the warning {text} before the end is not "
                    f"shorter than the phase ({phase.duration}), so it would "
                    "ring as the phase starts; use a shorter time",
                )
            else:
                self.error(
                    where,
                    f"{name}: this {phase.duration} phase is not longer than "
                    f"its default warning of {text} before the end; set "
                    "shorter warnings, e.g. 'warnings: [1m]'",
                )
        self.check_questions(phase.questions, (*body, "questions"), name)
        if phase.end_when_answered and not any(not q.optional for q in phase.questions):
            self.warning(
                (*body, "end_when_answered"),
                f"{name}: 'end_when_answered' needs a required question to wait for; "
                "without one the phase would end at the first answer or never: add a "
                "required question or remove it",
                key=True,
            )

    def check_template(self, step: SummaryStep, body: Loc, name: str) -> None:
        """A summary template must parse, and use only the variables it is given (and
        their parts), in every language: checked by rendering it with an example."""
        template = step.summary.template
        if template is None or isinstance(template, CatalogueRef):
            return
        texts = {DEFAULT_LANGUAGE: template} if isinstance(template, str) else dict(template)
        for language, source in texts.items():
            loc: Loc = (
                (*body, "template")
                if isinstance(template, str)
                else (
                    *body,
                    "template",
                    language,
                )
            )
            for line, column, message in template_problems(source):
                self.error(
                    loc,
                    f"{name}: template ({language}): {message}",
                    at=self.source.text_position(loc, line, column),
                )

    def check_wait(self, step: WaitStep, body: Loc, name: str) -> None:
        wait = step.wait
        if (wait.for_ is None) == (wait.until is None):
            self.error(
                body,
                f"{name}: wait needs exactly one of 'for' (e.g. for: 2h) or "
                "'until' (e.g. until: 30m before event)",
            )
        if wait.for_ is not None:
            self.duration(wait.for_, (*body, "for"), f"{name}: for")
        if wait.until is not None:
            try:
                offset = parse_offset(wait.until)
            except TimingError as error:
                self.error((*body, "until"), f"{name}: until: {error}")
            else:
                self.event_offset(offset, (*body, "until"), f"{name}: the wait")

    def deadline_after_start(self, deadline: Offset, loc: Loc, name: str) -> None:
        """A deadline before the event must come after the flow starts for that event."""
        if deadline.anchor != "event" or deadline.direction != "before":
            return
        for trigger in self.flow.triggers:
            if not isinstance(trigger, EventTrigger) or trigger.before is None:
                continue
            try:
                start = parse_duration(trigger.before)
            except TimingError:
                continue  # reported at the trigger
            if deadline.duration.approx() >= start.approx():
                self.warning(
                    loc,
                    f"{name}: the deadline ({deadline.duration.amount} "
                    f"{deadline.duration.unit} before the event) is not after the moment "
                    f"this flow starts ({trigger.before} before the event), so the "
                    "collection closes before anyone had the chance to answer; start the "
                    "flow earlier or set a later deadline",
                )

    def event_offset(self, offset: Offset, loc: Loc, what: str) -> None:
        if offset.anchor == "event" and not self.has_event_trigger:
            self.warning(
                loc,
                f"{what} is counted from the event, but this flow has no "
                "event trigger, so a run started by hand has no event to count "
                "from; add one (e.g. '- {event: visit, before: 1d}') or use a "
                "duration such as 3d",
            )

    # ----------------------------------------------------------------- branches

    def _answer_refs(self) -> dict[str, Question]:
        """Every name a condition may use for an answer: 'step.question', or 'step' for a
        step that asks a single question."""
        refs: dict[str, Question] = {}
        for i, step in enumerate(self.flow.steps):
            if i in self.stand_ins:
                continue
            if isinstance(step, AskStep | RoundStep):
                question = step.ask.question if isinstance(step, AskStep) else (step.round.question)
                refs.setdefault(step.id, question)
                refs.setdefault(f"{step.id}.{question.id}", question)
            elif isinstance(step, CollectStep | PhaseStep):
                questions = (
                    step.collect.questions
                    if isinstance(step, CollectStep)
                    else step.phase.questions
                )
                for question in questions:
                    refs.setdefault(f"{step.id}.{question.id}", question)
        return refs

    def check_branch(self, i: int, step: BranchStep, body: Loc, name: str) -> None:
        otherwise_at: int | None = None
        for c, case in enumerate(step.branch):
            loc: Loc = (*body, c)
            if otherwise_at is not None:
                self.warning(
                    loc,
                    f"{name}: this case comes after 'otherwise' and is never "
                    "tried; move 'otherwise' to the end",
                )
            if isinstance(case, BranchOtherwise):
                if otherwise_at is None:
                    otherwise_at = c
                continue
            tests = [t for t in ("when", "all", "any") if getattr(case, t) is not None]
            if len(tests) != 1:
                found = "none" if not tests else "both " + " and ".join(tests)
                self.error(
                    loc,
                    f"{name}: a branch case needs exactly one of 'when', 'all' or "
                    f"'any' (with its 'goto'); found {found}",
                )
            if case.when is not None:
                self.check_condition(case.when, (*loc, "when"), name)
            for group in ("all", "any"):
                conditions = getattr(case, group)
                if conditions is None:
                    continue
                if not conditions:
                    self.error((*loc, group), f"{name}: '{group}' needs at least one condition")
                for k, condition in enumerate(conditions):
                    self.check_condition(condition, (*loc, group, k), name)
        if otherwise_at is None:
            following = self.successors(i)[-1][0]
            where = f"'{following}'" if following is not None else "the end of the flow"
            self.warning(
                body,
                f"{name} has no 'otherwise': when no case holds, the run goes "
                f"on to {where}; add '- otherwise: <step id>' to make that "
                "choice visible",
                key=True,
            )

    def check_condition(self, condition: Condition, loc: Loc, name: str) -> None:
        tests = [
            label
            for label, value in (
                ("equals", condition.equals),
                ("in", condition.in_),
                ("at_least", condition.at_least),
                ("at_most", condition.at_most),
                ("answered", condition.answered),
            )
            if value is not None
        ]
        if len(tests) != 1:
            found = (
                "none"
                if not tests
                else ("both " + " and ".join(tests) if len(tests) == 2 else ", ".join(tests))
            )
            self.error(
                loc,
                f"{name}: a condition needs exactly one test: equals, in, "
                f"at_least, at_most or answered; found {found}"
                + ("; combine tests with 'all: [...]'" if len(tests) > 1 else ""),
            )
        ref = condition.answer
        question = self.answers.get(ref)
        if question is None:
            if ref.split(".")[0] in self.stand_in_ids:
                return  # that step is broken and already reported
            example = next(iter(self.answers), "stap.vraag")
            hint = suggestion(ref, self.answers) or (f"; write 'step.question', e.g. '{example}'")
            self.error((*loc, "answer"), f"{name}: '{ref}' is not a question of this flow{hint}")
            return
        self.check_values(condition, question, loc, name)

    def check_values(self, condition: Condition, q: Question, loc: Loc, name: str) -> None:
        """The values a condition compares with must be answers its question can have."""
        values: list[tuple[Loc, object]] = []
        if condition.equals is not None:
            values.append(((*loc, "equals"), condition.equals))
        for k, candidate in enumerate(condition.in_ or ()):
            values.append(((*loc, "in", k), candidate))
        if q.options_from is not None:
            pass  # its options are this run's answers: there are no ids to compare with
        elif q.type in (AnswerType.choice, AnswerType.multi):
            options = [o.id for o in q.options]
            for where, value in values:
                if str(value) not in options:
                    self.error(
                        where,
                        f"{name}: '{value}' is not an option of question "
                        f"'{q.id}'{suggestion(value, options)}; the options are "
                        f"{', '.join(options)}",
                    )
        elif q.type == AnswerType.yesno:
            for where, value in values:
                if not isinstance(value, bool) and str(value).lower() not in _YES_NO_WORDS:
                    self.error(
                        where,
                        f"{name}: question '{q.id}' is answered yes or no, so "
                        f"'{value}' never matches; write yes or no",
                    )
        for test in ("at_least", "at_most"):
            if getattr(condition, test) is not None and q.type not in (
                AnswerType.scale,
                AnswerType.number,
            ):
                self.error(
                    (*loc, test),
                    f"{name}: {test} only works for scale and number "
                    f"questions, and '{q.id}' is {q.type.value}",
                )
