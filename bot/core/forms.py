"""The steps that ask: forms for ask and collect (and a phase's or round's questions), and
the answers people give on them.

An answer is first checked (`check_answer`: a refusal or a stale click changes nothing),
then taken by the draft (`FormSteps.take`), which moves the run on as the step says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final

from bot.core import i18n
from bot.core.answers import Accepted, read_answer
from bot.core.draft import (
    EMPTY,
    WAITING,
    BlankForm,
    Draft,
    Outcome,
    Waiting,
    after,
    duration,
    flow_index,
    person,
    reply,
)
from bot.core.effects import Destination, Edit, Message, MessageKind, Reply, Send, TimerKind
from bot.core.events import Answered, AnswerKind
from bot.core.model import (
    AskStep,
    CollectStep,
    Flow,
    PhaseStep,
    Question,
    RoundStep,
    Step,
)
from bot.core.render import (
    form_lines,
    question_view,
    step_excluded,
    step_questions,
    step_roles,
    text,
    when,
    with_answer,
    with_options_from,
    with_people,
)
from bot.core.run import Answer, MemberState, Run, evolve, given_answer
from bot.core.timing import subtract

# Looked up once: on Python 3.11 reading `SomeEnum.member` goes through the enum
# metaclass's `__getattr__` and costs as much as six plain lookups.
_ANSWER_KINDS: Final = {kind.value: kind for kind in AnswerKind}  # by member or by value
_FORM: Final = MessageKind.form


@dataclass(frozen=True, slots=True)
class Taken:
    """An answer the engine takes: who gave which answer to which question of which step."""

    step: Step
    member: MemberState
    question: Question
    answer: Answer


@dataclass(frozen=True, slots=True)
class Finished:
    """A member said "klaar": their part of a collection is done, optional questions left."""

    step: CollectStep
    member: MemberState


_DONE: Final = AnswerKind.done


def check_answer(
    flow: Flow, run: Run, event: Answered, now: datetime
) -> Outcome | Taken | Finished:
    """The answer to take, or the Outcome (the run unchanged) when there is none: a reply
    to a refused or invalid answer, or nothing at all for the same answer again."""
    member = run.member(event.member)
    if member is None or member.left:
        return reply(run, event.member, "reply.not_member", title=text(flow.title, run.language))
    index = flow_index(flow)
    # Forms carry the step's tag (`QuestionView.step`): `vraag~2` on a second visit, so a
    # click on the form of an earlier visit is recognised as stale. A plain step id
    # (typed, or from a first visit) means the current visit.
    step_id = event.step.partition("~")[0]
    step = index.steps.get(step_id)
    state = run.state
    if step is None or step_id not in run.visits:
        return reply(run, event.member, "reply.not_open")
    if step_id != run.step or state is None or (event.step != step_id and event.step != state.tag):
        # R-ING-5: the flow has moved on. A collection (or a phase's questions) closed;
        # anything else was handled.
        key = (
            "reply.closed" if isinstance(step, CollectStep | PhaseStep) else "reply.already_handled"
        )
        return reply(run, event.member, key)
    if event.kind == _DONE:
        return _check_done(flow, run, step, member)
    question = index.questions.get((step.id, event.question))
    if question is None:
        return reply(run, event.member, "reply.not_open")
    question = with_options_from(flow, question, run.answers, run.members)
    if isinstance(step, RoundStep):
        turn = state.order[state.index] if state.index < len(state.order) else None
        if member.id != turn:
            if member.id in state.order[: state.index]:
                return reply(run, member.id, "reply.already_handled")
            if member.id in state.order:
                return reply(run, member.id, "reply.not_your_turn")
            return reply(run, member.id, "reply.not_asked")
    elif member.id not in state.recipients:
        return reply(run, member.id, "reply.not_asked")
    read = read_answer(question, event.value, event.kind, run.members, run.language, run.address)
    if not isinstance(read, Accepted):
        prompt = f"{text(question.text, run.language)}\n{read.prompt}"
        return Outcome(run, (Reply(member.id, Message(MessageKind.reply, prompt)),))
    before = run.answers.get(step.id, EMPTY).get(question.id, EMPTY).get(member.id)
    if before is not None and before.value == read.value and before.kind == read.kind:
        return Outcome(run, ())  # the same answer again (a double click): nothing to do
    # Made without validation: `read_answer` gives only canonical values; the kind is
    # made an AnswerKind here, as validation would (a shell may pass it as a string).
    answer = given_answer(read.value, _ANSWER_KINDS[read.kind], now)
    return Taken(step, member, question, answer)


def _check_done(flow: Flow, run: Run, step: Step, member: MemberState) -> Outcome | Finished:
    """ "klaar" ends a member's part of a collection once its required questions are
    answered; anywhere else there is nothing to finish."""
    state = run.state
    if state is None or member.id not in state.recipients:
        return reply(run, member.id, "reply.not_asked")
    if not isinstance(step, CollectStep):
        return reply(run, member.id, "reply.done_nothing")
    stored = run.answers.get(step.id, EMPTY)
    missing = [
        str(n)
        for n, q in enumerate(step.collect.questions, 1)
        if not q.optional and member.id not in stored.get(q.id, EMPTY)
    ]
    if missing:
        numbers = i18n.join(missing, run.language)
        return reply(run, member.id, "reply.done_missing", numbers=numbers)
    if member.id in state.done:
        return Outcome(run, ())
    return Finished(step, member)


@lru_cache(maxsize=1024)
def _deadline_line(closes_at: datetime, tz: str, language: str, address: str) -> str:
    """The last line of an open collection's form, for all its forms and all their edits."""
    return i18n.t("form.deadline", language, address, when=when(closes_at, tz, language))


