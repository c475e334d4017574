"""The steps that ask nobody anything: say, summary, branch, start_flow and wait."""

from __future__ import annotations

from bot.core.answers import holds
from bot.core.draft import THREAD, WAITING, Draft, Waiting, after
from bot.core.effects import Destination, MessageKind, StartFlow, TimerKind
from bot.core.model import (
    BranchCase,
    BranchOtherwise,
    BranchStep,
    Condition,
    SayStep,
    StartFlowStep,
    SummaryStep,
    WaitStep,
)
from bot.core.render import audience, render_summary, step_questions, text


class SimpleSteps(Draft):
    """The draft's part for the steps without forms or a clock of their own."""

    __slots__ = ()

    # ------------------------------------------------------------------ say, summary

    def destinations(
        self, to: str, key: str, excluded: tuple[str, ...] = ()
    ) -> list[tuple[str, Destination, str]]:
        """(message key, destination, audience name) for a message to `to`, leaving out
        the holders of `excluded` (a message to a role or the starter)."""
        if to == "thread":
            return [(key, THREAD, to)]
        if to == "channel":
            return [(key, Destination.channel(), to)]
        seen_as = to
        starter = self.member(self.run.started_by) if self.run.started_by else None
        if to == "starter" and (starter is None or starter.left):
            # `people` gives the chair instead; they read it as the chair would.
            seen_as = self.flow.permissions.bell[0] if self.flow.permissions.bell else "member"
        return [
            (f"{key}:{m.id}", Destination.person(m.id), seen_as) for m in self.people(to, excluded)
        ]

    def say(self, step: SayStep) -> None:
        body = text(step.say.text, self.language)
        for key, to, _ in self.destinations(step.say.to, f"say:{self.tag}", step.say.except_):
            self.send(key, to, MessageKind.say, body)

    def summary(self, step: SummaryStep) -> None:
        run = self.snapshot()
        for key, to, seen_as in self.destinations(step.summary.to, f"summary:{self.tag}"):
            body = render_summary(self.flow, run, step.summary, audience(self.flow, run, seen_as))
            self.send(key, to, MessageKind.summary, body)

    # ------------------------------------------------------------------ branch, chain, wait

    def branch(self, step: BranchStep) -> str | None:
        fallback: str | None = None
        for case in step.branch:
            if isinstance(case, BranchOtherwise):
                fallback = fallback or case.otherwise
            elif self.case_holds(case):
                return case.goto
        return fallback if fallback is not None else self.index.following[step.id]

    def case_holds(self, case: BranchCase) -> bool:
        parts: list[bool] = []
        if case.when is not None:
            parts.append(self.condition_holds(case.when))
        if case.all is not None:
            parts.append(all(self.condition_holds(c) for c in case.all))
        if case.any is not None:
            parts.append(any(self.condition_holds(c) for c in case.any))
        return all(parts)

    def condition_holds(self, condition: Condition) -> bool:
        step_id, _, question_id = condition.answer.partition(".")
        if not question_id:
            step = self.index.steps.get(step_id)
            questions = step_questions(step) if step is not None else ()
            if len(questions) != 1:
                return False
            question_id = questions[0].id
        answers = self.answers.get(step_id, {}).get(question_id, {})
        return holds(condition, answers, self.asked.get(step_id, ()))

    def start_flow(self, step: StartFlowStep) -> None:
        body = step.start_flow
        name = body if isinstance(body, str) else body.flow
        same = isinstance(body, str) or body.participants == "same"
        people = tuple(m.id for m in self.holders(self.flow.participants)) if same else None
        self.effects.append(StartFlow(name, people))

    def wait(self, step: WaitStep) -> str | Waiting | None:
        body = step.wait
        if body.for_ is not None:
            due = after(self.now, body.for_, self.tz)
        elif body.until is not None:
            due = self.moment(body.until, "wait")
        else:
            due = self.now
        if due <= self.now:
            return self.index.following[step.id]
        self.schedule(f"{self.tag}:wait", TimerKind.wait, due)
        return WAITING
