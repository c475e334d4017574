"""Rounds: one person at a time answers the round's question, in turn, with an optional
time per turn; team-visible answers are shown as they come (anonymous ones at the end)."""

from __future__ import annotations

from bot.core.draft import THREAD, WAITING, Draft, Waiting, after
from bot.core.effects import MessageKind, TimerKind
from bot.core.model import Question, RoundStep, Visibility
from bot.core.render import display_value, text
from bot.core.run import MemberState, evolve


class RoundSteps(Draft):
    """The draft's part for rounds."""

    __slots__ = ()

    def round(self, step: RoundStep) -> str | Waiting | None:
        assert self.state is not None
        order = tuple(
            m.id
            for m in self.holders(step.round.to or self.flow.participants, step.round.except_)
            if not m.absent
        )
        self.asked = {**self.asked, step.id: order}
        if not order:
            return self.index.following[step.id]
        self.state = evolve(self.state, {"order": order, "index": 0})
        self.give_turn(step)
        return WAITING

    def give_turn(self, step: RoundStep) -> None:
        state = self.state
        assert state is not None
        self.send_form(step, state.order[state.index])
        if step.round.turn is not None:
            self.schedule(
                f"{self.tag}:turn:{state.index}",
                TimerKind.turn,
                after(self.now, step.round.turn, self.tz),
            )

    def next_turn(self, step: RoundStep) -> None:
        state = self.state
        assert state is not None
        if state.index < len(state.order):
            self.edit_form(step, state.order[state.index], closed=True)
        self.cancel_timers()
        index = state.index + 1
        while index < len(state.order):
            m = self.member(state.order[index])
            if m is not None and not m.left and not m.absent:
                break
            index += 1
        self.state = evolve(state, {"index": index})
        if index < len(state.order):
            self.give_turn(step)
            return
        self.post_anonymous_round(step)
        self.go_on()

    def post_round_answer(self, step: RoundStep, member: MemberState, question: Question) -> None:
        """A team-visible answer goes to the thread with its name. Anonymous answers wait
        for the end of the round, where they are posted together, sorted by value: in
        turn order they would give away who said what."""
        if question.visibility != Visibility.team or question.anonymous:
            return
        answer = self.answers[step.id][question.id][member.id]
        value = display_value(question, answer, self.members, self.language)
        self.send(
            f"round:{self.tag}:{member.id}",
            THREAD,
            MessageKind.say,
            f"{member.name}: {value}",
        )

    def post_anonymous_round(self, step: RoundStep) -> None:
        question = step.round.question
        if question.visibility != Visibility.team or not question.anonymous:
            return
        stored = self.answers.get(step.id, {}).get(question.id, {})
        if not stored:
            return
        values = sorted(
            display_value(question, a, self.members, self.language) for a in stored.values()
        )
        heading = self.t("round.anonymous", question=text(question.text, self.language))
        self.send(
            f"round:{self.tag}",
            THREAD,
            MessageKind.say,
            "\n".join([heading, *(f"• {v}" for v in values)]),
        )