class FormSteps(Draft):
    """The draft's part for forms: ask, collect, and the answers given on any form."""

    __slots__ = ()

    # ------------------------------------------------------------------ answers

    def take(self, taken: Taken) -> None:
        """Store a checked answer and go on as its step says."""
        step = taken.step
        self.store(step.id, taken.question.id, taken.member.id, taken.answer)
        if isinstance(step, AskStep):
            self.go_on()
        elif isinstance(step, CollectStep):
            if self.everyone_done(step):
                self.go_on()
            else:
                self.edit_form(step, taken.member.id)
        elif isinstance(step, PhaseStep):
            if step.phase.end_when_answered and self.everyone_answered(step):
                self.end_phase_answered(step)
            else:
                self.edit_form(step, taken.member.id)
        elif isinstance(step, RoundStep):
            self.post_round_answer(step, taken.member, taken.question)
            self.next_turn(step)

    def finish_part(self, finished: Finished) -> None:
        """A member said "klaar": their part is done; the collection closes when everyone's
        part is done."""
        state = self.state
        assert state is not None
        member_id = finished.member.id
        self.state = evolve(state, {"done": (*state.done, member_id)})
        if self.everyone_done(finished.step):
            self.go_on()
        else:
            self.effects.append(Reply(member_id, Message(MessageKind.reply, self.t("reply.done"))))

    def part_done(self, step: Step, member_id: str) -> bool:
        """Is this member's part of a collection done: every question answered, or every
        required one and "klaar" said?"""
        state = self.state
        if state is not None and member_id in state.done:
            return True
        stored = self.answers.get(step.id, EMPTY)
        return all(member_id in stored.get(q.id, EMPTY) for q in step_questions(step))

    def everyone_done(self, step: Step) -> bool:
        """Is the part of everyone asked who still takes part done? Never because of
        someone else's answers: a form of optional questions stays open for the others."""
        assert self.state is not None
        for member_id in self.state.recipients:
            if not self.part_done(step, member_id):
                m = self.member(member_id)
                if m is not None and not m.left and not m.absent:
                    return False
        return True

    # ------------------------------------------------------------------ forms

    def form_message(self, step: Step, member_id: str, closed: bool = False) -> Message:
        blank = self.blank_form(step, closed)
        lines = blank.lines
        state = self.state
        if not closed and isinstance(step, CollectStep) and state is not None and state.closes_at:
            deadline = _deadline_line(state.closes_at, self.tz, self.language, self.address)
            lines = (*lines, deadline)
        views = blank.views
        if blank.people:  # the team's names, numbered, differ from run to run
            views = tuple(
                with_people(v, self.members, self.language) if v.type == "people" else v
                for v in views
            )
        stored = self.answers.get(step.id)
        if stored:
            shown = []
            for view in views:
                answer = stored.get(view.id, EMPTY).get(member_id)
                shown.append(view if answer is None else with_answer(view, answer, self.language))
            views = tuple(shown)
        finish = isinstance(step, CollectStep) and blank.optional
        return Message(_FORM, "\n".join(lines), questions=views, closed=closed, finish=finish)

    def blank_form(self, step: Step, closed: bool) -> BlankForm:
        """The form of the current step before anyone answered, drawn once per flow."""
        if any(q.options_from for q in step_questions(step)):
            # Its options are this run's answers: drawn for this run, never shared.
            return self.draw_blank_form(step, closed)
        key = (self.tag, self.language, self.address, closed)
        forms = self.index.forms
        blank = forms.get(key)
        if blank is None:
            if len(forms) >= 4096:  # a flow that loops through its steps very often
                forms.clear()
            blank = forms[key] = self.draw_blank_form(step, closed)
        return blank

    def draw_blank_form(self, step: Step, closed: bool) -> BlankForm:
        questions = tuple(
            with_options_from(self.flow, q, self.answers, self.members)
            for q in step_questions(step)
        )
        lead = None
        if isinstance(step, PhaseStep):
            lead = text(step.phase.title, self.language)
        elif isinstance(step, RoundStep):
            lead = self.t("form.your_turn")
        lines = form_lines(
            questions,
            self.language,
            self.address,
            intro=step.collect.intro if isinstance(step, CollectStep) else None,
            lead=lead,
            closed=closed,
        )
        views = tuple(question_view(self.tag, q, self.language) for q in questions)
        people = any(v.type == "people" for v in views)
        optional = any(v.optional for v in views)
        return BlankForm(tuple(lines), views, people, optional)

    def send_form(self, step: Step, member_id: str, form: Message | None = None) -> None:
        """Send `member_id` their form (`form`, when it is already drawn)."""
        if form is None:
            form = self.form_message(step, member_id)
        self.effects.append(Send(f"form:{self.tag}:{member_id}", person(member_id), form))

    def edit_form(self, step: Step, member_id: str, closed: bool = False) -> None:
        self.effects.append(
            Edit(f"form:{self.tag}:{member_id}", self.form_message(step, member_id, closed=closed))
        )

    def open_forms(self, step: Step, recipients: list[MemberState]) -> None:
        assert self.state is not None
        ids = tuple(m.id for m in recipients)
        self.state = evolve(self.state, {"recipients": ids})
        self.asked = {**self.asked, step.id: ids}
        # Nobody has answered yet, so everyone gets the same form: it is drawn once.
        form = self.form_message(step, ids[0]) if ids and not self.answers.get(step.id) else None
        for member_id in ids:
            self.send_form(step, member_id, form)

    def welcome(self, member: MemberState) -> None:
        """Someone joined or came back: if the current step is collecting answers from
        people like them, they get their form too."""
        step = self.index.steps.get(self.step) if self.step is not None else None
        state = self.state
        if state is None or member.absent or member.left or member.id in state.recipients:
            return
        if not isinstance(step, CollectStep | PhaseStep) or not step_questions(step):
            return
        asked = self.holders(step_roles(self.flow, step), step_excluded(step))
        if member.id not in {m.id for m in asked}:
            return
        ids = (*state.recipients, member.id)
        self.state = evolve(state, {"recipients": ids})
        self.asked = {**self.asked, step.id: ids}
        self.send_form(step, member.id)

    def excuse(self, member: MemberState) -> None:
        """Someone left or is absent: they no longer hold up a collection or a round."""
        step = self.index.steps.get(self.step) if self.step is not None else None
        state = self.state
        if state is None:
            return
        if isinstance(step, CollectStep) and member.id in state.recipients:
            if self.everyone_done(step):
                self.go_on()
        elif (
            isinstance(step, RoundStep)
            and state.index < len(state.order)
            and state.order[state.index] == member.id
        ):
            self.next_turn(step)

    # ------------------------------------------------------------------ ask

    def ask(self, step: AskStep) -> str | Waiting | None:
        people = [m for m in self.people(step.ask.to, step.ask.except_) if not m.absent]
        if not people:
            self.note(f"{step.id}: nobody to ask")
            self.asked = {**self.asked, step.id: ()}
            return self.index.following[step.id]
        self.open_forms(step, people)
        if step.ask.timeout is not None:
            self.schedule(
                f"{self.tag}:timeout",
                TimerKind.timeout,
                after(self.now, step.ask.timeout, self.tz),
            )
        return WAITING

    # ------------------------------------------------------------------ collect

    def collect(self, step: CollectStep) -> str | Waiting | None:
        assert self.state is not None
        body = step.collect
        people = [
            m for m in self.holders(body.to or self.flow.participants, body.except_) if not m.absent
        ]
        closes_at = self.moment(body.deadline, "deadline")
        self.state = evolve(self.state, {"closes_at": closes_at})
        if not people or closes_at <= self.now:  # nobody to ask, or no time left at all
            self.asked = {**self.asked, step.id: ()}
            return self.index.following[step.id]
        self.open_forms(step, people)
        self.schedule(f"{self.tag}:deadline", TimerKind.deadline, closes_at)
        for i, before in enumerate(body.reminders):
            due = subtract(closes_at, duration(before), self.tz)
            if due > self.now:  # a reminder whose moment has passed is not sent at all
                self.schedule(f"{self.tag}:remind:{i}", TimerKind.reminder, due)
        return WAITING

    def remind(self, step: CollectStep, timer_id: str, late: bool) -> None:
        """A reminder goes only to those who have not answered every required question."""
        state = self.state
        assert state is not None and state.closes_at is not None
        body = self.t("reminder", when=when(state.closes_at, self.tz, self.language))
        for member_id in state.recipients:
            m = self.member(member_id)
            if m is None or m.left or m.absent or self.answered_all(step, member_id):
                continue
            self.send(
                f"remind:{timer_id}:{member_id}",
                Destination.person(member_id),
                MessageKind.reminder,
                body,
                late=late,
            )
